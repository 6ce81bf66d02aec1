// What a person reads: per-route counts and top fields, and a bounded ring of
// recent divergence samples per route, already redacted when stored.
import type { Difference } from '../compare/index.js';
import { DECISIONS, type Decision, type DropDecision } from '../errors.js';
import { MAX_FIELDS_PER_ROUTE } from './metrics.js';

export interface DivergenceSample {
  readonly id: string;
  readonly time: string;
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly live: { readonly status: number; readonly ms: number };
  readonly dark: { readonly status: number; readonly ms: number };
  readonly differences: readonly Difference[];
  /** A ready-to-run command replaying the request against both backends, secrets stripped. */
  readonly replay: string;
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

/** A fixed-size ring of samples per route, newest last. */
export class DivergenceStore {
  private readonly rings = new Map<string, DivergenceSample[]>();
  private seq = 0;

  constructor(private perRoute: number) {}

  /** Samples kept per route (limits.samplesPerRoute; a reload may change it, the newest are kept). */
  get capacity(): number {
    return this.perRoute;
  }

  set capacity(n: number) {
    this.perRoute = n;
    for (const ring of this.rings.values()) if (ring.length > n) ring.splice(0, ring.length - n);
  }

  nextId(): string {
    this.seq++;
    return `${Date.now().toString(36)}-${this.seq.toString(36)}`;
  }

  add(sample: DivergenceSample): void {
    let ring = this.rings.get(sample.route);
    if (ring === undefined) {
      ring = [];
      this.rings.set(sample.route, ring);
    }
    ring.push(sample);
    if (ring.length > this.perRoute) ring.shift();
  }

  /** Newest first, optionally for one route. */
  list(route: string | null, limit: number): DivergenceSample[] {
    const pool = route === null ? [...this.rings.values()].flat() : [...(this.rings.get(route) ?? [])];
    return pool.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : b.id.localeCompare(a.id))).slice(0, limit);
  }
}
