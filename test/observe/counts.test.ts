// Route counts since start and over a window of one-minute buckets, on a clock
// the test moves (plain fakes: the buckets' arithmetic; the API and the store
// read them over real sockets in test/admin/api.test.ts and store-window.test.ts).
import t from 'tap';
import { BUCKET_MS, BUCKETS, Counts, countsJson, FIELDS_PER_BUCKET, fromSparse, MAX_WINDOW_MS, WindowedCounts } from '../../src/observe/counts.js';
import { RouteStats } from '../../src/observe/divergences.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

t.test('a window sums the minutes from since (to the minute); the total keeps everything', async (t) => {
  let now = T0;
  const s = new RouteStats(() => now);
  s.decided('mirrored');
  s.result('mismatch');
  s.countField('$.a');
  now += 5 * BUCKET_MS;
  s.decided('mirrored');
  s.decided('over_rate');
  s.error('timeout');
  s.skip('dark_timeout');
  now += 5 * BUCKET_MS + 30_000;
  s.decided('mirrored');
  s.result('match');
  s.result('noise');

  const all = s.view('r', 0.5, ['$.n']);
  t.match(all, { name: 'r', sample: 0.5, mirrored: 3, compared: 3, matches: 1, noise: 1, mismatches: 1, errors: 1, skipped: 1, noisy: ['$.n'] });
  t.same(all.errorsBy, { timeout: 1 });
  t.same(all.skippedBy, { dark_timeout: 1 });
  t.equal(all.dropped.over_rate, 1);
  t.same(all.topFields, [{ field: '$.a', count: 1 }]);

  const last6 = s.view('r', 0.5, [], now - 6 * BUCKET_MS);
  t.match(last6, { mirrored: 2, compared: 2, mismatches: 0, errors: 1 }, 'the first minute is out of a 6-minute window');
  t.same(last6.topFields, [], 'and so is its field');
  t.same(last6.dropped.over_rate, 1);
  t.match(s.view('r', 0.5, [], now - 10_000), { mirrored: 1, errors: 0, matches: 1 }, 'a window inside the current minute is that minute');
  t.match(s.view('r', 0.5, [], now - 20 * BUCKET_MS), { mirrored: 3, mismatches: 1 }, 'a window before the first event has it all');
});

t.test('the ring comes round: a minute older than the window is neither summed nor kept', async (t) => {
  let now = T0;
  const w = new WindowedCounts(100, () => now);
  w.minute().decided('mirrored');
  now += BUCKETS * BUCKET_MS; // the same ring slot, one lap later
  w.minute().decided('mirrored');
  w.minute().decided('mirrored');
  t.equal(w.since(0).mirrored, 2, 'the old minute was replaced, not added to');
  t.equal(w.since(now - MAX_WINDOW_MS * 2).mirrored, 2, 'a since older than the window gives the window');
  now += (BUCKETS - 1) * BUCKET_MS;
  t.equal(w.since(0).mirrored, 2, 'the last minute of the window still counts');
  now += BUCKET_MS;
  t.equal(w.since(0).mirrored, 0, 'one minute later it has left the window');
  t.equal(w.minutesSince(0).length, 1, 'the bucket is still in the ring until reused');
});

t.test('minutesSince: the buckets from the minute of `after` on, oldest first', async (t) => {
  let now = T0 + 10_000;
  const w = new WindowedCounts(100, () => now);
  w.minute().decided('mirrored');
  const first = now;
  now += 2 * BUCKET_MS;
  w.minute().decided('paused');
  t.same(w.minutesSince(0).map((b) => b.start), [T0, T0 + 2 * BUCKET_MS]);
  t.same(w.minutesSince(first + 20_000).map((b) => b.start), [T0, T0 + 2 * BUCKET_MS], 'the minute of `after` is written again');
  t.same(w.minutesSince(now).map((b) => b.start), [T0 + 2 * BUCKET_MS]);
  t.same(
    countsJson(w.minutesSince(now)[0]!.counts),
    { mirrored: 0, compared: 0, matches: 0, mismatches: 0, noise: 0, skipped: 0, errors: 0, dropped: { paused: 1 }, errorsBy: {}, skippedBy: {}, fields: {}, serverErrors: 0, live: {}, dark: {} },
    'maps hold only what is not zero',
  );
  // The verdict's latency histograms go to the store as their non-zero buckets, and come back whole.
  w.minute().answered(2, 40, true);
  w.minute().answered(2, 45, false);
  const stored = countsJson(w.minutesSince(now)[0]!.counts);
  t.equal(stored.serverErrors, 1);
  t.equal(Object.values(stored.dark ?? {}).reduce((a, b) => a + b, 0), 2);
  t.equal(Object.keys(stored.live ?? {}).length, 1, 'one bucket for two answers of 2 ms');
  const back = fromSparse(JSON.parse(JSON.stringify(stored.dark)) as Record<string, number>);
  t.equal(back?.n, 2);
  t.equal(back?.quantile(1), w.minutesSince(now)[0]!.counts.dark?.quantile(1), 'the same p100 after the round trip');
  t.equal(fromSparse({ '-1': 3, x: 2, 5: 0 }), null, 'nonsense buckets are ignored');
  t.equal(fromSparse(undefined), null);
});

t.test('fields per bucket are capped; the rest fold into _other', async (t) => {
  const c = new Counts(FIELDS_PER_BUCKET);
  for (let i = 0; i < FIELDS_PER_BUCKET + 5; i++) c.field(`$.f${i}`);
  c.field('$.f0');
  t.equal(c.fields.size, FIELDS_PER_BUCKET + 1);
  t.equal(c.fields.get('_other'), 5);
  t.equal(c.fields.get('$.f0'), 2, 'a field already counted keeps counting');
  const sum = new Counts(1000);
  sum.add(c);
  sum.add(c);
  t.equal(sum.fields.get('$.f0'), 4, 'add() sums fields');
  t.equal(sum.fields.get('_other'), 10);
});
