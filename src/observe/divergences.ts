// What a person reads: per-route counts and top fields, and bounded rings of
// recent divergence samples per route and per field, already redacted when stored.
import type { Difference } from '../compare/index.js';
import type { Decision, DropDecision, ShadowErrorReason, SkipReason } from '../errors.js';
import { WindowedCounts, type Result } from './counts.js';
import { MAX_FIELDS_PER_ROUTE } from './metrics.js';

export interface DivergenceSample {
  readonly id: string;
  readonly time: string;
  /** The service umbra runs beside ('' when not configured) and the umbra instance that saw it. */
  readonly service: string;
  readonly instance: string;
  readonly route: string;
  readonly method: string;
  readonly path: string;
  /** For a gRPC call also `grpc` (its grpc-status, null when none was sent) and `grpcCode` (the status's name). */
  readonly live: { readonly status: number; readonly ms: number; readonly grpc?: number | null; readonly grpcCode?: string };
  readonly dark: { readonly status: number; readonly ms: number; readonly grpc?: number | null; readonly grpcCode?: string };
  readonly differences: readonly Difference[];
  /** The request had side effects (a mirrored write: not GET, HEAD or OPTIONS). */
  readonly write: boolean;
  /** A ready-to-run command replaying the request (a write against dark only), secrets stripped. */
  readonly replay: string;
}

/** One route as /api/routes shows it (the mirror's view, a replay's, a store's summary). */
export interface RouteView {
  name: string;
  sample: number;
  mirrored: number;
  compared: number;
  matches: number;
  mismatches: number;
  noise: number;
  skipped: number;
  /** Skipped comparisons by reason (only reasons seen). */
  skippedBy: Partial<Record<SkipReason, number>>;
  errors: number;
  /** Dark failures by reason (only reasons seen). */
  errorsBy: Partial<Record<ShadowErrorReason, number>>;
  dropped: Record<DropDecision, number>;
  topFields: { field: string; count: number }[];
  /** Fields the route has learned as noisy (docs/compare.md#noise): differences there are noise, not mismatches. */
  noisy: string[];
  /** The mirror's own routes (not the fleet's others): who answers for the dark launch ('' when unset) ... */
  owner?: string;
  /** ... the date it should be released or removed by (YYYY-MM-DD), null when unset, and whether that day has come. */
  expires?: string | null;
  expired?: boolean;
  /** This route's mirroring is paused (its ramp's gate failed, or a person paused it). */
  paused?: boolean;
  /** Who paused it: `ramp` (its gate failed) or the admin caller's address; null while it runs. */
  pausedBy?: string | null;
  /** Its automatic release dial (mirror/ramp.ts RampStatus), null when it has none. */
  ramp?: unknown;
  /** Its release verdict over its gate window. */
  verdict?: 'pass' | 'fail' | 'inconclusive';
}

/** A route's counts (since start, and minute by minute for `since=` windows). */
export class RouteStats {
  readonly counts: WindowedCounts;

  constructor(now?: () => number) {
    this.counts = new WindowedCounts(MAX_FIELDS_PER_ROUTE, now);
  }

  get mirrored(): number {
    return this.counts.total.mirrored;
  }

  get compared(): number {
    return this.counts.total.compared;
  }

  get mismatches(): number {
    return this.counts.total.mismatches;
  }

  get errors(): number {
    return this.counts.total.errors;
  }

  decided(decision: Decision): void {
    this.counts.total.decided(decision);
    this.counts.minute().decided(decision);
  }

  /** A dark request failed. */
  error(reason: ShadowErrorReason): void {
    this.counts.total.error(reason);
    this.counts.minute().error(reason);
  }

  skip(reason: SkipReason): void {
    this.counts.total.skip(reason);
    this.counts.minute().skip(reason);
  }

  result(r: Result): void {
    this.counts.total.result(r);
    this.counts.minute().result(r);
  }

  /** Both sides answered a mirrored request (for the release verdict's latency and error rate). */
  answered(liveMs: number, darkMs: number, serverError: boolean): void {
    this.counts.total.answered(liveMs, darkMs, serverError);
    this.counts.minute().answered(liveMs, darkMs, serverError);
  }

  /** Count one mismatching field; past the cap, fields fold into `_other` as in the metric. */
  countField(field: string): void {
    this.counts.total.field(field);
    this.counts.minute().field(field);
  }

  topFields(n = 10): { field: string; count: number }[] {
    return this.counts.total.topFields(n);
  }

  /** The admin API's view: since start, or over the minutes from `since` (ms since the epoch). */
  view(name: string, sample: number, noisy: string[], since: number | null = null): RouteView {
    const c = since === null ? this.counts.total : this.counts.since(since);
    return {
      name,
      sample,
      mirrored: c.mirrored,
      compared: c.compared,
      matches: c.matches,
      mismatches: c.mismatches,
      noise: c.noise,
      skipped: c.skipped,
      skippedBy: { ...c.skippedBy },
      errors: c.errors,
      errorsBy: { ...c.errorsBy },
      dropped: { ...c.dropped },
      topFields: c.topFields(),
      noisy,
    };
  }
}

/** Newest samples kept per (route, field), beyond the route's own ring. */
export const SAMPLES_PER_FIELD = 3;

/** One route's samples: its newest ones, and each field's newest ones. */
class RouteSamples {
  /** The route's newest samples, newest last. */
  readonly recent: DivergenceSample[] = [];
  /** Per field, its newest SAMPLES_PER_FIELD samples, newest last; map order = least recently diverged first. */
  readonly byField = new Map<string, DivergenceSample[]>();

  add(sample: DivergenceSample, perRoute: number): void {
    this.recent.push(sample);
    if (this.recent.length > perRoute) this.recent.shift();
    for (const field of new Set(sample.differences.map((d) => d.field))) {
      let ring = this.byField.get(field);
      if (ring === undefined) {
        // As many fields as the metric keeps a route; the one that diverged longest ago makes room.
        if (this.byField.size >= MAX_FIELDS_PER_ROUTE) this.byField.delete(this.byField.keys().next().value as string);
        ring = [];
      } else {
        this.byField.delete(field);
      }
      this.byField.set(field, ring);
      ring.push(sample);
      if (ring.length > SAMPLES_PER_FIELD) ring.shift();
    }
  }

  /** Every sample kept, once (unordered). */
  kept(): Set<DivergenceSample> {
    const all = new Set(this.recent);
    for (const ring of this.byField.values()) for (const s of ring) all.add(s);
    return all;
  }
}

/**
 * Recent divergence samples per route and per field, so a rare field keeps its
 * examples however often another field diverges: each route keeps its newest
 * `perRoute` samples (limits.samplesPerRoute) and, for each field that diverged
 * (at most MAX_FIELDS_PER_ROUTE a route), that field's newest SAMPLES_PER_FIELD.
 * A sample is held once, however many of these keep it: at most
 * perRoute + MAX_FIELDS_PER_ROUTE × SAMPLES_PER_FIELD samples a route.
 */
export class DivergenceStore {
  private readonly routes = new Map<string, RouteSamples>();
  private seq = 0;
  /** Also handed every sample added (the fleet store's queue, when store.url is set). */
  sink: ((sample: DivergenceSample) => void) | null = null;

  constructor(private perRoute: number) {}

  /** Samples kept per route besides the per-field ones (limits.samplesPerRoute; a reload may change it, the newest are kept). */
  get capacity(): number {
    return this.perRoute;
  }

  set capacity(n: number) {
    this.perRoute = n;
    for (const r of this.routes.values()) if (r.recent.length > n) r.recent.splice(0, r.recent.length - n);
  }

  nextId(): string {
    this.seq++;
    return `${Date.now().toString(36)}-${this.seq.toString(36)}`;
  }

  add(sample: DivergenceSample): void {
    let r = this.routes.get(sample.route);
    if (r === undefined) {
      r = new RouteSamples();
      this.routes.set(sample.route, r);
    }
    r.add(sample, this.perRoute);
    this.sink?.(sample);
  }

  /** Newest first, optionally for one route, only samples with a difference at `field`, only those at or after `since` (ISO time). */
  list(route: string | null, limit: number, field: string | null = null, since: string | null = null): DivergenceSample[] {
    const routes = route === null ? [...this.routes.values()] : [this.routes.get(route)].filter((r) => r !== undefined);
    let pool: DivergenceSample[] = [];
    for (const r of routes) {
      for (const s of r.kept()) {
        if (field !== null && !s.differences.some((d) => d.field === field)) continue;
        // Both are Date#toISOString text: they compare as strings.
        if (since !== null && s.time < since) continue;
        pool.push(s);
      }
    }
    pool = pool.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : seqOf(b.id) - seqOf(a.id)));
    return pool.slice(0, limit);
  }
}

/** The sequence number in an id from nextId (several samples can share a millisecond). */
function seqOf(id: string): number {
  return parseInt(id.slice(id.lastIndexOf('-') + 1), 36);
}
