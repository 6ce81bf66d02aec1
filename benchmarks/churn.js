// Connection churn without umbra: what a backend that closes one connection in N
// costs a bare HTTP client, to reproduce a finding of docs/architecture.md
// ("Measured: why a chaotic dark still costs live throughput at full load").
//
//   node benchmarks/churn.js [--every 100] [--rounds 8] [--seconds 3] [--client undici|http] [--quiet]
//
// Two backends in one child process (lib/document.js's ~1 KB JSON): one keeps every
// connection open, the other answers every Nth request with `Connection: close`
// (a healthy answer, no error). This process drives each in turn, in interleaved
// rounds, with 32 requests in flight on a pool of 32 connections (undici's Pool, or
// node:http's Agent), and measures its own CPU (process.cpuUsage) per request. It
// prints both series and the median of the paired ratios (closing / keeping). On a
// shared machine single rounds swing widely: trust the median, not a round.
// --quiet (undici only) adds a third client for the closing backend, built on umbra's
// own connector (dist/http/quiet-socket.js: no stack traces captured in socket
// events; `npm run build` first), measured in the same rounds, so the two ways of
// closing are compared under the same machine weather.
// Everything talks to 127.0.0.1 and the run has a fixed length.

import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { median } from './lib/format.js';

const { values } = parseArgs({
  options: {
    every: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
    client: { type: 'string', default: 'undici' },
    serve: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});
const EVERY = Number(values.every);
const CONCURRENCY = 32;

if (values.serve) {
  // The child: the two backends; their ports go to the parent over IPC.
  const { BODY, HEADERS } = await import('./lib/document.js');
  const listen = (closeEvery) =>
    new Promise((resolve) => {
      let n = 0;
      const server = http.createServer((req, res) => {
        req.resume();
        req.once('end', () => {
          n++;
          if (closeEvery > 0 && n % closeEvery === 0) res.setHeader('connection', 'close');
          res.writeHead(200, HEADERS);
          res.end(BODY);
        });
      });
      server.keepAliveTimeout = 30_000;
      server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    });
  const keep = await listen(0);
  const close = await listen(EVERY);
  process.send({ keep, close });
  process.on('disconnect', () => process.exit(0));
} else {
  if (!(Number.isInteger(EVERY) && EVERY >= 2) || !['undici', 'http'].includes(values.client) || (values.quiet && values.client !== 'undici')) {
    process.stderr.write('churn: --every needs a whole number ≥ 2, --client undici or http (--quiet: undici only)\n');
    process.exit(2);
  }
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const child = fork(fileURLToPath(import.meta.url), ['--serve', '--every', String(EVERY)], { stdio: 'inherit' });
  const ports = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`churn: the backends exited (${code})`)));
  });

  /** A client for one backend: `one()` sends a GET and resolves when its answer has been read. */
  const { quietConnector } = values.quiet ? await import('../dist/http/quiet-socket.js') : {};
  function client(port, quiet = false) {
    if (values.client === 'undici') {
      const connect = quiet ? { connect: quietConnector({ timeout: 10_000 }) } : {};
      const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, pipelining: 1, ...connect });
      return {
        one: async () => {
          const r = await pool.request({ path: '/', method: 'GET' });
          for await (const _ of r.body);
        },
        close: () => pool.close(),
      };
    }
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    return {
      one: () =>
        new Promise((resolve, reject) => {
          http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => res.resume().once('end', resolve)).once('error', reject);
        }),
      close: async () => agent.destroy(),
    };
  }

  /** Requests answered and CPU µs per request over `secs` seconds of CONCURRENCY loops. */
  async function round(c, secs) {
    let n = 0;
    let stop = false;
    const timer = setTimeout(() => (stop = true), secs * 1000);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (!stop) {
          await c.one();
          n++;
        }
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    clearTimeout(timer);
    return { rps: (n * 1000) / (performance.now() - t0), cpuUs: (cpu.user + cpu.system) / n };
  }

  const clients = { keep: client(ports.keep), close: client(ports.close) };
  if (values.quiet) clients.quiet = client(ports.close, true);
  const sides = Object.keys(clients);
  for (const c of Object.values(clients)) await round(c, 1);
  const rows = Object.fromEntries(sides.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    // Each round starts with a different side, and every second one runs backwards.
    const order = sides.map((_, i) => sides[(i + r) % sides.length]);
    if (r % 2 === 1) order.reverse();
    for (const side of order) rows[side].push(await round(clients[side], seconds));
  }
  await Promise.all(Object.values(clients).map((c) => c.close()));
  child.disconnect();
  const fmt = (xs, f) => xs.map(f).join(', ');
  const ratio = (side, k, base = 'keep') => median(rows[base].map((x, i) => rows[side][i][k] / x[k]));
  console.log(`client: ${values.client}, ${CONCURRENCY} in flight; one connection in ${EVERY} closed by the backend; ${rounds} rounds of ${seconds} s`);
  const label = { keep: 'keeping', close: 'closing', quiet: 'closing, quiet sockets' };
  for (const side of sides) console.log(`${label[side]}: req/s ${fmt(rows[side], (x) => x.rps.toFixed(0))}; CPU µs/request ${fmt(rows[side], (x) => x.cpuUs.toFixed(1))}`);
  for (const side of sides.slice(1)) {
    console.log(`${label[side]} / keeping, median of paired rounds: req/s ${ratio(side, 'rps').toFixed(3)}, CPU per request ${ratio(side, 'cpuUs').toFixed(3)}`);
  }
  if (values.quiet) console.log(`quiet / plain while closing, median of paired rounds: req/s ${ratio('quiet', 'rps', 'close').toFixed(3)}, CPU per request ${ratio('quiet', 'cpuUs', 'close').toFixed(3)}`);
}
