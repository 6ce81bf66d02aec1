// A route's counts, since start and over a sliding window. The window is a ring
// of one-minute buckets (six hours), each holding the same counts as the
// total; a bucket is made the first time its minute sees an event and reused
// when the ring comes round, so an idle route holds nothing but the ring.
// `since=` on /api/routes (and the release verdicts' window) sum the buckets
// that start at or after the window's start, to the minute.
import { DECISIONS, type Decision, type DropDecision, type ShadowErrorReason, type SkipReason } from '../errors.js';
import { LATENCY_BUCKETS, LatencyHistogram } from './latency.js';

/** One bucket's width: windows are counted to the minute. */
export const BUCKET_MS = 60_000;
/** Buckets kept: the longest window /api/routes answers for (6 h). */
export const BUCKETS = 360;
export const MAX_WINDOW_MS = BUCKET_MS * BUCKETS;
/** Distinct mismatching fields counted per bucket; more fold into `_other` (the total keeps MAX_FIELDS_PER_ROUTE). */
export const FIELDS_PER_BUCKET = 20;

export type Result = 'match' | 'noise' | 'mismatch';

const dropZeros = (): Record<DropDecision, number> =>
  Object.fromEntries(DECISIONS.filter((d) => d !== 'mirrored').map((d) => [d, 0])) as Record<DropDecision, number>;

/** The counts of a route over some span (since start, one minute, a window). */
export class Counts {
  mirrored = 0;
  /** Requests not mirrored, by decision. */
  readonly dropped = dropZeros();
  /** Dark requests that failed (timeout, connect, reset, protocol, too_large) ... */
  errors = 0;
  /** ... by reason (only reasons seen). */
  readonly errorsBy: Partial<Record<ShadowErrorReason, number>> = {};
  compared = 0;
  matches = 0;
  mismatches = 0;
  noise = 0;
  /** Mirrored exchanges not compared ... */
  skipped = 0;
  /** ... by reason (only reasons seen). */
  readonly skippedBy: Partial<Record<SkipReason, number>> = {};
  readonly fields = new Map<string, number>();
  /** Dark answers with a 5xx status where live's was not (a dark failure for the release verdict). */
  serverErrors = 0;
  /** Latency of the mirrored exchanges both sides answered (made at the first one). */
  live: LatencyHistogram | null = null;
  dark: LatencyHistogram | null = null;

  constructor(private readonly maxFields: number) {}

  /** Both sides answered a mirrored request: their times, and whether dark failed where live did not (5xx). */
  answered(liveMs: number, darkMs: number, serverError: boolean): void {
    (this.live ??= new LatencyHistogram()).observe(liveMs);
    (this.dark ??= new LatencyHistogram()).observe(darkMs);
    if (serverError) this.serverErrors++;
  }

  decided(decision: Decision): void {
    if (decision === 'mirrored') this.mirrored++;
    else this.dropped[decision]++;
  }

  error(reason: ShadowErrorReason): void {
    this.errors++;
    this.errorsBy[reason] = (this.errorsBy[reason] ?? 0) + 1;
  }

  skip(reason: SkipReason): void {
    this.skipped++;
    this.skippedBy[reason] = (this.skippedBy[reason] ?? 0) + 1;
  }

  result(r: Result): void {
    this.compared++;
    if (r === 'match') this.matches++;
    else if (r === 'noise') this.noise++;
    else this.mismatches++;
  }

  /** One mismatching field; past the cap, fields fold into `_other` (as in the metric). */
  field(name: string, n = 1): void {
    const key = this.fields.has(name) || this.fields.size < this.maxFields ? name : '_other';
    this.fields.set(key, (this.fields.get(key) ?? 0) + n);
  }

  /** Add another span's counts to these. */
  add(o: Counts): void {
    this.mirrored += o.mirrored;
    for (const d of Object.keys(o.dropped) as DropDecision[]) this.dropped[d] += o.dropped[d];
    this.errors += o.errors;
    for (const [r, n] of Object.entries(o.errorsBy) as [ShadowErrorReason, number][]) this.errorsBy[r] = (this.errorsBy[r] ?? 0) + n;
    this.compared += o.compared;
    this.matches += o.matches;
    this.mismatches += o.mismatches;
    this.noise += o.noise;
    this.skipped += o.skipped;
    for (const [r, n] of Object.entries(o.skippedBy) as [SkipReason, number][]) this.skippedBy[r] = (this.skippedBy[r] ?? 0) + n;
    for (const [f, n] of o.fields) this.field(f, n);
    this.serverErrors += o.serverErrors;
    if (o.live !== null) (this.live ??= new LatencyHistogram()).add(o.live);
    if (o.dark !== null) (this.dark ??= new LatencyHistogram()).add(o.dark);
  }

  topFields(n = 10): { field: string; count: number }[] {
    return [...this.fields.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([field, count]) => ({ field, count }));
  }
}

interface Bucket {
  /** Start of its minute (ms since the epoch). */
  start: number;
  counts: Counts;
}

/** Counts since start plus the last BUCKETS minutes, minute by minute. */
export class WindowedCounts {
  readonly total: Counts;
  private readonly ring: (Bucket | undefined)[] = new Array<Bucket | undefined>(BUCKETS);
  /** The bucket of the minute last written (most events land in the same one). */
  private last: Bucket | undefined;

  constructor(
    totalFields: number,
    private readonly now: () => number = Date.now,
  ) {
    this.total = new Counts(totalFields);
  }

  /** The current minute's counts (made, or taken back from a minute that has left the window). */
  minute(at = this.now()): Counts {
    const start = at - (at % BUCKET_MS);
    const last = this.last;
    if (last !== undefined && last.start === start) return last.counts;
    const i = Math.floor(start / BUCKET_MS) % BUCKETS;
    let b = this.ring[i];
    if (b === undefined || b.start !== start) {
      b = { start, counts: new Counts(FIELDS_PER_BUCKET) };
      this.ring[i] = b;
    }
    this.last = b;
    return b.counts;
  }

  /**
   * The counts of the minutes that start at or after `since` (ms since the
   * epoch, floored to its minute) up to now. A since older than the window
   * gives the whole window.
   */
  since(since: number, at = this.now()): Counts {
    const from = Math.max(since - (since % BUCKET_MS), at - (at % BUCKET_MS) - (BUCKETS - 1) * BUCKET_MS);
    const out = new Counts(FIELDS_PER_BUCKET * BUCKETS);
    for (const b of this.ring) if (b !== undefined && b.start >= from && b.start <= at) out.add(b.counts);
    return out;
  }

  /** Buckets changed at or after `after` (ms), oldest first: what the fleet store writes. */
  minutesSince(after: number): { start: number; counts: Counts }[] {
    const from = after - (after % BUCKET_MS);
    return this.ring.filter((b): b is Bucket => b !== undefined && b.start >= from).sort((a, b) => a.start - b.start);
  }
}

/** The plain counts of a route, in the order the API lists them. */
export const SCALAR_COUNTS = ['mirrored', 'compared', 'matches', 'mismatches', 'noise', 'skipped', 'errors'] as const;
export type ScalarCounts = Record<(typeof SCALAR_COUNTS)[number], number>;

/** Counts as the fleet store writes them (a minute's row): maps hold only what is not zero. */
export interface CountsJson extends ScalarCounts {
  dropped: Record<string, number>;
  errorsBy: Record<string, number>;
  skippedBy: Record<string, number>;
  fields: Record<string, number>;
  /** For the fleet's release verdict: dark 5xx where live was not, and the latency histograms by bucket index. */
  serverErrors?: number;
  live?: Record<string, number>;
  dark?: Record<string, number>;
}

/** A histogram as its non-zero buckets, {index: count}. */
function sparse(h: LatencyHistogram | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (h !== null) h.counts.forEach((n, i) => n > 0 && (out[i] = n));
  return out;
}

/** A histogram back from its non-zero buckets; null when it has none. */
export function fromSparse(m: Readonly<Record<string, number>> | undefined): LatencyHistogram | null {
  if (m === undefined) return null;
  let h: LatencyHistogram | null = null;
  for (const [i, n] of Object.entries(m)) {
    const index = Number(i);
    if (!Number.isInteger(index) || index < 0 || index >= LATENCY_BUCKETS || !(n > 0)) continue;
    h ??= new LatencyHistogram();
    h.counts[index] = (h.counts[index] as number) + n;
    h.n += n;
  }
  return h;
}

export function countsJson(c: Counts): CountsJson {
  const nonZero = (o: Record<string, number | undefined>): Record<string, number> => Object.fromEntries(Object.entries(o).filter((e): e is [string, number] => (e[1] ?? 0) > 0));
  return {
    mirrored: c.mirrored,
    compared: c.compared,
    matches: c.matches,
    mismatches: c.mismatches,
    noise: c.noise,
    skipped: c.skipped,
    errors: c.errors,
    dropped: nonZero(c.dropped),
    errorsBy: nonZero(c.errorsBy),
    skippedBy: nonZero(c.skippedBy),
    fields: Object.fromEntries(c.fields),
    serverErrors: c.serverErrors,
    live: sparse(c.live),
    dark: sparse(c.dark),
  };
}

/** One route's minute, for the fleet store. */
export interface RouteMinute {
  readonly route: string;
  readonly start: number;
  readonly counts: Counts;
}
