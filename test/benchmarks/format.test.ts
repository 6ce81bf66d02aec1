// The statistics the benchmark's goals are judged on (benchmarks/lib/format.js):
// the median, the median of paired round ratios and their spread, and a goal row's verdict.
import t from 'tap';

interface Goal {
  name: string;
  value: number | null;
  target: string;
  pass: boolean | undefined;
  note: string | undefined;
}
const { median, pairedMedian, pairedRatios, fmtPairedSpread, goal } = (await import(new URL('../../benchmarks/lib/format.js', import.meta.url).href)) as {
  median: (xs: number[]) => number;
  pairedMedian: (a: object[] | undefined, b: object[] | undefined, field: string) => number;
  pairedRatios: (a: object[] | undefined, b: object[] | undefined, field: string) => number[];
  fmtPairedSpread: (xs: number[]) => string;
  goal: (name: string, value: number, op: '≥' | '≤', target: number, ok: boolean, note?: string) => Goal;
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

t.test('pairedRatios and fmtPairedSpread: the ratios behind a goal, and how far they spread', async (t) => {
  const a = [{ rps: 60 }, { rps: 30 }, { rps: 66 }, { rps: 54 }, { rps: 70 }];
  const b = [{ rps: 100 }, { rps: 100 }, { rps: 110 }, { rps: 90 }, { rps: 100 }];
  t.same(pairedRatios(a, b, 'rps'), [0.6, 0.3, 0.6, 0.6, 0.7], 'in round order');
  t.same(pairedRatios([{ rps: 5 }, { rps: 8 }, { rps: 1 }], [{ rps: 10 }, { rps: 0 }], 'rps'), [0.5], 'unpaired and infinite left out');
  t.equal(fmtPairedSpread([0.6, 0.3, 0.6, 0.6, 0.7]), '5 paired rounds from 0.30 to 0.70, middle half 0.60-0.60');
  // Sorted 1..8: the quartiles fall between neighbours (1.75 and 6.25 of the 0-based index 0..7).
  t.equal(fmtPairedSpread([8, 1, 7, 2, 6, 3, 5, 4]), '8 paired rounds from 1.00 to 8.00, middle half 2.75-6.25');
  t.equal(fmtPairedSpread([0.9]), '1 paired round from 0.90 to 0.90, middle half 0.90-0.90');
  t.equal(fmtPairedSpread([]), '', 'nothing for no rounds');
});

t.test('goal: a note beside the verdict, unless umbra did not mirror', async (t) => {
  t.match(goal('x', 0.59, '≥', 0.6, true, 'spread'), { pass: false, note: 'spread' });
  t.match(goal('x', 0.59, '≥', 0.6, true, ''), { note: undefined });
  t.match(goal('x', 0.59, '≥', 0.6, false, 'spread'), { note: 'umbra did not mirror' });
});
