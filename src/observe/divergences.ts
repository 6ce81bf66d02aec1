// What a person reads: per-route counts and top fields, and bounded rings of
// recent divergence samples per route and per field, already redacted when stored.
import type { Difference } from '../compare/index.js';
import { DECISIONS, type Decision, type DropDecision } from '../errors.js';
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
  readonly live: { readonly status: number; readonly ms: number };
  readonly dark: { readonly status: number; readonly ms: number };
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
  errors: number;
  dropped: Record<DropDecision, number>;
  topFields: { field: string; count: number }[];
}

export class RouteStats {
  mirrored = 0;
  /** Requests not mirrored, by decision. */
  readonly dropped = Object.fromEntries(DECISIONS.filter((d) => d !== 'mirrored').map((d) => [d, 0])) as Record<DropDecision, number>;
  /** Dark requests that failed (timeout, connect, reset, protocol, too_large). */
  errors = 0;
  compared = 0;
  matches = 0;
  mismatches = 0;
  noise = 0;
  skipped = 0;
  private readonly fields = new Map<string, number>();

  decided(decision: Decision): void {
    if (decision === 'mirrored') this.mirrored++;
    else this.dropped[decision]++;
  }

  /** Count one mismatching field; past the cap, fields fold into `_other` as in the metric. */
  countField(field: string): void {
    const key = this.fields.has(field) || this.fields.size < MAX_FIELDS_PER_ROUTE ? field : '_other';
    this.fields.set(key, (this.fields.get(key) ?? 0) + 1);
  }

  topFields(n = 10): { field: string; count: number }[] {
    return [...this.fields.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([field, count]) => ({ field, count }));
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
