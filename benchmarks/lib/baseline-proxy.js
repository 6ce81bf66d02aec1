// Minimal reverse proxies to compare umbra's live path against, run as their own
// process (fork it):
//
//   node benchmarks/lib/baseline-proxy.js --kind http-proxy|undici --target http://127.0.0.1:PORT
//
//   http-proxy  http-proxy's web() with a keep-alive agent: the proxy umbra's live path used before 0.2.0
//   undici      an undici Pool with keep-alive; the answer is streamed back (pool.stream)
//
// Both drop hop-by-hop headers and answer 502 when the target fails. No mirroring,
// no metrics, no logging: the floor for a Node.js proxy. Sends {port} over IPC.

import http from 'node:http';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';
import { exitWithParent } from './exit.js';

const { values } = parseArgs({ options: { kind: { type: 'string' }, target: { type: 'string' } } });
const target = values.target;
if (target === undefined || !['http-proxy', 'undici'].includes(values.kind)) {
  process.stderr.write('usage: baseline-proxy.js --kind http-proxy|undici --target URL\n');
  process.exit(2);
}

// The same idle timeouts as umbra (src/proxy/server.ts, src/proxy/forward.ts): a
// client connection idle 5 s is closed, an upstream one after 4 s. Scenarios that
// idle between rounds (cpu) then make both proxies reconnect alike; with 30 s here
// only umbra paid for new connections in every round.
const CLIENT_IDLE_MS = 5_000;
const UPSTREAM_IDLE_MS = 4_000;

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

function badGateway(res) {
  if (!res.headersSent) {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end('{"error":"bad gateway"}');
  } else {
    res.destroy();
  }
}

function httpProxyHandler() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
  const proxy = httpProxy.createProxyServer({ target, agent, xfwd: false });
  proxy.on('error', (_err, _req, res) => badGateway(res));
  return (req, res) => proxy.web(req, res);
}

function undiciHandler() {
  const pool = new Pool(target, { connections: 256, pipelining: 1, keepAliveTimeout: UPSTREAM_IDLE_MS });
  return (req, res) => {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k) && k !== 'host') headers[k] = v;
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool
      .stream(
        { path: req.url, method: req.method, headers, body: hasBody ? req : null },
        ({ statusCode, headers: h }) => {
          const out = {};
          for (const [k, v] of Object.entries(h)) if (!HOP.has(k)) out[k] = v;
          res.writeHead(statusCode, out);
          return res;
        },
      )
      .catch(() => badGateway(res));
  };
}

const handler = values.kind === 'http-proxy' ? httpProxyHandler() : undiciHandler();
const server = http.createServer(handler);
server.keepAliveTimeout = CLIENT_IDLE_MS;
server.headersTimeout = 35_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port, kind: values.kind }));

exitWithParent(server);
