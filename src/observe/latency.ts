// Latency histograms for the release verdicts (DESIGN §12): the dark/live p99
// ratio over a window. Log-spaced buckets (each 10% wider than the one before,
// from 0.1 ms to two minutes) keep any quantile within 5% of the true value at
// a fixed size: 148 counters per target, made only for a minute that saw an
// answer, added minute by minute for a window.

/** Upper bound (ms) of the first bucket. */
const FIRST_MS = 0.1;
/** Each bucket's upper bound is this many times the one before. */
const GROWTH = 1.1;
/** Buckets: 0.1 ms × 1.1^146 ≈ 113 s; the last one takes everything slower. */
export const LATENCY_BUCKETS = 148;
const LOG_GROWTH = Math.log(GROWTH);

/** Upper bound (ms) of bucket i. */
const upper = (i: number): number => FIRST_MS * GROWTH ** i;

export function latencyBucket(ms: number): number {
  if (!(ms > FIRST_MS)) return 0;
  const i = Math.ceil(Math.log(ms / FIRST_MS) / LOG_GROWTH - 1e-9);
  return i >= LATENCY_BUCKETS ? LATENCY_BUCKETS - 1 : i;
}

export class LatencyHistogram {
  readonly counts = new Uint32Array(LATENCY_BUCKETS);
  n = 0;

  observe(ms: number): void {
    const i = latencyBucket(ms);
    this.counts[i] = (this.counts[i] as number) + 1;
    this.n++;
  }

  add(o: LatencyHistogram): void {
    for (let i = 0; i < LATENCY_BUCKETS; i++) this.counts[i] = (this.counts[i] as number) + (o.counts[i] as number);
    this.n += o.n;
  }

  /**
   * The q-quantile (0 < q <= 1) in ms: the geometric middle of the bucket that
   * holds the ceil(q·n)-th smallest answer; null when empty.
   */
  quantile(q: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return i === 0 ? FIRST_MS : Math.sqrt(upper(i - 1) * upper(i));
    }
    /* c8 ignore next */
    return upper(LATENCY_BUCKETS - 1);
  }
}
