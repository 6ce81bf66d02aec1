// Starts umbra as its own process, exactly as an operator would:
// `node bin/umbra.js --config <tmp yaml>`, log level warn, and waits for /readyz.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, removeTempDir, spawnTracked, stop, tempDir, waitHttpOk } from './procs.js';

const BIN = fileURLToPath(new URL('../../bin/umbra.js', import.meta.url));

/**
 * `extraYaml` is appended to the generated config (e.g. a `dark:` and a `mirror:`
 * section); `liveProtocol` (h2c, h2, http1, auto) becomes `live.protocol` when set.
 * `node` runs it (default: this runner's own) with `nodeArgs`, `launcher` goes before that on the
 * command line (e.g. a shell that moves it into a cgroup first), `logLevel` is log.level.
 * Returns { child, pid, proxyUrl, adminUrl, configText, stop() }.
 */
export async function startUmbraProcess({ liveUrl, liveProtocol, extraYaml = '', node = process.execPath, nodeArgs = [], launcher = [], logLevel = 'warn' }) {
  const dir = tempDir('umbra-bench-');
  const port = await freePort();
  const adminPort = await freePort();
  const configText = [
    `listen: 127.0.0.1:${port}`,
    'admin:',
    `  listen: 127.0.0.1:${adminPort}`,
    'live:',
    `  url: ${liveUrl}`,
    ...(liveProtocol === undefined ? [] : [`  protocol: ${liveProtocol}`]),
    'log:',
    `  level: ${logLevel}`,
    extraYaml.trim(),
    '',
  ].join('\n');
  const file = join(dir, 'umbra.yaml');
  writeFileSync(file, configText);
  const argv = [...launcher, node, ...nodeArgs, BIN, '--config', file];
  const child = spawnTracked(argv[0], argv.slice(1), { name: 'umbra' });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitHttpOk(`${adminUrl}/readyz`, { child, timeoutMs: 15_000 });
  } catch (err) {
    await stop(child, 1000);
    removeTempDir(dir);
    throw err;
  }
  return {
    child,
    pid: child.pid,
    proxyUrl: `http://127.0.0.1:${port}`,
    adminUrl,
    configText,
    async stop() {
      await stop(child, 5000);
      removeTempDir(dir);
    },
  };
}

/** Fetches /metrics and parses the Prometheus text format into samples. */
export async function scrapeMetrics(adminUrl) {
  const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${adminUrl}/metrics answered ${res.status}`);
  return parseProm(text);
}

export function parseProm(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

/** Sum of a metric's samples whose labels include `match`. */
export function sumMetric(samples, name, match = {}) {
  let total = 0;
  let seen = false;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).some(([k, v]) => s.labels[k] !== v)) continue;
    total += s.value;
    seen = true;
  }
  return seen ? total : null;
}

/** { labelValue: sum } of a metric grouped by one label. */
export function byLabel(samples, name, label) {
  const out = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = s.labels[label] ?? '';
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/**
 * umbra's counters that say what happened to the requests of a run, each as
 * { labelValue: count }: live answers by HTTP status (umbra_requests_total code)
 * and, for gRPC, by gRPC status; mirror decisions; comparisons and why they were
 * skipped; and every error counter (shadow, live, inbound client).
 */
export async function requestCounters(adminUrl) {
  const m = await scrapeMetrics(adminUrl);
  return {
    codes: byLabel(m, 'umbra_requests_total', 'code'),
    grpc: byLabel(m, 'umbra_grpc_responses_total', 'code'),
    decisions: byLabel(m, 'umbra_mirror_decisions_total', 'decision'),
    comparisons: byLabel(m, 'umbra_comparisons_total', 'result'),
    skips: byLabel(m, 'umbra_comparison_skips_total', 'reason'),
    shadowErrors: byLabel(m, 'umbra_shadow_errors_total', 'reason'),
    liveErrors: byLabel(m, 'umbra_live_errors_total', 'reason'),
    clientErrors: byLabel(m, 'umbra_client_errors_total', 'reason'),
  };
}

/** requestCounters() `after` minus `before`, counter by counter. */
export function counterDeltas(after, before) {
  const out = {};
  for (const [name, values] of Object.entries(after)) {
    out[name] = {};
    for (const [k, v] of Object.entries(values)) out[name][k] = v - (before?.[name]?.[k] ?? 0);
  }
  return out;
}

/** "200 1234, 502 3" from { label: count }, zeros left out; "0" when nothing counted. */
export function describeCounts(d) {
  const parts = Object.entries(d ?? {})
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${Math.round(v)}`);
  return parts.length > 0 ? parts.join(', ') : '0';
}
