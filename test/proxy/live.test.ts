// The live path against real loopback servers: bodies, streaming, headers,
// upgrades, failures and refusals (DESIGN §2, guarantees 1 and 5).
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { refusedPort, json, metricValue, request, sleep, startBackend, until, type Backend } from '../helpers/net.js';
import { startTestUmbra } from '../helpers/umbra.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A backend that answers with what it was sent, plus a digest of it. */
async function echoBackend(): Promise<Backend> {
  return startBackend((req, res, body) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-body-sha256': sha(body), 'x-method': req.method ?? '' });
    res.end(body);
  });
}

t.test('bodies are byte-identical both ways', async (t) => {
  const live = await echoBackend();
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  for (const [name, body] of [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['binary', binary],
  ] as const) {
    const r = await request(`${umbra.proxyUrl}/echo`, { method: 'POST', body });
    t.equal(r.status, 200, `${name}: status`);
    t.equal(r.headers['x-body-sha256'], sha(body), `${name}: backend got the same bytes`);
    t.ok(r.body.equals(body), `${name}: client got the same bytes`);
  }
});

t.test('a 10 MiB chunked upload and download stream through unchanged', async (t) => {
  const payload = randomBytes(10 * 1024 * 1024);
  const live = await echoBackend();
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const reply = await new Promise<{ status: number; digest: string; hash: string; te: string | undefined }>((resolve, reject) => {
    const req = http.request(`${umbra.proxyUrl}/upload`, { method: 'PUT', agent: false }, (res) => {
      const h = createHash('sha256');
      res.on('data', (c: Buffer) => h.update(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, digest: String(res.headers['x-body-sha256']), hash: h.digest('hex'), te: undefined }),
      );
    });
    req.on('error', reject);
    // Written in 64 KiB pieces without a content-length: chunked on the wire.
    let off = 0;
    const write = (): void => {
      while (off < payload.length) {
        const piece = payload.subarray(off, off + 65536);
        off += piece.length;
        if (!req.write(piece)) {
          req.once('drain', write);
          return;
        }
      }
      req.end();
    };
    write();
  });
  t.equal(reply.status, 200);
  t.equal(live.seen[0]?.headers['transfer-encoding'], 'chunked', 'the upload reached live chunked');
  t.equal(reply.digest, sha(payload), 'live received every byte');
  t.equal(reply.hash, sha(payload), 'the client received every byte back');
});

t.test('the client gets the first chunk before the backend has sent the last', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let backendEnded = false;
  const live = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first-chunk\n');
    void released.then(() => {
      backendEnded = true;
      res.end('last-chunk\n');
    });
  });
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get(`${umbra.proxyUrl}/stream`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text === '') {
            t.equal(c, 'first-chunk\n', 'first chunk arrives alone');
            t.equal(backendEnded, false, 'the backend had not finished when the first chunk arrived');
            release();
          }
          text += c;
        });
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  t.equal(body, 'first-chunk\nlast-chunk\n');
});

t.test('headers round-trip; hop-by-hop headers are removed; forwarding headers set', async (t) => {
  const live = await startBackend((_req, res) => {
    res.setHeader('x-answer', 'yes');
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
    res.setHeader('connection', 'x-private, keep-alive');
    res.setHeader('x-private', 'hop');
    res.setHeader('keep-alive', 'timeout=77');
    res.end('ok');
  });
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const r = await request(`${umbra.proxyUrl}/h?q=1`, {
    headers: {
      'x-custom': 'value',
      traceparent,
      connection: 'x-secret-hop',
      'x-secret-hop': 'must not pass',
      te: 'trailers',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-port': '443',
    },
  });
  t.equal(r.status, 200);
  const got = live.seen[0]?.headers ?? {};
  t.equal(live.seen[0]?.url, '/h?q=1', 'path and query forwarded as is');
  t.equal(got['x-custom'], 'value');
  t.equal(got.traceparent, traceparent, 'traceparent passes through');
  t.equal(got['x-secret-hop'], undefined, 'a header named in Connection is removed');
  t.equal(got.te, undefined, 'te removed');
  t.equal(got['proxy-authorization'], undefined, 'proxy-authorization removed');
  t.equal(got['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'x-forwarded-for appended');
  t.equal(got['x-forwarded-proto'], 'http');
  t.equal(got['x-forwarded-port'], '443', 'other forwarding headers pass through');
  t.match(got['x-forwarded-host'], /^127\.0\.0\.1:\d+$/);
  t.equal(r.headers['x-answer'], 'yes');
  t.same(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'], 'repeated set-cookie kept');
  t.equal(r.headers['x-private'], undefined, 'a response header named in Connection is removed');
  t.not(r.headers['keep-alive'], 'timeout=77', "the backend's keep-alive is not forwarded");
});

t.test('a WebSocket echo passes through untouched', async (t) => {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const umbra = await startTestUmbra(`live: { url: "http://127.0.0.1:${port}" }`);
  t.teardown(async () => {
    await umbra.stop();
    wss.close();
    server.closeAllConnections();
    server.close();
  });
  const ws = new WebSocket(`${umbra.proxyUrl.replace('http', 'ws')}/socket`);
  await once(ws, 'open');
  const answers: string[] = [];
  ws.on('message', (d: Buffer) => answers.push(d.toString()));
  ws.send('hello');
  ws.send('world');
  await until(() => answers.length === 2, 5000, 'two echoes');
  t.same(answers, ['hello', 'world']);
  ws.close();
});

t.test('an unreachable live backend gives 502 with a JSON error', async (t) => {
  const port = await refusedPort();
  const umbra = await startTestUmbra(`live: { url: "http://127.0.0.1:${port}" }`);
  t.teardown(() => umbra.stop());
  const r = await json(`${umbra.proxyUrl}/x`);
  t.equal(r.status, 502);
  t.equal(r.body.code, 'UMBRA_LIVE_CONNECT');
  t.match(r.body.error, /unreachable/);
  t.ok(umbra.logs.some((l) => l.msg === 'live backend failed' && l.reason === 'connect'), 'logged');
  const m = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(m, 'umbra_requests_total', { route: 'default', code: '502' }), 1);
  t.equal(metricValue(m, 'umbra_live_errors_total', { reason: 'connect' }), 1);
});

t.test('a live backend that does not answer in time gives 504', async (t) => {
  const live = await startBackend(() => {
    /* never answers */
  });
  const umbra = await startTestUmbra(`live: { url: "${live.url}", timeout: 200ms }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const started = Date.now();
  const r = await json(`${umbra.proxyUrl}/slow`);
  t.equal(r.status, 504);
  t.equal(r.body.code, 'UMBRA_LIVE_TIMEOUT');
  t.ok(Date.now() - started < 5000, 'answered by the timeout, not by the backend');
});

t.test('a live answer that breaks mid-body ends the client response abnormally', async (t) => {
  const live = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write(Buffer.alloc(100, 1));
    setTimeout(() => res.socket?.destroy(), 50);
  });
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const outcome = await new Promise<string>((resolve) => {
    http
      .get(`${umbra.proxyUrl}/broken`, { agent: false }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.complete ? 'complete' : 'incomplete'));
        res.on('error', () => resolve('error'));
        res.on('aborted', () => resolve('aborted'));
      })
      .on('error', () => resolve('error'));
  });
  t.not(outcome, 'complete', `the client saw the break (${outcome})`);
});

t.test('a client abort reaches the live backend', async (t) => {
  let backendSawClose!: () => void;
  const closed = new Promise<void>((r) => (backendSawClose = r));
  const live = await startBackend(
    (_req, res) => {
      res.on('close', () => backendSawClose());
    },
    { raw: true },
  );
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const req = http.get(`${umbra.proxyUrl}/hold`, { agent: false });
  req.on('error', () => undefined);
  await until(() => live.seen.length === 1, 5000, 'the backend to get the request');
  req.destroy();
  const result = await Promise.race([closed.then(() => 'closed'), sleep(5000).then(() => 'still open')]);
  t.equal(result, 'closed', 'the upstream request was cancelled');
  await until(
    async () => metricValue((await request(`${umbra.adminUrl}/metrics`)).body.toString(), 'umbra_requests_total', { code: '499' }) === 1,
    5000,
    'the abort to be counted as 499',
  );
  t.pass('the abort was counted as code 499');
});

/** Sends raw bytes and returns everything the server answered. */
async function raw(url: string, bytes: string): Promise<string> {
  const { port } = new URL(url);
  const sock = net.connect(Number(port), '127.0.0.1');
  await once(sock, 'connect');
  sock.write(bytes);
  let out = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (out += d));
  await Promise.race([once(sock, 'close'), sleep(3000)]);
  sock.destroy();
  return out;
}

t.test('malformed and ambiguous requests get 400 and are never forwarded', async (t) => {
  const live = await echoBackend();
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\nlimits: { maxHeaderBytes: 4KiB }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const smuggle = await raw(
    umbra.proxyUrl,
    'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  t.match(smuggle, /^HTTP\/1\.1 400 /, 'content-length with transfer-encoding is refused');
  t.match(smuggle, /"error":"malformed request"/, 'with a JSON body');
  const garbage = await raw(umbra.proxyUrl, 'GARBAGE\r\n\r\n');
  t.match(garbage, /^HTTP\/1\.1 400 /, 'a broken request line is refused');
  const big = await raw(umbra.proxyUrl, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(8192)}\r\n\r\n`);
  t.match(big, /^HTTP\/1\.1 431 /, 'oversized headers get 431');
  t.equal(live.seen.length, 0, 'nothing reached the live backend');
  const m = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(m, 'umbra_client_errors_total', { reason: 'malformed' }), 2);
  t.equal(metricValue(m, 'umbra_client_errors_total', { reason: 'header_too_large' }), 1);
});

t.test('a client that never finishes its headers is cut off (slowloris)', async (t) => {
  const live = await echoBackend();
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\nlimits: { headersTimeout: 300ms, requestTimeout: 600ms }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const started = Date.now();
  const out = await raw(umbra.proxyUrl, 'GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ');
  t.match(out, /^HTTP\/1\.1 408 /, 'answered 408');
  t.ok(Date.now() - started < 2900, 'closed by the timeout');
  t.equal(live.seen.length, 0);
});

t.test('admin: health, readiness and metrics', async (t) => {
  const live = await echoBackend();
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  t.equal((await request(`${umbra.adminUrl}/healthz`)).status, 200);
  t.equal((await request(`${umbra.adminUrl}/readyz`)).status, 200);
  await request(`${umbra.proxyUrl}/a`);
  await request(`${umbra.proxyUrl}/b`, { method: 'POST', body: 'x' });
  const m = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(m, 'umbra_requests_total', { route: 'default', method: 'GET', code: '200' }), 1);
  t.equal(metricValue(m, 'umbra_requests_total', { route: 'default', method: 'POST', code: '200' }), 1);
  t.equal(metricValue(m, 'umbra_request_duration_seconds_count', { route: 'default', target: 'live' }), 2);
  t.match(m, /process_resident_memory_bytes/, 'default process metrics');
  t.match(m, /nodejs_eventloop_lag_p99_seconds/, 'event-loop lag');
  t.equal((await request(`${umbra.adminUrl}/nope`)).status, 404);
});

t.test('a live backend that answers garbage gives 502, not a half-parsed answer', async (t) => {
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.once('data', () => sock.end('NOT HTTP AT ALL\r\n\r\n'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const umbra = await startTestUmbra(`live: { url: "http://127.0.0.1:${(server.address() as net.AddressInfo).port}" }`);
  t.teardown(async () => {
    await umbra.stop();
    server.close();
  });
  const r = await json(`${umbra.proxyUrl}/x`);
  t.equal(r.status, 502);
  t.equal(r.body.code, 'UMBRA_LIVE_PROTOCOL');
  const m = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(m, 'umbra_live_errors_total', { reason: 'protocol' }), 1);
});
