// The comparison engine on its own: wraps benchmarks/diff-bench.js (median diff time
// of 1 KB, 100 KB and 1 MB JSON pairs inline; event-loop delay inline vs the pool).
// Runs in the runner's process: there is no network and no other load at that point.

import { fmtMs } from '../lib/format.js';

export const name = 'diff';
export const title = 'Diff: the comparison engine';
export const about =
  'From `benchmarks/diff-bench.js`: JSON pairs that differ in one field and in key order. Median time of one ' +
  'comparison on the main thread (and, in the same rounds, of JSON.parse on both bodies alone: the floor of any JSON ' +
  'diff), then the event-loop delay of a process that compares 1 MB pairs every 10 ms, ' +
  'inline vs through the worker pool (1 worker).';

export async function run(ctx) {
  const { runDiffBench } = await import('../diff-bench.js');
  const r = await runDiffBench({ quick: ctx.quick });
  const at = (label) => r.inline.find((x) => x.label === label);
  /** The targets are times on the benchmark machine; the ratio to JSON.parse beside them is machine-independent. */
  const target = (label, maxMs) => {
    const x = at(label);
    return {
      name: `diff: ${label} one-field diff, median compare in ms (not a ratio)`,
      value: x?.ms ?? null,
      target: `≤ ${maxMs} ms`,
      pass: x === undefined ? undefined : x.ms <= maxMs,
      note: x === undefined ? undefined : `${(x.ms / x.parseMs).toFixed(2)}× JSON.parse of both bodies (${fmtMs(x.parseMs)}) in the same rounds`,
    };
  };
  const ratios = [
    target('100 KB', 2),
    target('1 MB', 15),
    {
      name: 'diff: event-loop delay p99, pool / inline (1 MB pairs)',
      value: r.delay.inline.p99 > 0 ? r.delay.pool.p99 / r.delay.inline.p99 : null,
    },
  ];
  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['JSON pair', 'bytes', 'runs', 'median compare (inline)', 'median JSON.parse of both', 'compare / parse'],
        rows: r.inline.map((x) => [x.label, String(x.bytes), String(x.runs), fmtMs(x.ms), fmtMs(x.parseMs), (x.ms / x.parseMs).toFixed(2)]),
      },
      {
        head: ['mode', 'event-loop delay p99', 'event-loop delay max'],
        rows: [
          ['inline', fmtMs(r.delay.inline.p99), fmtMs(r.delay.inline.max)],
          ['pool (1 worker)', fmtMs(r.delay.pool.p99), fmtMs(r.delay.pool.max)],
        ],
      },
    ],
    ratios,
    notes: [],
    bars: [],
    raw: { inline: r.inline, delay: r.delay },
  };
}
