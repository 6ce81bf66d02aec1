// Load generation, always in a separate process from the proxy and the backends.
//
// wrk is used when it is on PATH (it costs less CPU than a Node.js load generator,
// which matters on a 2-core machine); otherwise autocannon runs in a forked worker
// (this same file, started with --worker) that reports its result as JSON over IPC.
//
//   const r = await runLoad({ url, connections: 32, seconds: 8 });
//   // { tool, requests, rps, p50Ms, p99Ms, errors, non2xx, ... }

import { fork, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnTracked, track } from './procs.js';

const SELF = fileURLToPath(import.meta.url);

let detected;

/** 'wrk' when wrk runs here, else 'autocannon'; `prefer` forces one. */
export function loadTool(prefer) {
  if (prefer === 'wrk' || prefer === 'autocannon') return prefer;
  if (detected === undefined) {
    const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
    detected = r.error === undefined ? 'wrk' : 'autocannon';
  }
  return detected;
}

/** Human description of the load tool, for the report. */
export async function loadToolVersion(tool) {
  if (tool === 'wrk') {
    const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
    return (r.stdout || r.stderr).split('\n')[0].split(' [')[0].trim();
  }
  const { createRequire } = await import('node:module');
  const pkg = createRequire(import.meta.url)('autocannon/package.json');
  return `autocannon ${pkg.version}`;
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: cannot read latency "${text}"`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]] * 1000) / 1000;
}

/** Parses `wrk --latency` output. Exported for a quick self-check. */
export function parseWrk(out) {
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m ? toMs(m[1]) : null;
  };
  const total = /^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)/m.exec(out);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (!total || !rps) throw new Error(`wrk: unexpected output:\n${out}`);
  return {
    requests: Number(total[1]),
    seconds: toMs(`${total[2]}${total[3]}`) / 1000,
    rps: Number(rps[1]),
    p50Ms: pct(50),
    p99Ms: pct(99),
    errors: sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) : 0,
    timeouts: sock ? Number(sock[4]) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

async function runWrk({ url, connections, seconds, timeoutSec }) {
  // One thread: enough for loopback at these rates, and leaves the other core to the
  // processes under test.
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, `--timeout`, `${timeoutSec}s`, '--latency', url];
  const child = spawnTracked('wrk', args, { name: 'wrk' });
  const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? s)));
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${child.stderrTail}`);
  return parseWrk(child.stdoutText);
}

async function runAutocannonWorker(opts) {
  const child = track(fork(SELF, ['--worker', JSON.stringify(opts)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }), 'autocannon');
  const killer = setTimeout(() => child.kill('SIGKILL'), (opts.seconds + opts.timeoutSec + 15) * 1000);
  try {
    return await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`autocannon worker exited (${code}) without a result: ${child.stderrTail}`)));
    });
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
}

/**
 * Runs load against `url` for `seconds` and returns throughput and latency.
 * `tool` is 'wrk' or 'autocannon' (see loadTool()).
 */
export async function runLoad({ url, connections = 32, seconds = 8, timeoutSec = 10, tool = loadTool() }) {
  const opts = { url, connections, seconds, timeoutSec };
  const r = tool === 'wrk' ? await runWrk(opts) : await runAutocannonWorker(opts);
  return { tool, connections, ...r };
}

async function worker(opts) {
  const { default: autocannon } = await import('autocannon');
  const r = await autocannon({ url: opts.url, connections: opts.connections, duration: opts.seconds, timeout: opts.timeoutSec });
  process.send({
    requests: r.requests.total,
    seconds: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors - r.timeouts,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--worker') {
  process.on('disconnect', () => process.exit(0));
  await worker(JSON.parse(process.argv[3]));
}
