// A dark backend that fails in every way the dark-chaos scenario asks for, run as
// its own process (fork it; procs.js startChaosBackend() does):
//
//   node benchmarks/lib/chaos-backend.js [--max-body-bytes 1048576]
//
// Request n (counted from 0 in arrival order) gets the answer SCHEDULE[n % CYCLE]: a
// fixed rotation, not a random draw, so every run serves the same mix in the same
// order. MIX below says how many of each failure a cycle holds; they are spread evenly
// over the cycle, taken in turn (hang, slow, close-after-head, ..., slow, ...), and
// every other request gets the live backend's ~1 KB JSON (lib/document.js).
//
// It listens on 127.0.0.1, port 0, and sends {port, cycle, mix} to its parent over
// IPC, each mix entry saying exactly what it serves; the message 'count' is answered
// with {count, served: {kind: requests}}.

import http from 'node:http';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { BODY, HEADERS } from './document.js';
import { exitWithParent } from './exit.js';

const MiB = 1024 * 1024;
const { values } = parseArgs({ options: { 'max-body-bytes': { type: 'string', default: String(MiB) } } });
/** umbra's mirror.maxBodyBytes (default 1 MiB): two answers sit exactly on it and one byte over. */
const MAX_BODY = Number(values['max-body-bytes']);
if (!(Number.isSafeInteger(MAX_BODY) && MAX_BODY >= 64)) {
  process.stderr.write(`chaos-backend: bad --max-body-bytes ${values['max-body-bytes']}\n`);
  process.exit(2);
}
const SLOW_MS = 200;
/** What each bomb expands to; gzip-in-gzip's inner layer is four such members (1 GiB). */
const BOMB_BYTES = 256 * MiB;
const CYCLE = 5000;

function jsonOfSize(n) {
  const head = '{"padding":"';
  const tail = '"}';
  return Buffer.from(head + 'x'.repeat(n - head.length - tail.length) + tail);
}

/**
 * The bombs, built once at start-up (about 1.5 s of CPU). Zeros from Buffer.alloc:
 * the pages are never written, so the 256 MiB cost no memory. Brotli at quality 9
 * with a 16 MiB window: 203 bytes, the same as at quality 11 (211) but in 0.4 s
 * instead of 6-23 s.
 */
function buildBombs() {
  const zeros = Buffer.alloc(BOMB_BYTES);
  const br = zlib.brotliCompressSync(zeros, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 9,
      [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: zeros.length,
    },
  });
  const gzip = zlib.gzipSync(zeros, { level: 9 });
  const deflate = zlib.deflateSync(zeros, { level: 9 }); // zlib-wrapped, as RFC 9110 "deflate" means
  // A gzip stream may hold several members (RFC 1952 §2.2); four of the gzip bomb
  // make 1 GiB, and gzip over that shrinks the whole to about 2 KB.
  const gzipGzip = zlib.gzipSync(Buffer.concat([gzip, gzip, gzip, gzip]), { level: 9 });
  const bombs = { br, gzip, deflate, gzipGzip };
  for (const [k, b] of Object.entries(bombs)) {
    // A bomb over the body cap would be cut before umbra ever decodes it.
    if (b.length >= MAX_BODY) throw new Error(`chaos-backend: the ${k} bomb is ${b.length} bytes, not under ${MAX_BODY}`);
  }
  return bombs;
}

const bombs = buildBombs();
const BODY_AT_CAP = jsonOfSize(MAX_BODY);
const BODY_OVER_CAP = jsonOfSize(MAX_BODY + 1);
// Not HTTP: a NUL, a few words, then every byte value once.
const GARBAGE = Buffer.concat([Buffer.from('\x00chaos: this is not an HTTP answer\r\n\r\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
const ENDLESS_CHUNK = Buffer.from('0,'.repeat(8192)); // 16 KiB of a JSON array that never closes
/** Status line and headers of the healthy answer, for the answers that break off after them. */
const HEAD = Buffer.from(
  `HTTP/1.1 200 OK\r\n${Object.entries(HEADERS)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`,
);

function compressed(res, body, encoding) {
  res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding, 'content-length': String(body.length) });
  res.end(body);
}

function healthy(res) {
  res.writeHead(200, HEADERS);
  res.end(BODY);
}

/** Every kind of answer: what it does (for the report), how many a cycle holds, and the handler. */
const MIX = [
  {
    kind: 'hang',
    perCycle: 1,
    what: 'reads the request and never answers (umbra\'s dark timeout ends it)',
    answer() {
      // Nothing to do: the socket stays open until umbra gives up on it.
    },
  },
  {
    kind: 'slow',
    perCycle: 5,
    what: `the healthy answer, ${SLOW_MS} ms late`,
    answer(_req, res) {
      setTimeout(() => res.destroyed || healthy(res), SLOW_MS);
    },
  },
  {
    kind: 'close-after-head',
    perCycle: 5,
    what: `status line and headers (content-length ${BODY.length}), then socket.destroy()`,
    answer(req) {
      req.socket.write(HEAD, () => req.socket.destroy());
    },
  },
  {
    kind: 'reset-mid-body',
    perCycle: 5,
    what: `headers and ${BODY.length >> 1} of ${BODY.length} body bytes, then a TCP reset (socket.resetAndDestroy())`,
    answer(req) {
      req.socket.write(Buffer.concat([HEAD, BODY.subarray(0, BODY.length >> 1)]), () => req.socket.resetAndDestroy());
    },
  },
  {
    kind: 'garbage',
    perCycle: 5,
    what: `${GARBAGE.length} bytes that are not HTTP, then close`,
    answer(req) {
      req.socket.end(GARBAGE);
    },
  },
  {
    kind: 'endless',
    perCycle: 1,
    what: 'a chunked body ("0,0,0,..." in 16 KiB chunks) written for as long as the client reads',
    answer(_req, res) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      const more = () => {
        // Backpressure: write until the socket's buffer is full, then wait for 'drain';
        // once umbra hangs up the response is destroyed and 'drain' never comes.
        while (!res.destroyed && res.write(ENDLESS_CHUNK));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    },
  },
  {
    kind: 'body-at-cap',
    perCycle: 1,
    what: `a JSON body of exactly ${MAX_BODY} bytes (mirror.maxBodyBytes)`,
    answer(_req, res) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(BODY_AT_CAP.length) });
      res.end(BODY_AT_CAP);
    },
  },
  {
    kind: 'body-over-cap',
    perCycle: 1,
    what: `a JSON body of ${MAX_BODY + 1} bytes, one over the cap`,
    answer(_req, res) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(BODY_OVER_CAP.length) });
      res.end(BODY_OVER_CAP);
    },
  },
  {
    kind: 'bomb-br',
    perCycle: 1,
    what: `content-encoding: br, ${bombs.br.length} bytes that expand to ${BOMB_BYTES / MiB} MiB of zeros`,
    answer: (_req, res) => compressed(res, bombs.br, 'br'),
  },
  {
    kind: 'bomb-gzip',
    perCycle: 1,
    what: `content-encoding: gzip, ${bombs.gzip.length} bytes that expand to ${BOMB_BYTES / MiB} MiB of zeros`,
    answer: (_req, res) => compressed(res, bombs.gzip, 'gzip'),
  },
  {
    kind: 'bomb-deflate',
    perCycle: 1,
    what: `content-encoding: deflate (zlib), ${bombs.deflate.length} bytes that expand to ${BOMB_BYTES / MiB} MiB of zeros`,
    answer: (_req, res) => compressed(res, bombs.deflate, 'deflate'),
  },
  {
    kind: 'bomb-gzip-gzip',
    perCycle: 1,
    what:
      `content-encoding: gzip, gzip, ${bombs.gzipGzip.length} bytes; the outer layer expands to 4 gzip members of ` +
      `${bombs.gzip.length} bytes, each ${BOMB_BYTES / MiB} MiB of zeros (1 GiB in all)`,
    answer: (_req, res) => compressed(res, bombs.gzipGzip, 'gzip, gzip'),
  },
];

/** SCHEDULE[i] is the MIX entry for request i of a cycle, or null for a healthy answer. */
// Diagnosis only: CHAOS_ONLY=kind[,kind] keeps just those failures (the rest answer healthy).
const ONLY = process.env.CHAOS_ONLY ? new Set(process.env.CHAOS_ONLY.split(',')) : null;
const SCHEDULE = (() => {
  const order = [];
  for (let round = 0; order.length < MIX.reduce((n, m) => n + m.perCycle, 0); round++) {
    for (const m of MIX) if (round < m.perCycle) order.push(m);
  }
  const schedule = new Array(CYCLE).fill(null);
  // Failure k of F sits at floor((k + 1) * CYCLE / (F + 1)): evenly spaced, never at 0.
  order.forEach((m, k) => {
    if (ONLY === null || ONLY.has(m.kind)) schedule[Math.floor(((k + 1) * CYCLE) / (order.length + 1))] = m;
  });
  return schedule;
})();

const served = Object.fromEntries([['healthy', 0], ...MIX.map((m) => [m.kind, 0])]);
let requests = 0;

const server = http.createServer((req, res) => {
  const m = SCHEDULE[requests % CYCLE];
  requests++;
  served[m === null ? 'healthy' : m.kind]++;
  req.resume();
  req.once('end', () => (m === null ? healthy(res) : m.answer(req, res)));
});
server.keepAliveTimeout = 30_000;
server.headersTimeout = 35_000;
server.requestTimeout = 0;

server.listen(0, '127.0.0.1', () => {
  process.send?.({
    port: server.address().port,
    mode: 'chaos',
    cycle: CYCLE,
    mix: MIX.map(({ kind, perCycle, what }) => ({ kind, perCycle, what })),
  });
});

process.on('message', (msg) => {
  if (msg === 'count') process.send?.({ count: requests, served: { ...served } });
});

exitWithParent(server);
