// Live-path overhead: the same fast JSON backend reached directly, through a bare
// http-proxy server, through a bare undici forwarder, and through umbra with
// mirroring off (no `dark`). One run, so the ratios compare like with like.

import { fileURLToPath } from 'node:url';
import { failures, fmtCores, fmtRatio, fmtSpread, loadCells, ratio } from '../lib/format.js';
import { measureRounds } from '../lib/measure.js';
import { forkReady, startBackend, stop } from '../lib/procs.js';
import { scrapeMetrics, sumMetric, startUmbraProcess } from '../lib/umbra.js';

export const name = 'passthrough';
export const title = 'Passthrough: live-path overhead';
export const about =
  'GET requests for a ~1 KB JSON answer, 32 connections, mirroring off. Each peer is its own process; ' +
  'CPU and RSS are those of the process the load goes to (the backend itself for "direct"). ' +
  'Targets: umbra ≥ 0.95 × the bare undici forwarder\'s req/s (what umbra forwards with) and ≥ 1.2 × bare http-proxy\'s.';

const BASELINE = fileURLToPath(new URL('../lib/baseline-proxy.js', import.meta.url));
const PATH = '/api/items';
const PEERS = ['direct', 'http-proxy', 'undici', 'umbra'];
const TARGET_VS_UNDICI = 0.95;
const TARGET_VS_HTTP_PROXY = 1.2;

async function startBaseline(kind, target) {
  const { child, msg } = await forkReady(BASELINE, ['--kind', kind, '--target', target], { name: kind });
  return { url: `http://127.0.0.1:${msg.port}${PATH}`, pid: child.pid, stop: () => stop(child) };
}

async function startUmbra(liveUrl) {
  const u = await startUmbraProcess({ liveUrl });
  return {
    url: `${u.proxyUrl}${PATH}`,
    pid: u.pid,
    stop: () => u.stop(),
    afterRun: async () => ({ umbraRequestsTotal: sumMetric(await scrapeMetrics(u.adminUrl), 'umbra_requests_total') }),
  };
}

/** A ratio with a "≥ target" and whether this run met it. */
function atLeast(name, value, target) {
  return { name, value, target: `≥ ${target}`, pass: value === null ? undefined : value >= target };
}

export async function run(ctx) {
  const backend = await startBackend('fast');
  let results;
  try {
    results = await measureRounds(ctx, [
      { key: 'direct', start: async () => ({ url: `${backend.url}${PATH}`, pid: backend.pid, stop: async () => {} }) },
      { key: 'http-proxy', start: () => startBaseline('http-proxy', backend.url) },
      { key: 'undici', start: () => startBaseline('undici', backend.url) },
      { key: 'umbra', start: () => startUmbra(backend.url) },
    ]);
  } finally {
    await backend.stop();
  }

  const { direct, undici, umbra } = results;
  const hp = results['http-proxy'];
  const notes = [];
  if (!(umbra.extra?.umbraRequestsTotal > 0)) notes.push('umbra: umbra_requests_total stayed 0: the load did not reach umbra as expected.');
  const bound = PEERS.filter((p) => results[p].cpuPercent >= 90);
  if (bound.length > 0) {
    notes.push(
      `${bound.join(', ')} ran at ≥ 90 % of a core: single-threaded and saturated, so its req/s is about its capacity per core ` +
        'on this machine, and the ratios compare CPU cost per request.',
    );
  }
  for (const p of PEERS) if (failures(results[p]) > 0) notes.push(`${p}: ${failures(results[p])} failed requests (socket errors, timeouts or non-2xx) over all rounds.`);

  const ratios = [
    atLeast('umbra / bare undici, req/s', ratio(umbra.rps, undici.rps), TARGET_VS_UNDICI),
    atLeast('umbra / bare http-proxy, req/s', ratio(umbra.rps, hp.rps), TARGET_VS_HTTP_PROXY),
    { name: 'umbra / bare undici, p99 latency', value: ratio(umbra.p99Ms, undici.p99Ms), note: 'below 1 = shorter tail' },
    { name: 'umbra / bare http-proxy, p99 latency', value: ratio(umbra.p99Ms, hp.p99Ms), note: 'below 1 = shorter tail' },
    { name: 'umbra / bare undici, peak RSS', value: ratio(umbra.rssHwmBytes, undici.rssHwmBytes) },
    { name: 'umbra / bare http-proxy, peak RSS', value: ratio(umbra.rssHwmBytes, hp.rssHwmBytes) },
    { name: 'umbra / direct, req/s', value: ratio(umbra.rps, direct.rps), note: 'context: the cost of any proxy hop here' },
    { name: 'bare undici / bare http-proxy, req/s', value: ratio(undici.rps, hp.rps), note: 'context: the two floors' },
  ];

  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['peer', 'req/s', 'p50', 'p99', 'failed', 'CPU (% of a core)', 'peak RSS (VmHWM)', 'req/s vs undici', 'req/s vs http-proxy', 'req/s over rounds', 'other load (cores)'],
        rows: PEERS.map((p) => {
          const r = results[p];
          return [
            p,
            ...loadCells(r),
            fmtRatio(ratio(r.rps, undici.rps)),
            fmtRatio(ratio(r.rps, hp.rps)),
            fmtSpread(r),
            fmtCores(r.otherCores),
          ];
        }),
      },
    ],
    ratios,
    notes,
    bars: PEERS.map((p) => ({ label: p, rps: results[p].rps })),
    raw: results,
  };
}
