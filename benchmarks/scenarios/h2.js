// HTTP/2 through umbra: h2load (h2c, prior knowledge) against an h2c backend
// directly, through umbra with `live.protocol: h2c` and mirroring off, and through
// umbra mirroring every GET to an h2c dark backend and comparing. One run, so the
// umbra/direct ratios compare like with like.

import { failures, fmtCores, fmtMiB, fmtMs, fmtPct, fmtRatio, fmtRps, fmtSpread, proxyRatios, ratio } from '../lib/format.js';
import { h2loadMissing, h2loadVersion, runH2load } from '../lib/h2load.js';
import { measureRounds } from '../lib/measure.js';
import { startH2Backend } from '../lib/procs.js';
import { counterDeltas, describeCounts, requestCounters, startUmbraProcess } from '../lib/umbra.js';

export const name = 'h2';
export const title = 'HTTP/2: umbra vs direct over h2c';

const PATH = '/api/items';
// h2load -c 4 -m 10: 4 connections, 10 streams in flight on each.
const CLIENTS = 4;
const STREAMS = 10;
const DIRECT = 'direct';
const OFF = 'umbra, mirroring off';
const MIRRORED = 'umbra, mirror 100 %';
const CONFIGS = [DIRECT, OFF, MIRRORED];

export const about =
  `GET ${PATH} for the ~1 KB JSON answer of the other scenarios, from an HTTP/2-only backend (Node's ` +
  '`http2.createServer`, h2c). Load: `h2load -D <round> -c 4 -m 10` on an `http://` URL, i.e. h2c with prior ' +
  'knowledge, 4 connections with 10 streams each (40 requests in flight). Rows: the backend directly; umbra with ' +
  '`live: { protocol: h2c }` and no `dark` (mirroring off); umbra with a second h2c backend as `dark` ' +
  '(`protocol: h2c`, `timeout: 2s`, `maxInFlight` at its default 64) and `mirror: { sample: 1.0 }` (every GET mirrored and compared; the dark backend competes for ' +
  'the same 2 cores). h2load prints no percentiles: p50 and p99 come from its `--log-file` (one line per request), ' +
  'mean from its summary. umbra\'s counters are deltas over the best round.';

function umbraYaml(dark) {
  return dark === null ? '' : ['dark:', `  url: ${dark.url}`, '  protocol: h2c', '  timeout: 2s', 'mirror:', '  sample: 1.0'].join('\n');
}

/** umbra in front of `live`, mirroring to `dark` (null: mirroring off). */
async function startUmbra(live, dark, lifetime, key) {
  const u = await startUmbraProcess({ liveUrl: live.url, liveProtocol: 'h2c', extraYaml: umbraYaml(dark) });
  return {
    url: `${u.proxyUrl}${PATH}`,
    pid: u.pid,
    async stop() {
      // Over the process's whole life (warm-up, rounds, the ends of h2load's runs).
      lifetime[key] = await requestCounters(u.adminUrl).catch(() => null);
      await u.stop();
    },
    beforeRun: async () => ({ umbra: await requestCounters(u.adminUrl), dark: dark === null ? 0 : await dark.count() }),
    afterRun: async (before) => ({
      counters: counterDeltas(await requestCounters(u.adminUrl), before.umbra),
      darkRequests: dark === null ? null : (await dark.count()) - before.dark,
    }),
  };
}

/** The error counters of a requestCounters() reading, as one cell. */
function errorsCell(c) {
  const parts = [
    ['live', c.liveErrors],
    ['shadow', c.shadowErrors],
    ['client', c.clientErrors],
  ].flatMap(([kind, d]) => Object.entries(d).filter(([, v]) => v > 0).map(([k, v]) => `${kind} ${k} ${Math.round(v)}`));
  return parts.length > 0 ? parts.join(', ') : '0';
}

export async function run(ctx) {
  const missing = h2loadMissing();
  if (missing !== null) {
    return {
      name,
      title,
      about,
      tables: [],
      ratios: [{ name: 'umbra / direct over h2c', value: null, note: missing }],
      notes: [`**Not measured:** ${missing}.`],
      bars: [],
    };
  }

  const live = await startH2Backend();
  const dark = await startH2Backend();
  const lifetime = {};
  let results;
  try {
    results = await measureRounds(
      ctx,
      [
        { key: DIRECT, start: async () => ({ url: `${live.url}${PATH}`, pid: live.pid, stop: async () => {} }) },
        { key: OFF, start: () => startUmbra(live, null, lifetime, OFF) },
        { key: MIRRORED, start: () => startUmbra(live, dark, lifetime, MIRRORED) },
      ],
      { load: (url, seconds) => runH2load({ url, clients: CLIENTS, streams: STREAMS, seconds }) },
    );
  } finally {
    await Promise.all([live.stop(), dark.stop()]);
  }

  const direct = results[DIRECT];
  const off = results[OFF];
  const mirrored = results[MIRRORED];
  const notes = [`Load generator: ${h2loadVersion()}, one thread, its own process; its CPU is the "h2load CPU" column.`];
  const mirrors = mirrored.rounds.every((r) => (r.extra.counters.decisions.mirrored ?? 0) > 0);
  if (!mirrors) {
    notes.push(
      '**umbra did not mirror in this run** (umbra_mirror_decisions_total{decision="mirrored"} stayed 0 in a round of the ' +
        'configuration with `dark:` and `sample: 1.0`): that row measures a plain proxy and its ratios are not reported.',
    );
  }
  for (const key of CONFIGS) {
    const r = results[key];
    if (failures(r) > 0) notes.push(`${key}: ${failures(r)} failed requests over all rounds (h2load: errored, timed out, or a status other than 2xx/3xx).`);
  }
  const dropped = mirrored.extra.counters.decisions.over_in_flight ?? 0;
  if (dropped > 0) {
    notes.push(
      `${MIRRORED}: ${Math.round(dropped)} of ${Math.round(Object.values(mirrored.extra.counters.decisions).reduce((a, b) => a + b, 0))} requests ` +
        'in the best round were not mirrored (`over_in_flight`): 64 copies (`dark.maxInFlight`, default) were already under way.',
    );
  }
  for (const key of [OFF, MIRRORED]) {
    const c = lifetime[key];
    if (c === null || c === undefined) continue;
    const non200 = Object.entries(c.codes).filter(([code, v]) => code !== '200' && v > 0);
    const errors = errorsCell(c);
    if (non200.length > 0 || errors !== '0') {
      notes.push(
        `${key}, over umbra's whole life (warm-up and every round): answers ${describeCounts(c.codes)}; errors ${errors}. ` +
          'Streams h2load leaves in flight when its duration ends are reset, which umbra may count as client aborts.',
      );
    }
  }

  const ratios = proxyRatios({ direct, off, mirrored, mirrors, unit: 'req/s', hop: 'the cost of the proxy hop over h2c', cost: 'context: what mirroring and comparing every request costs over h2c' });

  const none = '—';
  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['configuration', 'req/s', 'p50', 'p99', 'mean', 'failed', 'req/s vs direct', 'CPU (% of a core)', 'peak RSS (VmHWM)', 'h2load CPU', 'req/s over rounds', 'other load (cores)'],
        rows: CONFIGS.map((key) => {
          const r = results[key];
          return [
            key,
            fmtRps(r.rps),
            fmtMs(r.p50Ms),
            fmtMs(r.p99Ms),
            fmtMs(r.meanMs),
            String(failures(r)),
            fmtRatio(ratio(r.rps, direct.rps)),
            fmtPct(r.cpuPercent),
            fmtMiB(r.rssHwmBytes),
            fmtPct(r.generatorCpuPercent),
            fmtSpread(r),
            fmtCores(r.otherCores),
          ];
        }),
      },
      {
        head: ['umbra, best round', 'answers by HTTP status', 'mirror decisions', 'requests at dark', 'comparisons', 'comparison skips', 'errors (live, shadow, client)'],
        rows: [OFF, MIRRORED].map((key) => {
          const r = results[key];
          const c = r.extra.counters;
          return [
            key,
            describeCounts(c.codes),
            key === OFF ? none : describeCounts(c.decisions),
            r.extra.darkRequests === null ? none : String(r.extra.darkRequests),
            key === OFF ? none : describeCounts(c.comparisons),
            key === OFF ? none : describeCounts(c.skips),
            errorsCell(c),
          ];
        }),
      },
    ],
    ratios,
    notes,
    mirrored: mirrors,
    bars: CONFIGS.map((key) => ({ label: `h2c, ${key}`, rps: results[key].rps })),
    raw: { ...results, lifetime },
  };
}
