// Guarantee 2, "the dark side cannot hurt the live side": live throughput and p99
// through umbra at 100 % mirroring with a healthy, a 200 ms-late and a hung dark
// backend, one refusing connections and one answering garbage; the same through
// nginx's mirror module when nginx is installed.

import { failures, fmtCores, fmtMs, fmtRatio, fmtRps, fmtSpread, ratio } from '../lib/format.js';
import { measureRounds } from '../lib/measure.js';
import { findNginx, startNginx } from '../lib/nginx.js';
import { freePort, startBackend } from '../lib/procs.js';
import { byLabel, scrapeMetrics, startUmbraProcess } from '../lib/umbra.js';

export const name = 'isolation';
export const title = 'Isolation: a slow, hung, refusing or garbage-answering dark backend vs live throughput';
export const about =
  'Every GET is mirrored (`mirror: { sample: 1.0 }`, dark `maxInFlight: 64`, dark `timeout: 2s`; nginx gets the ' +
  'same 2 s budget as proxy_connect/read/send_timeout of its mirror location). 32 connections. The live backend ' +
  'answers a ~1 KB JSON document at once; the dark one is healthy (same answer), 200 ms late, never answers, refuses ' +
  'connections (nothing listens on its port), or answers every request with bytes that are not HTTP and closes. ' +
  'Each proxy is also run with mirroring off (umbra without `dark`, nginx without `mirror`) as a baseline. ' +
  'umbra runs with its default circuit breaker (`dark.breaker`: 20 connection failures in a row open it, one probe ' +
  'per cooldown of 1 s doubling to 30 s). Target for umbra: each misbehaving dark / healthy dark, live throughput ≥ 0.95.';

const CONNECTIONS = 32;
const DARK_TIMEOUT_SEC = 2;
const TARGET = 0.95;
const DARKS = [
  ['off', null],
  ['healthy', 'fast'],
  ['200 ms late', 'late'],
  ['hung', 'hang'],
  ['refusing', 'refuse'],
  ['garbage', 'garbage'],
];

function delta(after, before) {
  const out = {};
  for (const [k, v] of Object.entries(after)) out[k] = v - (before[k] ?? 0);
  return out;
}

function umbraYaml(darkUrl) {
  return [
    'dark:',
    `  url: ${darkUrl}`,
    `  timeout: ${DARK_TIMEOUT_SEC}s`,
    '  maxInFlight: 64',
    'mirror:',
    '  sample: 1.0',
  ].join('\n');
}

async function umbraCounters(adminUrl) {
  const m = await scrapeMetrics(adminUrl);
  return {
    decisions: byLabel(m, 'umbra_mirror_decisions_total', 'decision'),
    shadowErrors: byLabel(m, 'umbra_shadow_errors_total', 'reason'),
    comparisons: byLabel(m, 'umbra_comparisons_total', 'result'),
  };
}

// A stand-in for "no dark backend" so the code below stays one path.
const NO_DARK = { url: null, count: async () => 0, stop: async () => {} };

/** Starts a dark backend in `darkMode` (null: none) and the proxy in front of it. */
async function startPair(peer, darkMode, live) {
  // Refusing: a port nothing listens on (taken and let go by freePort).
  const dark =
    darkMode === null
      ? NO_DARK
      : darkMode === 'refuse'
        ? { url: `http://127.0.0.1:${await freePort()}`, count: async () => 0, stop: async () => {} }
        : await startBackend(darkMode, { delayMs: 200 });
  let proxy;
  try {
    proxy =
      peer === 'umbra'
        ? await startUmbraProcess({ liveUrl: live.url, extraYaml: dark.url === null ? '' : umbraYaml(dark.url) })
        : await startNginx({ liveUrl: live.url, darkUrl: dark.url, darkTimeoutSec: DARK_TIMEOUT_SEC });
  } catch (err) {
    await dark.stop();
    throw err;
  }
  return {
    url: `${proxy.proxyUrl ?? proxy.url}/api/items`,
    pid: proxy.child.pid,
    async stop() {
      await proxy.stop();
      await dark.stop();
    },
    beforeRun: async () => ({ dark: await dark.count(), umbra: peer === 'umbra' ? await umbraCounters(proxy.adminUrl) : null }),
    afterRun: async (before) => {
      const darkRequests = (await dark.count()) - before.dark;
      if (peer !== 'umbra') return { darkRequests };
      const after = await umbraCounters(proxy.adminUrl);
      return {
        darkRequests,
        decisions: delta(after.decisions, before.umbra.decisions),
        shadowErrors: delta(after.shadowErrors, before.umbra.shadowErrors),
        comparisons: delta(after.comparisons, before.umbra.comparisons),
      };
    },
  };
}

function describeDecisions(d) {
  const parts = Object.entries(d ?? {})
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${Math.round(v)}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

export async function run(ctx) {
  const nginx = findNginx();
  const peers = ['umbra', ...(nginx.missing ? [] : ['nginx'])];
  const notes = [];
  if (nginx.missing) notes.push(`The nginx column is missing: ${nginx.missing}.`);
  else notes.push(`nginx: ${nginx.version}, worker_processes 1, mirror + mirror_request_body on, keep-alive upstreams.`);

  const live = await startBackend('fast');
  const results = {};
  try {
    const configs = peers.flatMap((peer) =>
      DARKS.map(([label, mode]) => ({ key: `${peer}|${label}`, start: () => startPair(peer, mode, live) })),
    );
    const flat = await measureRounds(ctx, configs, { connections: CONNECTIONS });
    for (const peer of peers) results[peer] = Object.fromEntries(DARKS.map(([label]) => [label, flat[`${peer}|${label}`]]));
  } finally {
    await live.stop();
  }

  // umbra must really mirror, or its numbers say nothing about isolation.
  const umbraMirrors = DARKS.filter(([, mode]) => mode !== null).every(([label]) => (results.umbra[label].extra.decisions.mirrored ?? 0) > 0);
  if (!umbraMirrors) {
    notes.unshift(
      '**umbra did not mirror in this run** (umbra_mirror_decisions_total{decision="mirrored"} stayed 0 in at least one ' +
        'run whose config has `dark:` and `mirror: { sample: 1.0 }`), so its rows measure a plain proxy and its ratios are not reported.',
    );
  }

  const rows = [];
  for (const peer of peers) {
    for (const [label] of DARKS) {
      const r = results[peer][label];
      const healthy = results[peer].healthy;
      rows.push([
        peer,
        label === 'off' ? 'none (mirroring off)' : label,
        fmtRps(r.rps),
        fmtMs(r.p50Ms),
        fmtMs(r.p99Ms),
        String(failures(r)),
        fmtRatio(ratio(r.rps, healthy.rps)),
        fmtRatio(ratio(r.rps, results[peer].off.rps)),
        fmtSpread(r),
        label === 'off' ? '—' : String(r.extra.darkRequests ?? 'n/a'),
        peer === 'umbra' && label !== 'off' ? describeDecisions(r.extra.decisions) : '—',
        peer === 'umbra' && label !== 'off' ? describeDecisions(r.extra.shadowErrors) : '—',
        fmtCores(r.otherCores),
      ]);
      if (failures(r) > 0) notes.push(`${peer} with a ${label} dark: ${failures(r)} failed live requests over all rounds.`);
    }
  }

  if (umbraMirrors && results.umbra['200 ms late'].rps > 1.05 * results.umbra.healthy.rps) {
    notes.push(
      'umbra is faster with a slow or hung dark than with a healthy one: the healthy dark is the most work (every request ' +
        'mirrored and compared), while a slow or hung one fills the 64-request in-flight cap and the rest is dropped and ' +
        'counted (`over_in_flight`), and one that refuses connections or answers garbage opens the circuit breaker after ' +
        '20 failures in a row, and the rest is dropped and counted (`dark_down`) but one probe per cooldown. The "req/s ' +
        'vs off" column shows the cost against no mirroring at all.',
    );
  }

  const ratios = [];
  for (const peer of peers) {
    const ok = peer !== 'umbra' || umbraMirrors;
    const healthy = results[peer].healthy.rps;
    for (const [label, key] of [
      ['200 ms late', 'slow'],
      ['hung', 'hung'],
      ['refusing', 'refusing'],
      ['garbage', 'garbage'],
    ]) {
      const value = ok ? ratio(results[peer][label].rps, healthy) : null;
      ratios.push({
        name: `${peer}: ${key}/healthy dark, live req/s`,
        value,
        target: peer === 'umbra' ? `≥ ${TARGET}` : key === 'slow' ? 'reference: ~0.02 (LESSONS.md)' : '',
        pass: peer === 'umbra' && value !== null ? value >= TARGET : undefined,
        note: ok ? undefined : 'umbra did not mirror',
      });
    }
    for (const [label, key] of [
      ['healthy', 'healthy'],
      ['200 ms late', 'slow'],
      ['hung', 'hung'],
      ['refusing', 'refusing'],
      ['garbage', 'garbage'],
    ]) {
      ratios.push({
        name: `${peer}: ${key} dark/mirroring off, live req/s`,
        value: ok ? ratio(results[peer][label].rps, results[peer].off.rps) : null,
        note: ok ? 'context: the whole cost of mirroring every request' : 'umbra did not mirror',
      });
    }
    ratios.push({
      name: `${peer}: slow/healthy dark, live p99`,
      value: ok ? ratio(results[peer]['200 ms late'].p99Ms, results[peer].healthy.p99Ms) : null,
      note: ok ? 'about 1 or below = the slow dark did not lengthen the tail' : 'umbra did not mirror',
    });
  }
  if (nginx.missing) ratios.push({ name: 'nginx: slow, hung, refusing, garbage / healthy', value: null, note: nginx.missing });

  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['proxy', 'dark', 'live req/s', 'p50', 'p99', 'failed', 'req/s vs healthy', 'req/s vs off', 'req/s over rounds', 'requests at dark', 'umbra mirror decisions', 'umbra shadow errors', 'other load (cores)'],
        rows,
      },
    ],
    ratios,
    notes,
    mirrored: umbraMirrors,
    bars: peers.flatMap((peer) => DARKS.map(([label]) => ({ label: label === 'off' ? `${peer}, mirroring off` : `${peer}, ${label} dark`, rps: results[peer][label].rps }))),
    raw: results,
  };
}
