// Closed-loop gRPC load for the grpc scenario: unary shop.v1.Catalog/GetItem calls
// with @grpc/grpc-js, in its own process (this file, forked with --worker, reports
// over IPC), so the client's CPU is not the runner's.
//
//   const r = await runGrpcLoad({ target: 'http://127.0.0.1:PORT', concurrency: 32, channels: 4, seconds: 3 });
//   // { tool, requests, rps, p50Ms, p99Ms, errors, timeouts, non2xx, byCode, generatorCpuPercent, ... }
//
// `concurrency` calls are kept in flight over `channels` grpc-js channels, each its
// own HTTP/2 connection (grpc.use_local_subchannel_pool: grpc-js would otherwise
// share one connection between channels to the same address); a call that ends
// starts the next one on the same channel. The window starts when every channel is
// connected. Only calls that end inside the window count; when it ends no new call
// starts, and those still in flight may finish (they do not count) before the
// channels close, so the server never sees a flood of cancelled streams.
// Latency is from the call to its callback.

import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuSecondsOf, track } from './procs.js';

const SELF = fileURLToPath(import.meta.url);

/** Runs the load from a forked process; resolves with its result and its CPU over the window. */
export async function runGrpcLoad({ target, concurrency = 32, channels = 4, seconds = 3, timeoutSec = 10 }) {
  const opts = { target, concurrency, channels, seconds, timeoutSec };
  const child = track(fork(SELF, ['--worker', JSON.stringify(opts)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }), 'grpc-load');
  const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 2 * timeoutSec + 15) * 1000);
  let cpu0 = null;
  let result = null;
  try {
    // Resolves when the worker has exited: after its result it lets the calls in
    // flight end and closes its channels, which the next round must not overlap.
    await new Promise((resolve, reject) => {
      child.on('message', (m) => {
        if (m.mark === 'start') cpu0 = cpuSecondsOf(child.pid);
        else if (m.mark === 'end') {
          const cpu1 = cpuSecondsOf(child.pid);
          const { mark: _, ...stats } = m;
          result = { ...stats, generatorCpuPercent: cpu0 !== null && cpu1 !== null ? (100 * (cpu1 - cpu0)) / stats.seconds : null };
        } else if (m.error) reject(new Error(`grpc-load: ${m.error}`));
      });
      child.once('error', reject);
      child.once('exit', (code) => (result === null ? reject(new Error(`grpc-load worker exited (${code}) without a result: ${child.stderrTail}`)) : resolve()));
    });
    return { tool: 'grpc-js', concurrency, channels, ...result };
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
}

/** Nearest-rank percentile of a sorted array, in whole microseconds. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] * 1000) / 1000;
}

async function worker(opts) {
  const grpc = await import('@grpc/grpc-js');
  const { CATALOG, REQUEST } = await import('./grpc-catalog.js');
  const Client = grpc.makeGenericClientConstructor(CATALOG, 'Catalog');
  const address = opts.target.replace(/^https?:\/\//, '');
  const clients = Array.from({ length: opts.channels }, () => new Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  const ready = (c) => new Promise((resolve, reject) => c.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));
  await Promise.all(clients.map(ready));

  const times = [];
  const byCode = {};
  let running = true;
  let inFlight = 0;
  let drained = null;
  const t0 = performance.now();
  const end = t0 + opts.seconds * 1000;
  process.send({ mark: 'start' });

  const call = (client) => {
    const start = performance.now();
    inFlight++;
    client.GetItem(REQUEST, new grpc.Metadata(), { deadline: Date.now() + opts.timeoutSec * 1000 }, (err) => {
      inFlight--;
      const now = performance.now();
      if (now <= end) {
        const code = err ? (grpc.status[err.code] ?? String(err.code)) : 'OK';
        byCode[code] = (byCode[code] ?? 0) + 1;
        if (!err) times.push(now - start);
      }
      if (running && now < end) call(client);
      else if (inFlight === 0) drained?.();
    });
  };
  for (let i = 0; i < opts.concurrency; i++) call(clients[i % clients.length]);

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, end - performance.now())));
  running = false;
  const windowSec = (performance.now() - t0) / 1000;
  const sorted = Float64Array.from(times).sort();
  const total = Object.values(byCode).reduce((a, b) => a + b, 0);
  const ok = byCode.OK ?? 0;
  const timeouts = byCode.DEADLINE_EXCEEDED ?? 0;
  process.send({
    mark: 'end',
    requests: total,
    seconds: windowSec,
    rps: ok / windowSec,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    // Calls that ended with a status other than OK: UNAVAILABLE and INTERNAL are
    // what grpc-js makes of a broken connection or a proxy's HTTP error.
    errors: total - ok - timeouts,
    timeouts,
    non2xx: 0,
    byCode,
  });
  // Let the calls still in flight end (they are bounded by their deadline) before closing.
  if (inFlight > 0) await new Promise((resolve) => (drained = resolve));
  for (const c of clients) c.close();
  process.exit(0);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--worker') {
  process.on('disconnect', () => process.exit(0));
  try {
    await worker(JSON.parse(process.argv[3]));
  } catch (err) {
    process.send?.({ error: String(err?.message ?? err) });
    process.exit(1);
  }
}
