// A small backend for the benchmarks, run as its own process (fork it):
//
//   node benchmarks/lib/backend.js --mode fast|late|hang [--delay 200]
//
//   fast  answers every request at once with the same ~1 KB JSON document
//   late  the same answer, --delay ms later (a slow dark backend)
//   hang  reads the request and never answers (a hung dark backend)
//   garbage  answers every request with bytes that are not HTTP, then closes the connection
//
// It listens on 127.0.0.1, port 0, and sends {port} to its parent over IPC; the
// message 'count' is answered with {count} (requests received so far).

import http from 'node:http';
import { parseArgs } from 'node:util';
import { BODY, HEADERS } from './document.js';
import { exitWithParent } from './exit.js';

const { values } = parseArgs({
  options: { mode: { type: 'string', default: 'fast' }, delay: { type: 'string', default: '200' } },
});
const mode = values.mode;
const delay = Number(values.delay);
if (!['fast', 'late', 'hang', 'garbage'].includes(mode) || !(delay >= 0)) {
  process.stderr.write(`backend: bad --mode ${mode} or --delay ${values.delay}\n`);
  process.exit(2);
}

const hung = new Set();
let requests = 0;

const server = http.createServer((req, res) => {
  requests++;
  // Read the request body (if any) before answering, as a real service would.
  req.resume();
  req.once('end', () => {
    if (mode === 'fast') {
      res.writeHead(200, HEADERS);
      res.end(BODY);
    } else if (mode === 'late') {
      setTimeout(() => {
        res.writeHead(200, HEADERS);
        res.end(BODY);
      }, delay);
    } else if (mode === 'garbage') {
      res.socket?.end('SSH-2.0-not-http\r\n\r\n');
    } else {
      hung.add(res);
      res.once('close', () => hung.delete(res));
    }
  });
});
server.keepAliveTimeout = 30_000;
server.headersTimeout = 35_000;
server.requestTimeout = 0;

server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: server.address().port, bytes: BODY.length, mode });
});

// The parent asks how many requests arrived (e.g. to see that a mirror really sent them).
process.on('message', (m) => {
  if (m === 'count') process.send?.({ count: requests });
});

exitWithParent(server);
