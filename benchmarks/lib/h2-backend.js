// The HTTP/2 backend of the h2 scenario, run as its own process (fork it):
//
//   node benchmarks/lib/h2-backend.js
//
// HTTP/2 in clear text with prior knowledge (h2c, Node's http2.createServer), no
// HTTP/1.1: it answers every request at once with the same ~1 KB JSON document as
// lib/backend.js (lib/document.js), so a live and a dark one answer alike and the
// h2 rows can be read next to the HTTP/1.1 ones. It listens on 127.0.0.1, port 0,
// sends {port} to its parent over IPC and answers 'count' with {count}.

import http2 from 'node:http2';
import { BODY, HEADERS } from './document.js';

let requests = 0;
const sessions = new Set();

// The streams limit is above what h2load (-m 10) or umbra's pool opens per connection.
const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } }, (req, res) => {
  requests++;
  // Read the request body (if any) before answering, as a real service would.
  req.resume();
  req.once('end', () => {
    res.writeHead(200, HEADERS);
    res.end(BODY);
  });
});
server.on('session', (s) => {
  sessions.add(s);
  s.once('close', () => sessions.delete(s));
});

server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: server.address().port, bytes: BODY.length, mode: 'h2c' });
});

process.on('message', (m) => {
  if (m === 'count') process.send?.({ count: requests });
});

// exit.js's exitWithParent() uses closeAllConnections(), which an Http2Server lacks.
const shutdown = () => {
  server.close();
  for (const s of sessions) s.destroy();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('disconnect', shutdown);
