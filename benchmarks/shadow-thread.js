// The shadow path on the live thread or on a thread of its own, without umbra: a
// design check behind docs/architecture.md ("Measured: the shadow path on a thread
// of its own").
//
//   node benchmarks/shadow-thread.js [--rounds 6] [--seconds 4]
//
// A minimal mirroring proxy (undici Pools, node:http server; one process per
// configuration) forwards every GET to live and streams the answer back, and sends
// a copy of each to dark (at most 64 under way), reads dark's answer up to 1 MiB and
// compares the bytes. Two ways of sending the copies:
//   inline  on the event loop that serves live, as umbra does;
//   thread  from a worker thread: a copy and then live's answer go to it, and each
//           outcome (dark's answer, moved) comes back, in one message per turn of
//           each side's event loop.
// Each with two darks: healthy (the live answer) and chaos (lib/chaos-backend.js,
// every failure of the dark-chaos scenario). wrk drives each of the four proxies in
// turn, 32 connections, interleaved rounds (every second one in reverse order); the
// script prints each configuration's median req/s and proxy CPU per request (all
// threads, and the main thread alone), then medians of paired ratios. Everything
// talks to 127.0.0.1; about 2 minutes with the defaults.

import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import { median, pairedMedian } from './lib/format.js';

const MAX_IN_FLIGHT = 64;
const MAX_BODY = 1024 * 1024;

/** Reads an undici body up to MAX_BODY; null when it failed. */
async function readBody(body) {
  const chunks = [];
  let n = 0;
  try {
    for await (const c of body) {
      chunks.push(c);
      n += c.length;
      if (n > MAX_BODY) {
        body.destroy();
        break;
      }
    }
  } catch {
    return null;
  }
  return Buffer.concat(chunks);
}

function darkRequest(pool, m) {
  return pool.request({ path: m.path, method: m.method, headers: m.headers, headersTimeout: 5000, bodyTimeout: 5000 }).then(
    (r) => readBody(r.body),
    () => null,
  );
}

/** A batcher: `push` queues a message, sent with the others of this turn by `post(batch, transfer)`. */
function batcher(post) {
  let batch = [];
  let transfer = [];
  const flush = () => {
    const b = batch;
    const t = transfer;
    batch = [];
    transfer = [];
    post(b, t);
  };
  return (msg, buffer) => {
    if (batch.length === 0) setImmediate(flush);
    batch.push(msg);
    if (buffer !== undefined) transfer.push(buffer);
  };
}

/** An owned ArrayBuffer of `b`'s bytes, to transfer. */
function owned(b) {
  const ab = new ArrayBuffer(b.length);
  new Uint8Array(ab).set(b);
  return ab;
}

if (!isMainThread) {
  // The shadow thread: sends the copies, compares, hands each outcome back.
  const dark = new Pool(workerData.dark, { connections: MAX_IN_FLIGHT });
  const live = new Map();
  const back = batcher((b, t) => parentPort.postMessage(b, t));
  parentPort.on('message', (batch) => {
    for (const m of batch) {
      if (m.t === 'live') {
        live.set(m.id, Buffer.from(m.body));
        continue;
      }
      darkRequest(dark, m).then((body) => {
        const l = live.get(m.id);
        live.delete(m.id);
        if (body !== null && l !== undefined) Buffer.compare(l, body);
        if (body === null) back({ id: m.id, ok: false });
        else {
          const ab = owned(body);
          back({ id: m.id, ok: true, body: ab }, ab);
        }
      });
    }
  });
} else {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '6' },
      seconds: { type: 'string', default: '4' },
      serve: { type: 'string' },
      live: { type: 'string' },
      dark: { type: 'string' },
    },
  });
  if (values.serve !== undefined) await serve(values.serve, values.live, values.dark);
  else await run(Number(values.rounds), Number(values.seconds));
}

/** The proxy (a child process): `mode` inline or thread. */
async function serve(mode, liveUrl, darkUrl) {
  const live = new Pool(liveUrl, { connections: 64 });
  let inFlight = 0;
  let shadow;
  if (mode === 'inline') {
    const dark = new Pool(darkUrl, { connections: MAX_IN_FLIGHT });
    shadow = (m) => {
      const p = darkRequest(dark, m);
      p.then(() => inFlight--);
      return (liveBody) => p.then((body) => body !== null && Buffer.compare(liveBody, body));
    };
  } else {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { dark: darkUrl } });
    const send = batcher((b, t) => worker.postMessage(b, t));
    worker.on('message', (batch) => {
      for (const o of batch) {
        inFlight--;
        if (o.ok) Buffer.from(o.body);
      }
    });
    shadow = (m) => {
      send({ t: 'req', ...m });
      return (liveBody) => {
        const ab = owned(liveBody);
        send({ t: 'live', id: m.id, body: ab }, ab);
      };
    };
  }
  let id = 0;
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers };
    delete headers.connection;
    let compare = null;
    if (inFlight < MAX_IN_FLIGHT) {
      inFlight++;
      compare = shadow({ id: id++, path: req.url, method: req.method, headers });
    }
    req.resume();
    live.request({ path: req.url, method: req.method, headers }).then(
      async (r) => {
        const h = { ...r.headers };
        delete h.connection;
        delete h['keep-alive'];
        delete h['transfer-encoding'];
        res.writeHead(r.statusCode, h);
        const chunks = [];
        for await (const c of r.body) {
          res.write(c);
          if (compare !== null) chunks.push(c);
        }
        res.end();
        if (compare !== null) compare(Buffer.concat(chunks));
      },
      () => {
        res.statusCode = 502;
        res.end();
      },
    );
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
}

async function run(rounds, seconds) {
  if (!(Number.isInteger(rounds) && rounds >= 1 && seconds > 0)) {
    process.stderr.write('shadow-thread: --rounds needs a whole number ≥ 1, --seconds a positive number\n');
    process.exit(2);
  }
  const { cpuSecondsOf, forkReady, startBackend, startChaosBackend } = await import('./lib/procs.js');
  const { runLoad } = await import('./lib/load.js');
  const live = await startBackend('fast');
  const configs = [];
  for (const mode of ['inline', 'thread']) {
    for (const darkKind of ['healthy', 'chaos']) {
      const dark = darkKind === 'chaos' ? await startChaosBackend() : await startBackend('fast');
      const { child, msg } = await forkReady(fileURLToPath(import.meta.url), ['--serve', mode, '--live', live.url, '--dark', dark.url], { name: `proxy(${mode})` });
      const { port } = msg;
      configs.push({ name: `${mode}, ${darkKind} dark`, child, url: `http://127.0.0.1:${port}/api/items`, rows: [] });
    }
  }
  for (const c of configs) await runLoad({ url: c.url, seconds: 2 });
  for (let r = 0; r < rounds; r++) {
    for (const c of r % 2 === 0 ? configs : [...configs].reverse()) {
      const all0 = cpuSecondsOf(c.child.pid);
      const main0 = cpuSecondsOf(c.child.pid, c.child.pid);
      const load = await runLoad({ url: c.url, seconds });
      const n = load.rps * seconds;
      c.rows.push({
        rps: load.rps,
        cpuUs: ((cpuSecondsOf(c.child.pid) - all0) / n) * 1e6,
        mainUs: ((cpuSecondsOf(c.child.pid, c.child.pid) - main0) / n) * 1e6,
      });
    }
  }
  for (const c of configs) {
    const m = (f) => median(c.rows.map((x) => x[f]));
    console.log(`${c.name.padEnd(22)} req/s ${m('rps').toFixed(0).padStart(6)}  CPU per request ${m('cpuUs').toFixed(1)} µs (main thread ${m('mainUs').toFixed(1)} µs)`);
  }
  const [inlineHealthy, inlineChaos, threadHealthy, threadChaos] = configs;
  const ratio = (a, b, what) => console.log(`${what.padEnd(42)} ${pairedMedian(a.rows, b.rows, 'rps').toFixed(3)}`);
  console.log('medians of paired ratios, req/s:');
  ratio(inlineChaos, inlineHealthy, '  inline: chaos / healthy dark');
  ratio(threadChaos, threadHealthy, '  thread: chaos / healthy dark');
  ratio(threadHealthy, inlineHealthy, '  healthy dark: thread / inline');
  for (const c of configs) c.child.kill();
  process.exit(0);
}
