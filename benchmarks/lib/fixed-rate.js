// An open-loop load generator that holds a fixed request rate, for measuring CPU per
// request (scenarios/cpu.js). It runs in its own process: this file, forked with
// --worker, reports over IPC.
//
//   const r = await runFixedRate({ url, rate: 2000, seconds: 10, leadInSec: 0.5, sample });
//   // { rate, achievedRps, windowSec, completed, p50Ms, p99Ms, failed, ..., before, after }
//
// Why not wrk or autocannon: wrk has no rate option (wrk2 has, and is not packaged
// here), and autocannon's `overallRate` is a per-connection quota per second: each
// connection sends as fast as the server answers until its share of the second is
// used, then idles until the next second. At 2000 req/s against a proxy that does
// 20,000 that is a ~100 ms burst at full speed followed by ~900 ms of nothing, which
// measures the CPU of a saturated burst (where a proxy batches reads and writes and
// is cheaper per request), not of a steady 2000 req/s. This generator sends request
// i at t0 + i/rate whatever the answers do (open loop), so the proxy sees evenly
// spaced arrivals, as Istio's fortio runs at a fixed qps do. It uses undici's
// Pool.dispatch with a plain handler (no stream, no promise per request) and wakes at
// most once a millisecond, sending every request that is due. At 2000 req/s it used
// about 10 % of a core on the 2-core test machine, autocannon 5-7 % (in bursts) and
// a hand-written raw-socket client about 9 %: not worth giving up undici's parser.
// The runner measures and reports its CPU.
//
// Latency is counted from the time a request was due, not from when it was sent, so
// a stalled proxy shows up in p99 (no coordinated omission).
//
// The worker sends {mark: 'start'} when the lead-in ends and {mark: 'end', ...stats}
// when the measured window ends; the parent reads /proc (via `sample`) at each mark,
// so the process start-up and the lead-in stay outside the window.

import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuSecondsOf, track } from './procs.js';

const SELF = fileURLToPath(import.meta.url);

/**
 * Sends GET `url` at `rate` req/s for `leadInSec` + `seconds` from a forked process.
 * `sample()` is called when the measured window starts and ends; its results come
 * back as `before` and `after`, with the parent's own clock between them as `wallSec`.
 */
export async function runFixedRate({ url, rate, seconds, leadInSec = 0, connections = 32, timeoutSec = 10, maxInFlight = 1000, sample = () => null }) {
  const opts = { url, rate, seconds, leadInSec, connections, timeoutSec, maxInFlight };
  const child = track(fork(SELF, ['--worker', JSON.stringify(opts)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }), 'fixed-rate');
  const killer = setTimeout(() => child.kill('SIGKILL'), (leadInSec + seconds + timeoutSec + 15) * 1000);
  let before = null;
  let t0 = null;
  let gen0 = null;
  try {
    return await new Promise((resolve, reject) => {
      child.on('message', (m) => {
        if (m.mark === 'start') {
          before = sample();
          gen0 = cpuSecondsOf(child.pid);
          t0 = process.hrtime.bigint();
        } else if (m.mark === 'end') {
          const after = sample();
          const gen1 = cpuSecondsOf(child.pid);
          const wallSec = t0 === null ? null : Number(process.hrtime.bigint() - t0) / 1e9;
          const { mark: _, ...stats } = m;
          resolve({ ...stats, wallSec, before, after, generatorCpuSec: gen0 !== null && gen1 !== null ? gen1 - gen0 : null });
        }
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`fixed-rate worker exited (${code}) before its window ended: ${child.stderrTail}`)));
    });
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function worker(opts) {
  const { Pool } = await import('undici');
  const target = new URL(opts.url);
  const pool = new Pool(target.origin, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: opts.timeoutSec * 1000, bodyTimeout: opts.timeoutSec * 1000 });
  const request = { origin: target.origin, path: `${target.pathname}${target.search}`, method: 'GET', headers: { accept: 'application/json' } };
  const intervalMs = 1000 / opts.rate;
  const leadInMs = opts.leadInSec * 1000;
  const endMs = leadInMs + opts.seconds * 1000;
  const total = Math.round((endMs / 1000) * opts.rate);

  // Counters of the measured window (responses that end between the two marks).
  const latencies = new Float64Array(Math.ceil(opts.rate * opts.seconds * 1.2) + 16);
  const w = { completed: 0, ok: 0, non2xx: 0, errors: 0, skipped: 0, sent: 0 };
  let measuring = false;
  let inFlight = 0;
  let sent = 0;
  let t0 = 0;
  let windowStart = null;

  function finish(dueAt, ok, statusCode) {
    inFlight--;
    if (!measuring) return;
    if (!ok) {
      w.errors++;
      return;
    }
    if (w.completed < latencies.length) latencies[w.completed] = performance.now() - dueAt;
    w.completed++;
    if (statusCode >= 200 && statusCode < 300) w.ok++;
    else w.non2xx++;
  }

  function fire(dueAt) {
    if (inFlight >= opts.maxInFlight) {
      if (measuring) w.skipped++;
      return;
    }
    inFlight++;
    if (measuring) w.sent++;
    let status = 0;
    pool.dispatch(request, {
      onRequestStart() {},
      onResponseStart(_controller, statusCode) {
        status = statusCode;
      },
      onResponseData() {},
      onResponseEnd() {
        finish(dueAt, true, status);
      },
      onResponseError() {
        finish(dueAt, false, 0);
      },
    });
  }

  function endWindow(then) {
    measuring = false;
    const lat = Array.from(latencies.subarray(0, Math.min(w.completed, latencies.length))).sort((a, b) => a - b);
    const windowSec = (performance.now() - windowStart) / 1000;
    process.send({
      mark: 'end',
      rate: opts.rate,
      windowSec,
      ...w,
      achievedRps: w.ok / windowSec,
      p50Ms: percentile(lat, 50),
      p99Ms: percentile(lat, 99),
      maxMs: lat.length > 0 ? lat[lat.length - 1] : null,
    }, then);
  }

  function startWindow() {
    measuring = true;
    windowStart = performance.now();
    process.send({ mark: 'start' });
  }

  function tick() {
    // Every request that is due by now, each stamped with the time it was due.
    const due = Math.min(total, Math.floor((performance.now() - t0) / intervalMs) + 1);
    while (sent < due) {
      if (!measuring && windowStart === null && sent * intervalMs >= leadInMs) startWindow();
      fire(t0 + sent * intervalMs);
      sent++;
    }
    if (sent < total) {
      setTimeout(tick, Math.max(0, t0 + sent * intervalMs - performance.now()));
    } else {
      // The window ends one interval after the last request was due.
      setTimeout(() => {
        endWindow(() => pool.destroy().finally(() => process.exit(0)));
      }, Math.max(0, t0 + endMs - performance.now()));
    }
  }

  t0 = performance.now();
  tick();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--worker') {
  process.on('disconnect', () => process.exit(0));
  await worker(JSON.parse(process.argv[3]));
}
