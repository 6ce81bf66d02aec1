// Release verdicts (DESIGN §12): is a route's dark launch good enough to release?
// Judged over a window of minute buckets (counts.ts) against the route's gate:
// the mismatch rate by its Wilson 95% score interval, the dark error rate, and
// the dark/live p99 ratio above an absolute floor. `pass` needs enough evidence
// that every bound holds; `fail` needs enough that one does not; anything in
// between is `inconclusive`, and `reasons` says which in words.
import type { GateConfig } from '../config/types.js';
import type { Counts } from './counts.js';

export const VERDICTS = ['pass', 'fail', 'inconclusive'] as const;
export type VerdictName = (typeof VERDICTS)[number];

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/**
 * The Wilson score interval of k successes in n trials (E. B. Wilson, 1927): unlike
 * the normal approximation it stays inside [0, 1] and is honest for k = 0 or small n.
 */
export function wilson(k: number, n: number, z = Z95): { lower: number; upper: number } {
  if (n <= 0) return { lower: 0, upper: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/**
 * Comparisons needed, with no mismatch at all, before the Wilson upper bound is at
 * most `rate`: the least n with z²/(n+z²) <= rate. Each mismatch seen needs more.
 */
export function comparisonsToPass(rate: number, z = Z95): number {
  if (rate >= 1) return 0;
  if (rate <= 0) return Infinity;
  let n = Math.ceil((z * z * (1 - rate)) / rate);
  while (n > 1 && wilson(0, n - 1, z).upper <= rate) n--;
  while (wilson(0, n, z).upper > rate) n++;
  return n;
}

export interface LatencySummary {
  readonly p50: number | null;
  readonly p99: number | null;
}

export interface RouteVerdict {
  readonly route: string;
  readonly verdict: VerdictName;
  /** The window as configured or asked (`15m`), and the minute it starts at. */
  readonly window: string;
  readonly since: string;
  readonly mirrored: number;
  readonly comparisons: number;
  readonly minComparisons: number;
  readonly mismatches: number;
  readonly mismatchRate: number | null;
  readonly mismatchRateLower: number | null;
  readonly mismatchRateUpper: number | null;
  readonly maxMismatchRate: number;
  /** Dark failures: answers that failed (timeout, connect, reset, protocol) and 5xx where live was not. */
  readonly errors: number;
  readonly errorRate: number | null;
  readonly maxErrorRate: number;
  readonly latency: {
    readonly live: LatencySummary;
    readonly dark: LatencySummary;
    /** dark p99 / live p99, null without both. */
    readonly ratio: number | null;
    readonly maxRatio: number;
    /** ms */
    readonly floor: number;
  };
  readonly reasons: readonly string[];
}

const pct = (r: number): string => {
  const v = r * 100;
  return `${v === 0 ? '0' : v < 0.1 ? v.toPrecision(2) : v < 10 ? v.toFixed(2).replace(/\.?0+$/, '') : v.toFixed(1).replace(/\.0$/, '')}%`;
};
const ms = (v: number): string => (v >= 1000 ? `${Number((v / 1000).toFixed(2))} s` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const round = (v: number | null, digits: number): number | null => (v === null ? null : Number(v.toFixed(digits)));

/** A duration as the config writes it: 15m, 2h, 90s, 250ms. */
export function formatWindow(msValue: number): string {
  if (msValue % 3_600_000 === 0) return `${msValue / 3_600_000}h`;
  if (msValue % 60_000 === 0) return `${msValue / 60_000}m`;
  if (msValue % 1000 === 0) return `${msValue / 1000}s`;
  return `${msValue}ms`;
}

/** Dark failures that count against the gate: not an answer over the size cap (dark answered; umbra did not keep it). */
export function darkFailures(c: Counts): number {
  return c.errors - (c.errorsBy.too_large ?? 0) + c.serverErrors;
}

function failureWords(c: Counts): string {
  const parts = Object.entries(c.errorsBy)
    .filter(([r, n]) => r !== 'too_large' && (n ?? 0) > 0)
    .map(([r, n]) => `${r} ${n}`);
  if (c.serverErrors > 0) parts.push(`5xx ${c.serverErrors}`);
  return parts.join(', ');
}

/**
 * The verdict on a window's counts. Each bound is judged only on enough evidence
 * (gate.minComparisons comparisons, mirrored requests, or dark answers):
 *   pass: the mismatch rate's upper bound <= maxMismatchRate, the error rate <=
 *         maxErrorRate and dark p99 within maxLatencyRatio of live's (or under the floor);
 *   fail: the mismatch rate's lower bound > maxMismatchRate, or the error rate or
 *         the latency out of bounds;
 *   inconclusive: neither yet.
 */
export function judge(route: string, c: Counts, gate: GateConfig, window: { ms: number; since: number }): RouteVerdict {
  const reasons: string[] = [];
  const failures: string[] = [];
  const enough = gate.minComparisons;
  const n = c.compared;
  const k = c.mismatches;
  const bounds = n > 0 ? wilson(k, n) : null;
  let mismatchOk = false;
  if (n < enough) {
    reasons.push(`${n} of the ${enough} comparisons a verdict needs (gate.minComparisons) in the last ${formatWindow(window.ms)}`);
  } else if (bounds !== null && bounds.lower > gate.maxMismatchRate) {
    failures.push(`mismatch rate ${pct(k / n)} (${k} of ${n}) is above maxMismatchRate ${pct(gate.maxMismatchRate)}: at least ${pct(bounds.lower)} with 95% confidence`);
  } else if (bounds !== null && bounds.upper <= gate.maxMismatchRate) {
    mismatchOk = true;
    reasons.push(`mismatch rate ${pct(k / n)} (${k} of ${n}): at most ${pct(bounds.upper)} with 95% confidence, within maxMismatchRate ${pct(gate.maxMismatchRate)}`);
  } else if (bounds !== null) {
    reasons.push(
      `mismatch rate ${pct(k / n)} (${k} of ${n}) could still be up to ${pct(bounds.upper)} (95% upper bound), over maxMismatchRate ${pct(gate.maxMismatchRate)}: more comparisons are needed to tell`,
    );
  }

  const mirrored = c.mirrored;
  const errors = darkFailures(c);
  const errorRate = mirrored > 0 ? errors / mirrored : null;
  let errorsOk = false;
  if (errorRate !== null && errorRate > gate.maxErrorRate && mirrored >= enough) {
    failures.push(`dark error rate ${pct(errorRate)} (${errors} of ${mirrored} mirrored: ${failureWords(c)}) is above maxErrorRate ${pct(gate.maxErrorRate)}`);
  } else if (errorRate !== null && errorRate <= gate.maxErrorRate) {
    errorsOk = true;
    if (errors > 0) reasons.push(`dark error rate ${pct(errorRate)} (${errors} of ${mirrored}: ${failureWords(c)}) within maxErrorRate ${pct(gate.maxErrorRate)}`);
  } else if (errorRate !== null) {
    reasons.push(`dark error rate ${pct(errorRate)} (${errors} of ${mirrored}: ${failureWords(c)}) is above maxErrorRate ${pct(gate.maxErrorRate)}, on fewer than ${enough} mirrored requests`);
  }

  const live: LatencySummary = { p50: round(c.live?.quantile(0.5) ?? null, 2), p99: round(c.live?.quantile(0.99) ?? null, 2) };
  const dark: LatencySummary = { p50: round(c.dark?.quantile(0.5) ?? null, 2), p99: round(c.dark?.quantile(0.99) ?? null, 2) };
  const ratio = live.p99 !== null && dark.p99 !== null && live.p99 > 0 ? dark.p99 / live.p99 : null;
  const answered = c.dark?.n ?? 0;
  let latencyOk = false;
  if (dark.p99 === null || ratio === null) {
    // Nothing answered: the mismatch and error reasons say why.
  } else if (dark.p99 < gate.latencyFloor) {
    latencyOk = true;
    reasons.push(`dark p99 ${ms(dark.p99)} is under latencyFloor ${ms(gate.latencyFloor)}: latency not judged`);
  } else if (ratio <= gate.maxLatencyRatio) {
    latencyOk = true;
    reasons.push(`dark p99 ${ms(dark.p99)} is ${ratio.toFixed(2)}× live p99 ${ms(live.p99 as number)}, within maxLatencyRatio ${gate.maxLatencyRatio}`);
  } else if (answered >= enough) {
    failures.push(`dark p99 ${ms(dark.p99)} is ${ratio.toFixed(2)}× live p99 ${ms(live.p99 as number)}, above maxLatencyRatio ${gate.maxLatencyRatio}`);
  } else {
    reasons.push(`dark p99 ${ms(dark.p99)} is ${ratio.toFixed(2)}× live p99 ${ms(live.p99 as number)}, above maxLatencyRatio ${gate.maxLatencyRatio}, on fewer than ${enough} answers`);
  }

  const verdict: VerdictName = failures.length > 0 ? 'fail' : mismatchOk && errorsOk && latencyOk ? 'pass' : 'inconclusive';
  if (mirrored === 0) reasons.unshift(`nothing was mirrored in the last ${formatWindow(window.ms)}`);
  return {
    route,
    verdict,
    window: formatWindow(window.ms),
    since: new Date(window.since).toISOString(),
    mirrored,
    comparisons: n,
    minComparisons: enough,
    mismatches: k,
    mismatchRate: n > 0 ? round(k / n, 6) : null,
    mismatchRateLower: bounds === null ? null : round(bounds.lower, 6),
    mismatchRateUpper: bounds === null ? null : round(bounds.upper, 6),
    maxMismatchRate: gate.maxMismatchRate,
    errors,
    errorRate: round(errorRate, 6),
    maxErrorRate: gate.maxErrorRate,
    latency: { live, dark, ratio: round(ratio, 3), maxRatio: gate.maxLatencyRatio, floor: gate.latencyFloor },
    reasons: [...failures, ...reasons],
  };
}

/** All routes together: fail when one fails; pass when every route that mirrored something passes (and one did); else inconclusive. */
export function overall(verdicts: readonly RouteVerdict[]): VerdictName {
  if (verdicts.some((v) => v.verdict === 'fail')) return 'fail';
  const active = verdicts.filter((v) => v.mirrored > 0);
  if (active.length > 0 && active.every((v) => v.verdict === 'pass')) return 'pass';
  return 'inconclusive';
}
