// HTTP/2 load with h2load (nghttp2's load generator, Debian's nghttp2-client), in
// its own process, for the h2 scenario.
//
//   const r = await runH2load({ url: 'http://127.0.0.1:PORT/api/items', clients: 4, streams: 10, seconds: 3 });
//   // { tool, requests, rps, p50Ms, p99Ms, meanMs, maxMs, errors, timeouts, non2xx, generatorCpuPercent, ... }
//
// An http:// URL makes h2load speak h2c with prior knowledge (no Upgrade). It runs
// for a fixed duration (-D), not a request count, so a round's length does not
// depend on the proxy's speed and a stalled proxy cannot hold up the suite.
// h2load prints min/max/mean/sd of "time for request" but no percentiles; with
// --log-file it writes one line per request (start in µs since the epoch, HTTP
// status or -1 for a failed stream, µs to the end of the answer), from which p50
// and p99 are computed here.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSecondsOf, removeTempDir, spawnTracked, tempDir } from './procs.js';

export const H2LOAD = 'h2load';

/** null when h2load runs here, else why not (for the report). */
export function h2loadMissing() {
  const r = spawnSync(H2LOAD, ['--version'], { encoding: 'utf8' });
  return r.error === undefined && r.status === 0 ? null : 'h2load not found (apt-get install -y nghttp2-client)';
}

export function h2loadVersion() {
  const r = spawnSync(H2LOAD, ['--version'], { encoding: 'utf8' });
  return (r.stdout ?? '').trim().split('\n')[0] || 'h2load';
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000 };

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) throw new Error(`h2load: cannot read time "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** Parses h2load's summary. Exported for a quick self-check. */
export function parseH2load(out) {
  const finished = /^finished in ([\d.]+)(us|ms|s), ([\d.]+) req\/s/m.exec(out);
  const req = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(out);
  const codes = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(out);
  const time = /^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(out);
  if (!finished || !req || !codes) throw new Error(`h2load: unexpected output:\n${out.slice(-2000)}`);
  const [failed, errored, timeout] = [Number(req[5]), Number(req[6]), Number(req[7])];
  return {
    seconds: toMs(`${finished[1]}${finished[2]}`) / 1000,
    rps: Number(finished[3]),
    requests: Number(req[3]),
    started: Number(req[2]),
    succeeded: Number(req[4]),
    // h2load counts a timed-out stream as errored and an errored one as failed;
    // a stream that ended with a status other than 2xx/3xx is failed only.
    errors: errored - timeout,
    timeouts: timeout,
    non2xx: failed - errored,
    status: { '2xx': Number(codes[1]), '3xx': Number(codes[2]), '4xx': Number(codes[3]), '5xx': Number(codes[4]) },
    minMs: time ? toMs(time[1]) : null,
    maxMs: time ? toMs(time[2]) : null,
    meanMs: time ? toMs(time[3]) : null,
    sdMs: time ? toMs(time[4]) : null,
  };
}

/** Nearest-rank percentile of a sorted array. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** p50 and p99 (ms) of the completed requests in an h2load --log-file, and the statuses seen. */
export function parseH2loadLog(text) {
  const times = [];
  const statuses = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [, status, us] = line.split('\t');
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status !== '-1') times.push(Number(us) / 1000);
  }
  const sorted = Float64Array.from(times).sort();
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), logged: times.length, statuses };
}

/**
 * Runs `h2load -D seconds -c clients -m streams` against `url` and returns
 * throughput, latency percentiles from its log file, failures, and its own CPU
 * (% of a core, sampled from /proc every 100 ms while it runs).
 */
export async function runH2load({ url, clients = 4, streams = 10, seconds = 3, timeoutSec = 10 }) {
  const dir = tempDir('umbra-h2load-');
  const log = join(dir, 'requests.tsv');
  // -T ends a connection that stays open past the run (a stalled proxy), so h2load
  // itself always ends: the duration plus the timeout at most.
  const args = ['-D', String(seconds), '-c', String(clients), '-m', String(streams), '-T', String(seconds + timeoutSec), `--log-file=${log}`, url];
  const child = spawnTracked(H2LOAD, args, { name: 'h2load' });
  const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + timeoutSec + 15) * 1000);
  let first = null;
  let last = null;
  const poll = setInterval(() => {
    const cpu = cpuSecondsOf(child.pid);
    if (cpu === null) return;
    const reading = { cpu, t: performance.now() };
    first ??= reading;
    last = reading;
  }, 100);
  try {
    const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? s)));
    if (code !== 0) throw new Error(`h2load exited with ${code}: ${child.stderrTail}${child.stdoutText.slice(-1000)}`);
    const summary = parseH2load(child.stdoutText);
    const perRequest = parseH2loadLog(readFileSync(log, 'utf8'));
    const generatorCpuPercent = first !== null && last !== null && last.t > first.t ? (100 * (last.cpu - first.cpu)) / ((last.t - first.t) / 1000) : null;
    return { tool: 'h2load', clients, streams, ...summary, p50Ms: perRequest.p50Ms, p99Ms: perRequest.p99Ms, logged: perRequest.logged, logStatuses: perRequest.statuses, generatorCpuPercent };
  } finally {
    clearInterval(poll);
    clearTimeout(killer);
    removeTempDir(dir);
  }
}
