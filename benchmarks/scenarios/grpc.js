// Unary gRPC through umbra: a closed loop of grpc-js calls to
// shop.v1.Catalog/GetItem on a grpc-js server directly, through umbra with mirroring
// off, and through umbra mirroring every call to a second grpc-js server and
// comparing. One run, so the umbra/direct ratios compare like with like.

import { failures, fmtCores, fmtMiB, fmtMs, fmtPct, fmtRatio, fmtRps, fmtSpread, proxyRatios, ratio } from '../lib/format.js';
import { METHOD } from '../lib/grpc-catalog.js';
import { runGrpcLoad } from '../lib/grpc-load.js';
import { measureRounds } from '../lib/measure.js';
import { startGrpcBackend } from '../lib/procs.js';
import { counterDeltas, describeCounts, requestCounters, startUmbraProcess } from '../lib/umbra.js';

export const name = 'grpc';
export const title = 'gRPC: unary calls, umbra vs direct';

const CONCURRENCY = 32;
const CHANNELS = 4;
const ROUTE = 'get-item';
const DIRECT = 'direct';
const OFF = 'umbra, mirroring off';
const MIRRORED = 'umbra, mirror 100 %';
const CONFIGS = [DIRECT, OFF, MIRRORED];

export const about =
  `Unary calls to \`${METHOD}\` (a ~1 KB protobuf answer) on a @grpc/grpc-js server (h2c). Load: a closed loop ` +
  `of grpc-js unary calls in its own process (lib/grpc-load.js), ${CONCURRENCY} calls in flight over ${CHANNELS} ` +
  'channels (one HTTP/2 connection each); a call that ends starts the next. Rows: the server directly; umbra with ' +
  `\`live: { protocol: h2c }\` and a route \`match: { grpc: ${METHOD} }\` but no \`dark\` (mirroring off); the same ` +
  'with a second grpc-js server as `dark` (`protocol: h2c`, `timeout: 2s`, `maxInFlight` at its default 64) and the route at `mirror: { sample: 1.0 }` (every call ' +
  'mirrored and its answer, status and trailers compared; the dark server competes for the same 2 cores). calls/s ' +
  'counts calls that ended with status OK inside the round; p50/p99 are of those calls, from the call to its ' +
  'callback. Both servers answer on the next turn of their event loop, so calls that arrive together are open ' +
  'together: *peak calls open* is the most a server had at once in the round, how many calls were really in flight ' +
  'to it. grpc-js is a Node.js client: it costs far more CPU per call than wrk or h2load, and its CPU is the ' +
  '"client CPU" column. umbra\'s counters are deltas over the best round.';

function umbraYaml(dark) {
  const route = ['routes:', `  - name: ${ROUTE}`, `    match: { grpc: ${METHOD} }`];
  if (dark === null) return route.join('\n');
  return [...route, '    mirror: { sample: 1.0 }', 'dark:', `  url: ${dark.url}`, '  protocol: h2c', '  timeout: 2s'].join('\n');
}

/** umbra in front of `live`, mirroring to `dark` (null: mirroring off). */
async function startUmbra(live, dark, lifetime, key) {
  const u = await startUmbraProcess({ liveUrl: live.url, liveProtocol: 'h2c', extraYaml: umbraYaml(dark) });
  return {
    url: u.proxyUrl,
    pid: u.pid,
    async stop() {
      lifetime[key] = await requestCounters(u.adminUrl).catch(() => null);
      await u.stop();
    },
    // peak() and count() both start a new peak at the backend: the peaks cover the round.
    beforeRun: async () => ({ umbra: await requestCounters(u.adminUrl), live: await live.peak(), dark: dark === null ? 0 : await dark.count() }),
    afterRun: async (before) => ({
      counters: counterDeltas(await requestCounters(u.adminUrl), before.umbra),
      livePeak: await live.peak(),
      darkPeak: dark === null ? null : await dark.peak(),
      darkCalls: dark === null ? null : (await dark.count()) - before.dark,
    }),
  };
}

function errorsCell(c) {
  const parts = [
    ['live', c.liveErrors],
    ['shadow', c.shadowErrors],
    ['client', c.clientErrors],
  ].flatMap(([kind, d]) => Object.entries(d).filter(([, v]) => v > 0).map(([k, v]) => `${kind} ${k} ${Math.round(v)}`));
  return parts.length > 0 ? parts.join(', ') : '0';
}

export async function run(ctx) {
  const live = await startGrpcBackend();
  const dark = await startGrpcBackend();
  const lifetime = {};
  let results;
  try {
    results = await measureRounds(
      ctx,
      [
        {
          key: DIRECT,
          start: async () => ({
            url: live.url,
            pid: live.pid,
            stop: async () => {},
            beforeRun: () => live.peak(),
            afterRun: async () => ({ livePeak: await live.peak() }),
          }),
        },
        { key: OFF, start: () => startUmbra(live, null, lifetime, OFF) },
        { key: MIRRORED, start: () => startUmbra(live, dark, lifetime, MIRRORED) },
      ],
      { load: (target, seconds) => runGrpcLoad({ target, concurrency: CONCURRENCY, channels: CHANNELS, seconds }) },
    );
  } finally {
    await Promise.all([live.stop(), dark.stop()]);
  }

  const direct = results[DIRECT];
  const off = results[OFF];
  const mirrored = results[MIRRORED];
  const notes = [];
  const mirrors = mirrored.rounds.every((r) => (r.extra.counters.decisions.mirrored ?? 0) > 0);
  if (!mirrors) {
    notes.push(
      '**umbra did not mirror in this run** (umbra_mirror_decisions_total{decision="mirrored"} stayed 0 in a round of the ' +
        'configuration with `dark:` and `sample: 1.0`): that row measures a plain proxy and its ratios are not reported.',
    );
  }
  for (const key of CONFIGS) {
    const r = results[key];
    if (failures(r) > 0) {
      const codes = r.rounds.reduce((acc, x) => {
        for (const [k, v] of Object.entries(x.byCode)) if (k !== 'OK') acc[k] = (acc[k] ?? 0) + v;
        return acc;
      }, {});
      notes.push(`${key}: ${failures(r)} calls over all rounds ended with a status other than OK (${describeCounts(codes)}).`);
    }
  }
  for (const key of [OFF, MIRRORED]) {
    const c = lifetime[key];
    if (c === null || c === undefined) continue;
    const odd = Object.entries(c.codes).some(([code, v]) => code !== '200' && v > 0) || Object.entries(c.grpc).some(([code, v]) => code !== 'OK' && v > 0);
    const errors = errorsCell(c);
    if (odd || errors !== '0') {
      notes.push(`${key}, over umbra's whole life (warm-up and every round): answers ${describeCounts(c.codes)}; gRPC status ${describeCounts(c.grpc)}; errors ${errors}.`);
    }
  }
  if (direct.generatorCpuPercent !== null && direct.cpuPercent !== null && direct.generatorCpuPercent > direct.cpuPercent) {
    notes.push(
      `In the direct row the grpc-js client used more CPU (${fmtPct(direct.generatorCpuPercent)} of a core) than the server ` +
        `(${fmtPct(direct.cpuPercent)}): there the client sets the pace, so direct's calls/s is the client's ceiling on this ` +
        'machine, not the server\'s, and umbra/direct understates what the umbra hop costs.',
    );
  }
  if (off.extra.livePeak !== null && direct.extra.livePeak !== null && off.extra.livePeak < direct.extra.livePeak / 2) {
    notes.push(
      `With ${CONCURRENCY} calls in flight, the live server had at most ${off.extra.livePeak} calls open at once through umbra ` +
        `(mirroring off, best round) and ${direct.extra.livePeak} when called directly: umbra forwarded fewer calls at a time than it received.`,
    );
  }
  const dropped = mirrored.extra.counters.decisions.over_in_flight ?? 0;
  if (dropped > 0) {
    notes.push(
      `${MIRRORED}: ${Math.round(dropped)} of ${Math.round(Object.values(mirrored.extra.counters.decisions).reduce((a, b) => a + b, 0))} calls ` +
        'in the best round were not mirrored (`over_in_flight`): 64 copies (`dark.maxInFlight`, default) were already under way.',
    );
  }

  const ratios = proxyRatios({ direct, off, mirrored, mirrors, unit: 'calls/s', hop: 'the cost of the proxy hop for unary gRPC', cost: 'context: what mirroring and comparing every call costs' });

  const none = '—';
  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['configuration', 'calls/s', 'p50', 'p99', 'not OK', 'calls/s vs direct', 'peak calls open at live', 'CPU (% of a core)', 'peak RSS (VmHWM)', 'client CPU', 'calls/s over rounds', 'other load (cores)'],
        rows: CONFIGS.map((key) => {
          const r = results[key];
          return [
            key,
            fmtRps(r.rps),
            fmtMs(r.p50Ms),
            fmtMs(r.p99Ms),
            String(failures(r)),
            fmtRatio(ratio(r.rps, direct.rps)),
            String(r.extra.livePeak ?? 'n/a'),
            fmtPct(r.cpuPercent),
            fmtMiB(r.rssHwmBytes),
            fmtPct(r.generatorCpuPercent),
            fmtSpread(r),
            fmtCores(r.otherCores),
          ];
        }),
      },
      {
        head: ['umbra, best round', 'answers by HTTP status', 'by gRPC status', 'mirror decisions', 'calls at dark', 'peak calls open at dark', 'comparisons', 'comparison skips', 'errors (live, shadow, client)'],
        rows: [OFF, MIRRORED].map((key) => {
          const r = results[key];
          const c = r.extra.counters;
          return [
            key,
            describeCounts(c.codes),
            describeCounts(c.grpc),
            describeCounts(c.decisions),
            r.extra.darkCalls === null ? none : String(r.extra.darkCalls),
            r.extra.darkPeak === null ? none : String(r.extra.darkPeak),
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
    bars: CONFIGS.map((key) => ({ label: `gRPC, ${key}`, rps: results[key].rps })),
    raw: { ...results, lifetime },
  };
}
