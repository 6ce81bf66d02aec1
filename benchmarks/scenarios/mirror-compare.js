// The cost of mirroring and comparing inside umbra: mirroring off vs every request
// mirrored to a healthy dark backend (and, in a third run, to a secondary too) with
// the answers compared. Reports umbra's own event-loop delay p99 during the run.

import { failures, fmtCores, fmtMs, fmtPct, fmtMiB, fmtPairedSpread, fmtRatio, fmtRps, fmtSpread, goal, pairedMedian, pairedRatios, ratio } from '../lib/format.js';
import { measureRounds } from '../lib/measure.js';
import { startBackend } from '../lib/procs.js';
import { byLabel, scrapeMetrics, startUmbraProcess, sumMetric } from '../lib/umbra.js';

export const name = 'mirror-compare';
export const title = 'Mirror and compare: the cost inside umbra';
export const about =
  'umbra with mirroring off, then with `mirror: { sample: 1.0 }` to a dark backend that gives the same ~1 KB JSON ' +
  'answer (so comparisons match), then the same plus a `secondary`. 32 connections. The dark and secondary backends ' +
  'are extra processes on the same 2 cores, so part of the drop is their CPU, not umbra\'s. Event-loop delay p99 is ' +
  'prom-client\'s `nodejs_eventloop_lag_p99_seconds` read from umbra\'s /metrics; the histogram is reset by the ' +
  'scrape taken right after the warm-up, so the value covers the measured run (10 ms monitoring resolution). ' +
  'This scenario runs 4 more rounds than the others, every second one in reverse order; the goal (mirror 100 % ≥ 0.6 × off, ' +
  'req/s) is judged on the median over rounds of the paired ratio (round i of one configuration over round i of the other, ' +
  'measured within seconds of each other); the tables show each configuration\'s best round.';

const CONNECTIONS = 32;
/** Rounds beyond the suite's: the goal is a paired ratio, whose median needs a few rounds (as in dark-chaos). */
const EXTRA_ROUNDS = 4;
/** 100 % mirroring with comparison keeps at least this share of umbra's req/s with mirroring off. */
const GOAL_RPS = 0.6;

const CONFIGS = [
  ['off', () => ''],
  ['mirror 100 %', (dark) => ['dark:', `  url: ${dark.url}`, '  timeout: 2s', 'mirror:', '  sample: 1.0'].join('\n')],
  ['mirror 100 % + secondary', (dark, secondary) => ['dark:', `  url: ${dark.url}`, '  timeout: 2s', 'secondary:', `  url: ${secondary.url}`, 'mirror:', '  sample: 1.0'].join('\n')],
];

function counters(m) {
  return {
    mirrored: sumMetric(m, 'umbra_mirror_decisions_total', { decision: 'mirrored' }) ?? 0,
    decisions: byLabel(m, 'umbra_mirror_decisions_total', 'decision'),
    comparisons: byLabel(m, 'umbra_comparisons_total', 'result'),
    requests: sumMetric(m, 'umbra_requests_total') ?? 0,
  };
}

function sub(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(a)) out[k] = v - (b[k] ?? 0);
  return out;
}

function describe(d) {
  const parts = Object.entries(d)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${Math.round(v)}`);
  return parts.length > 0 ? parts.join(', ') : '0';
}

export async function run(ctx) {
  const live = await startBackend('fast');
  const dark = await startBackend('fast');
  const secondary = await startBackend('fast');
  let results;
  try {
    results = await measureRounds(
      { ...ctx, rounds: ctx.rounds + EXTRA_ROUNDS },
      CONFIGS.map(([label, yaml]) => ({
        key: label,
        start: async () => {
          const umbra = await startUmbraProcess({ liveUrl: live.url, extraYaml: yaml(dark, secondary) });
          return {
            url: `${umbra.proxyUrl}/api/items`,
            pid: umbra.pid,
            stop: () => umbra.stop(),
            // This scrape also resets prom-client's event-loop histogram.
            beforeRun: async () => counters(await scrapeMetrics(umbra.adminUrl)),
            afterRun: async (before) => {
              const m = await scrapeMetrics(umbra.adminUrl);
              const after = counters(m);
              return {
                loopLagP99Ms: (sumMetric(m, 'nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
                loopLagMaxMs: (sumMetric(m, 'nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000,
                mirrored: after.mirrored - before.mirrored,
                decisions: sub(after.decisions, before.decisions),
                comparisons: sub(after.comparisons, before.comparisons),
                requests: after.requests - before.requests,
              };
            },
          };
        },
      })),
      { connections: CONNECTIONS, alternate: true },
    );
  } finally {
    await Promise.all([live.stop(), dark.stop(), secondary.stop()]);
  }
  const rows = CONFIGS.map(([label]) => ({ config: label, mirroring: label !== 'off', ...results[label] }));

  const notes = [];
  const off = rows[0];
  const mirroredRows = rows.filter((r) => r.mirroring);
  const mirrors = mirroredRows.every((r) => r.rounds.every((x) => x.extra.mirrored > 0));
  if (!mirrors) {
    notes.push(
      '**umbra did not mirror in this run** (umbra_mirror_decisions_total{decision="mirrored"} stayed 0 in a ' +
        'configuration with `dark:` and `sample: 1.0`): the "mirror" rows measure a plain proxy and no ratio is reported for them.',
    );
  }
  const compared = mirroredRows.every((r) => Object.values(r.extra.comparisons).reduce((a, b) => a + b, 0) > 0);
  if (mirrors && !compared) notes.push('umbra mirrored but umbra_comparisons_total did not move: comparisons are not wired yet.');
  for (const r of rows) if (failures(r) > 0) notes.push(`${r.config}: ${failures(r)} failed live requests over all rounds.`);
  if (rows.every((r) => r.cpuPercent >= 90)) {
    notes.push('umbra ran at ≥ 90 % of a core in every row: the req/s ratios are the CPU cost of mirroring and comparing per request.');
  }

  const ratios = mirroredRows.flatMap((r) => [
    ...(r.config === 'mirror 100 %' ? [goal(`umbra ${r.config} / off, req/s (median of paired rounds)`, pairedMedian(r.rounds, off.rounds, 'rps'), '≥', GOAL_RPS, mirrors, fmtPairedSpread(pairedRatios(r.rounds, off.rounds, 'rps')))] : []),
    { name: `umbra ${r.config} / off, req/s${r.config === 'mirror 100 %' ? ', best round of each' : ''}`, value: mirrors ? ratio(r.rps, off.rps) : null, note: mirrors ? 'context: the table\'s rows' : 'umbra did not mirror' },
    { name: `umbra ${r.config} / off, p99 latency`, value: mirrors ? ratio(r.p99Ms, off.p99Ms) : null, note: mirrors ? undefined : 'umbra did not mirror' },
  ]);

  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['umbra', 'req/s', 'p50', 'p99', 'failed', 'event-loop delay p99', 'CPU (% of a core)', 'peak RSS (VmHWM)', 'mirror decisions', 'comparisons', 'req/s over rounds', 'other load (cores)'],
        rows: rows.map((r) => [
          r.config,
          fmtRps(r.rps),
          fmtMs(r.p50Ms),
          fmtMs(r.p99Ms),
          String(failures(r)),
          fmtMs(r.extra.loopLagP99Ms),
          fmtPct(r.cpuPercent),
          fmtMiB(r.rssHwmBytes),
          describe(r.extra.decisions),
          describe(r.extra.comparisons),
          fmtSpread(r),
          fmtCores(r.otherCores),
        ]),
      },
    ],
    ratios,
    notes,
    mirrored: mirrors,
    bars: rows.map((r) => ({ label: `umbra, ${r.config}`, rps: r.rps })),
    raw: rows,
  };
}
