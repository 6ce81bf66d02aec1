// The statistics the benchmark's goals are judged on (benchmarks/lib/format.js):
// the median, the median of paired round ratios, and a goal row's verdict.
import t from 'tap';

interface Goal {
  name: string;
  value: number | null;
  target: string;
  pass: boolean | undefined;
  note: string | undefined;
}
const { median, pairedMedian, goal } = (await import(new URL('../../benchmarks/lib/format.js', import.meta.url).href)) as {
  median: (xs: number[]) => number;
  pairedMedian: (a: object[] | undefined, b: object[] | undefined, field: string) => number;
  goal: (name: string, value: number, op: '≥' | '≤', target: number, ok: boolean) => Goal;
};

t.test('median: odd, even, none', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5, 'the mean of the middle two');
  t.ok(Number.isNaN(median([])), 'NaN for no values');
  const xs = [5, 4, 3];
  median(xs);
  t.same(xs, [5, 4, 3], 'its input is left as it was');
});

t.test('pairedMedian: round i over round i, one disturbed round moves one ratio', async (t) => {
  const a = [{ rps: 60 }, { rps: 30 }, { rps: 66 }, { rps: 54 }, { rps: 70 }];
  const b = [{ rps: 100 }, { rps: 100 }, { rps: 110 }, { rps: 90 }, { rps: 100 }];
  // Ratios 0.6, 0.3, 0.6, 0.6, 0.7: the slow second round of `a` does not decide.
  t.equal(pairedMedian(a, b, 'rps'), 0.6);
  t.equal(pairedMedian([{ rps: 5 }, { rps: 8 }], [{ rps: 10 }, { rps: 0 }], 'rps'), 0.5, 'a ratio over 0 is left out');
  t.equal(pairedMedian([{ rps: 5 }, { rps: 8 }], [{ rps: 10 }], 'rps'), 0.5, 'a round with no pair is left out');
  t.ok(Number.isNaN(pairedMedian(undefined, b, 'rps')), 'NaN without rounds');
});

t.test('goal: pass or not by its operator; no value when umbra did not mirror', async (t) => {
  t.match(goal('x', 0.61, '≥', 0.6, true), { value: 0.61, target: '≥ 0.6', pass: true });
  t.match(goal('x', 0.59, '≥', 0.6, true), { pass: false });
  t.match(goal('x', 1.3, '≤', 1.2, true), { pass: false });
  t.match(goal('x', 1.2, '≤', 1.2, true), { pass: true });
  t.match(goal('x', 0.9, '≥', 0.6, false), { value: null, pass: undefined, note: 'umbra did not mirror' });
});
