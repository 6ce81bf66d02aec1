// The release verdict's arithmetic (DESIGN §12): Wilson bounds against values
// published elsewhere, the latency histogram's quantiles against exact ones, and
// judge() on counts built by hand. The same judge() on real traffic is in
// test/mirror/verdicts.test.ts.
import t from 'tap';
import { Counts } from '../../src/observe/counts.js';
import { LATENCY_BUCKETS, LatencyHistogram, latencyBucket } from '../../src/observe/latency.js';
import { comparisonsToPass, darkFailures, formatWindow, judge, overall, wilson, type RouteVerdict } from '../../src/observe/verdict.js';
import type { GateConfig } from '../../src/config/types.js';

const near = (a: number, b: number, eps = 5e-5): boolean => Math.abs(a - b) <= eps;

t.test('Wilson 95% bounds against known values', (t) => {
  // Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (score interval, no continuity correction).
  const cases: [number, number, number, number][] = [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
    [29, 29, 0.8830, 1],
  ];
  for (const [k, n, lo, hi] of cases) {
    const w = wilson(k, n);
    t.ok(near(w.lower, lo), `${k}/${n}: lower ${w.lower.toFixed(4)} = ${lo}`);
    t.ok(near(w.upper, hi), `${k}/${n}: upper ${w.upper.toFixed(4)} = ${hi}`);
  }
  // No data: no knowledge.
  t.same(wilson(0, 0), { lower: 0, upper: 1 });
  // The bound with no mismatch is z²/(n+z²): the rule of three's cousin.
  const z2 = 1.959963984540054 ** 2;
  t.ok(near(wilson(0, 1000).upper, z2 / (1000 + z2), 1e-12), '0 of 1000: z²/(n+z²)');
  t.end();
});

t.test('comparisons needed to pass with no mismatch', (t) => {
  for (const rate of [0.05, 0.01, 0.001, 0.0001]) {
    const n = comparisonsToPass(rate);
    t.ok(wilson(0, n).upper <= rate, `${rate}: ${n} comparisons bring the upper bound to ${wilson(0, n).upper}`);
    t.ok(wilson(0, n - 1).upper > rate, `${rate}: ${n - 1} do not`);
  }
  t.equal(comparisonsToPass(0.001), 3838, '0.1%: 3838 (z²(1-p)/p rounded up)');
  t.equal(comparisonsToPass(1), 0);
  t.equal(comparisonsToPass(0), Infinity);
  t.end();
});

t.test('latency histogram: quantiles within 5% of the exact ones', (t) => {
  const h = new LatencyHistogram();
  const values: number[] = [];
  // A skewed mix: most answers fast, a slow tail, and sub-bucket and over-range ones.
  for (let i = 0; i < 10_000; i++) {
    const v = i % 100 === 0 ? 400 + (i % 7) * 50 : i % 10 === 0 ? 20 + (i % 13) : 1 + (i % 97) / 10;
    values.push(v);
    h.observe(v);
  }
  values.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = values[Math.ceil(q * values.length) - 1] as number;
    const got = h.quantile(q) as number;
    t.ok(Math.abs(got - exact) / exact <= 0.05, `p${q * 100}: ${got.toFixed(2)} vs exact ${exact}`);
  }
  t.equal(h.n, 10_000);
  t.equal(new LatencyHistogram().quantile(0.99), null, 'empty: null');
  t.equal(latencyBucket(0), 0, 'zero in the first bucket');
  t.equal(latencyBucket(0.1), 0);
  t.equal(latencyBucket(1e9), LATENCY_BUCKETS - 1, 'beyond two minutes: the last bucket');
  const a = new LatencyHistogram();
  a.observe(5);
  const b = new LatencyHistogram();
  b.observe(500);
  a.add(b);
  t.equal(a.n, 2);
  t.ok((a.quantile(1) as number) > 450, 'add() merges the counts');
  t.end();
});

const GATE: GateConfig = { window: 15 * 60_000, minComparisons: 100, maxMismatchRate: 0.05, maxErrorRate: 0.02, maxLatencyRatio: 1.25, latencyFloor: 25 };
const WINDOW = { ms: 15 * 60_000, since: Date.parse('2026-12-01T10:00:00Z') };

/** Counts of n mirrored exchanges, `bad` of them mismatching, with live and dark latencies. */
function counts(n: number, bad: number, liveMs: number, darkMs: number, extra: (c: Counts) => void = () => undefined): Counts {
  const c = new Counts(20);
  for (let i = 0; i < n; i++) {
    c.decided('mirrored');
    c.result(i < bad ? 'mismatch' : 'match');
    c.answered(liveMs, darkMs, false);
  }
  extra(c);
  return c;
}

t.test('judge: pass, fail and inconclusive, each with reasons in words', (t) => {
  const pass = judge('r', counts(400, 0, 10, 11), GATE, WINDOW);
  t.equal(pass.verdict, 'pass', pass.reasons.join('; '));
  t.equal(pass.comparisons, 400);
  t.ok((pass.mismatchRateUpper as number) <= 0.05);
  t.match(pass.reasons[0], /at most 0\.95% with 95% confidence, within maxMismatchRate 5%/);
  t.match(pass.reasons.join('\n'), /under latencyFloor 25 ms: latency not judged/);
  t.equal(pass.window, '15m');
  t.equal(pass.since, '2026-12-01T10:00:00.000Z');

  const fail = judge('r', counts(400, 40, 10, 11), GATE, WINDOW);
  t.equal(fail.verdict, 'fail');
  t.equal(fail.mismatchRate, 0.1);
  t.ok((fail.mismatchRateLower as number) > 0.05, 'the lower bound is above the limit');
  t.match(fail.reasons[0], /mismatch rate 10% \(40 of 400\) is above maxMismatchRate 5%: at least 7\.\d+% with 95% confidence/);

  const few = judge('r', counts(50, 0, 10, 11), GATE, WINDOW);
  t.equal(few.verdict, 'inconclusive', 'too few comparisons');
  t.match(few.reasons[0], /50 of the 100 comparisons a verdict needs \(gate\.minComparisons\) in the last 15m/);
  // Even every one of them mismatching is not enough to fail on.
  t.equal(judge('r', counts(50, 50, 10, 11), GATE, WINDOW).verdict, 'inconclusive');

  // Enough comparisons, a rate near the limit: neither bound decides.
  const close = judge('r', counts(200, 8, 10, 11), GATE, WINDOW);
  t.equal(close.verdict, 'inconclusive');
  t.match(close.reasons[0], /could still be up to .*more comparisons are needed/);

  const none = judge('r', new Counts(20), GATE, WINDOW);
  t.equal(none.verdict, 'inconclusive');
  t.equal(none.mismatchRate, null);
  t.equal(none.errorRate, null);
  t.same(none.latency.live, { p50: null, p99: null });
  t.match(none.reasons[0], /nothing was mirrored in the last 15m/);
  t.end();
});

t.test('judge: latency over the floor fails; a slower dark under the floor passes', (t) => {
  const slow = judge('r', counts(400, 0, 40, 120), GATE, WINDOW);
  t.equal(slow.verdict, 'fail');
  t.match(slow.reasons[0], /dark p99 1\d\d ms is 3\.\d\d× live p99 \d\d ms, above maxLatencyRatio 1\.25/);
  t.ok((slow.latency.ratio as number) > 2.5);

  const underFloor = judge('r', counts(400, 0, 2, 10), GATE, WINDOW);
  t.equal(underFloor.verdict, 'pass', 'dark is 5× slower but its p99 is under 25 ms');
  t.ok((underFloor.latency.ratio as number) > 4);

  const within = judge('r', counts(400, 0, 100, 115), GATE, WINDOW);
  t.equal(within.verdict, 'pass', '1.15× is within 1.25×');
  t.end();
});

t.test('judge: the dark error rate counts failures and 5xx where live was not, not answers over the size cap', (t) => {
  const c = counts(400, 0, 10, 11, (c) => {
    for (let i = 0; i < 12; i++) c.error('timeout');
    for (let i = 0; i < 50; i++) c.error('too_large');
    c.answered(10, 11, true);
    c.answered(10, 11, true);
  });
  t.equal(darkFailures(c), 14, '12 timeouts and 2 5xx; too_large is not a dark failure');
  const v = judge('r', c, GATE, WINDOW);
  t.equal(v.errors, 14);
  t.equal(v.errorRate, 0.035);
  t.equal(v.verdict, 'fail', '14 of 400 mirrored is 3.5%, over maxErrorRate 2%');
  t.match(v.reasons[0], /dark error rate 3\.5% \(14 of 400 mirrored: timeout 12, 5xx 2\) is above maxErrorRate 2%/);
  const fine = judge('r', counts(400, 0, 10, 11, (c) => c.error('timeout')), GATE, WINDOW);
  t.equal(fine.verdict, 'pass', '1 of 400 is within 2%');
  t.match(fine.reasons.join('\n'), /dark error rate 0\.25% \(1 of 400: timeout 1\) within maxErrorRate 2%/);
  t.end();
});

t.test('judge: a dark that errors fails on the error rate even with nothing compared', (t) => {
  const c = new Counts(20);
  for (let i = 0; i < 150; i++) {
    c.decided('mirrored');
    c.error(i % 2 === 0 ? 'connect' : 'reset');
    c.skip('dark_connect');
  }
  const v = judge('r', c, GATE, WINDOW);
  t.equal(v.verdict, 'fail');
  t.equal(v.comparisons, 0);
  t.equal(v.errors, 150);
  t.equal(v.errorRate, 1);
  t.match(v.reasons[0], /dark error rate 100% \(150 of 150 mirrored: connect 75, reset 75\) is above maxErrorRate 2%/);
  // Fewer than minComparisons mirrored: not yet.
  const early = new Counts(20);
  for (let i = 0; i < 10; i++) {
    early.decided('mirrored');
    early.error('timeout');
  }
  t.equal(judge('r', early, GATE, WINDOW).verdict, 'inconclusive');
  t.end();
});

t.test('overall: fail wins; pass needs every route that mirrored to pass', (t) => {
  const v = (verdict: RouteVerdict['verdict'], mirrored: number): RouteVerdict => ({ ...judge('r', new Counts(1), GATE, WINDOW), verdict, mirrored });
  t.equal(overall([v('pass', 10), v('fail', 10)]), 'fail');
  t.equal(overall([v('pass', 10), v('inconclusive', 0)]), 'pass', 'an idle route does not hold the others back');
  t.equal(overall([v('pass', 10), v('inconclusive', 5)]), 'inconclusive');
  t.equal(overall([v('inconclusive', 0)]), 'inconclusive', 'nothing mirrored anywhere');
  t.equal(overall([]), 'inconclusive');
  t.end();
});

t.test('formatWindow', (t) => {
  t.equal(formatWindow(15 * 60_000), '15m');
  t.equal(formatWindow(2 * 3_600_000), '2h');
  t.equal(formatWindow(90_000), '90s');
  t.equal(formatWindow(1500), '1500ms');
  t.end();
});
