// Live-path overhead: the same fast JSON backend reached directly, through a bare
// http-proxy server, through a bare undici forwarder, and through umbra with
// mirroring off (no `dark`) on each of its live engines (http-proxy, the default,
// and undici). One run, so the ratios compare like with like.

import { fileURLToPath } from 'node:url';
import { failures, fmtCores, fmtMiB, fmtMs, fmtPct, fmtRatio, fmtRps, fmtSpread, ratio } from '../lib/format.js';
import { measureRounds } from '../lib/measure.js';
import { forkReady, startBackend, stop } from '../lib/procs.js';
import { scrapeMetrics, sumMetric, startUmbraProcess } from '../lib/umbra.js';

export const name = 'passthrough';
export const title = 'Passthrough: live-path overhead';
export const about =
  'GET requests for a ~1 KB JSON answer, 32 connections, mirroring off. Each peer is its own process; ' +
  'CPU and RSS are those of the process the load goes to (the backend itself for "direct").';

const BASELINE = fileURLToPath(new URL('../lib/baseline-proxy.js', import.meta.url));
const PATH = '/api/items';

async function startBaseline(kind, target) {
  const { child, msg } = await forkReady(BASELINE, ['--kind', kind, '--target', target], { name: kind });
  return { url: `http://127.0.0.1:${msg.port}${PATH}`, pid: child.pid, stop: () => stop(child) };
}

export async function run(ctx) {
  const backend = await startBackend('fast');
  let results;
  try {
    results = await measureRounds(ctx, [
      { key: 'direct', start: async () => ({ url: `${backend.url}${PATH}`, pid: backend.pid, stop: async () => {} }) },
      { key: 'http-proxy', start: () => startBaseline('http-proxy', backend.url) },
      { key: 'undici', start: () => startBaseline('undici', backend.url) },
      ...['umbra', 'umbra (undici engine)'].map((key) => ({
        key,
        start: async () => {
          const u = await startUmbraProcess({ liveUrl: backend.url, engine: key === 'umbra' ? null : 'undici' });
          return {
            url: `${u.proxyUrl}${PATH}`,
            pid: u.pid,
            stop: () => u.stop(),
            afterRun: async () => ({ umbraRequestsTotal: sumMetric(await scrapeMetrics(u.adminUrl), 'umbra_requests_total') }),
          };
        },
      })),
    ]);
  } finally {
    await backend.stop();
  }

  const peers = ['direct', 'http-proxy', 'undici', 'umbra', 'umbra (undici engine)'];
  const { direct, umbra, undici } = results;
  const umbraU = results['umbra (undici engine)'];
  const hp = results['http-proxy'];
  const notes = [];
  for (const k of ['umbra', 'umbra (undici engine)']) {
    if (!(results[k].extra?.umbraRequestsTotal > 0)) notes.push(`${k}: umbra_requests_total stayed 0: the load did not reach umbra as expected.`);
  }
  const bound = peers.filter((p) => results[p].cpuPercent >= 90);
  if (bound.length > 0) {
    notes.push(
      `${bound.join(', ')} ran at ≥ 90 % of a core: single-threaded and saturated, so its req/s is about its capacity per core ` +
        'on this machine, and the ratios compare CPU cost per request.',
    );
  }
  for (const p of peers) if (failures(results[p]) > 0) notes.push(`${p}: ${failures(results[p])} failed requests (socket errors, timeouts or non-2xx) over all rounds.`);

  const ratios = [
    { name: 'umbra / direct, req/s', value: ratio(umbra.rps, direct.rps) },
    { name: 'umbra / http-proxy, req/s', value: ratio(umbra.rps, hp.rps) },
    { name: 'undici / http-proxy, req/s', value: ratio(undici.rps, hp.rps) },
    { name: 'umbra / http-proxy, p99 latency', value: ratio(umbra.p99Ms, hp.p99Ms) },
    { name: 'umbra / http-proxy, peak RSS', value: ratio(umbra.rssHwmBytes, hp.rssHwmBytes) },
    { name: 'umbra (undici engine) / umbra (http-proxy engine), req/s', value: ratio(umbraU.rps, umbra.rps) },
    { name: 'umbra (undici engine) / http-proxy, req/s', value: ratio(umbraU.rps, hp.rps) },
    { name: 'umbra (undici engine) / http-proxy, p99 latency', value: ratio(umbraU.p99Ms, hp.p99Ms) },
  ];

  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['peer', 'req/s', 'p50', 'p99', 'failed', 'CPU (% of a core)', 'peak RSS (VmHWM)', 'req/s vs http-proxy', 'req/s over rounds', 'other load (cores)'],
        rows: peers.map((p) => {
          const r = results[p];
          return [p, fmtRps(r.rps), fmtMs(r.p50Ms), fmtMs(r.p99Ms), String(failures(r)), fmtPct(r.cpuPercent), fmtMiB(r.rssHwmBytes), fmtRatio(ratio(r.rps, hp.rps)), fmtSpread(r), fmtCores(r.otherCores)];
        }),
      },
    ],
    ratios,
    notes,
    bars: peers.map((p) => ({ label: p, rps: results[p].rps })),
    raw: results,
  };
}
