// HTTP/2 on the listener (DESIGN §13): h2c with prior knowledge and HTTP/1.1 on
// one port, TLS with ALPN, `Upgrade: h2c` served as HTTP/1.1, the HTTP/2 limits
// and the rapid-reset defence; driven with Node's http2 client and curl.
import t, { type Test } from 'tap';
import http2 from 'node:http2';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { metricValue, request, startBackend, until, type Backend } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

const run = promisify(execFile);

/** Live echoes what it got: method, path, the headers umbra sent, the body. */
async function echo(t: Test): Promise<Backend> {
  const b = await startBackend((req, res, body) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-live': 'yes' });
    res.end(JSON.stringify({ method: req.method, url: req.url, httpVersion: req.httpVersion, headers: req.headers, body: body.toString('utf8') }));
  });
  t.teardown(() => b.close());
  return b;
}

async function umbra(t: Test, yaml: string): Promise<TestUmbra> {
  const u = await startTestUmbra(yaml, { level: 'info' });
  t.teardown(() => u.stop());
  return u;
}

interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let text = '';
    s.setEncoding('utf8');
    s.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = h;
    });
    s.on('trailers', (h) => (trailers = h));
    s.on('data', (d: string) => (text += d));
    s.on('end', () => resolve({ status, headers: resHeaders, body: text, trailers }));
    s.on('error', reject);
    if (body !== undefined) s.end(body);
  });
}

function connect(t: Test, url: string, opts: http2.SecureClientSessionOptions = {}): http2.ClientHttp2Session {
  const session = http2.connect(url, opts);
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  return session;
}

t.test('h2c with prior knowledge and HTTP/1.1 on the same port', async (t) => {
  const live = await echo(t);
  const u = await umbra(t, `live: { url: "${live.url}" }`);
  const session = connect(t, u.proxyUrl);
  const r = await h2request(session, { ':method': 'POST', ':path': '/items/1?x=2', 'content-type': 'application/json', 'x-client': 'h2' }, '{"a":1}');
  t.equal(r.status, 200);
  t.equal(r.headers['x-live'], 'yes', 'live\'s header comes through');
  const seen = JSON.parse(r.body);
  t.match(seen, { method: 'POST', url: '/items/1?x=2', body: '{"a":1}' }, 'method, target and body reach live');
  t.equal(seen.headers['x-client'], 'h2');
  t.match(seen.headers.host, /^127\.0\.0\.1:\d+$/, 'Host from :authority');
  t.notOk(Object.keys(seen.headers).some((k: string) => k.startsWith(':')), 'no pseudo-header reaches live');
  t.equal(seen.headers['x-forwarded-proto'], 'http');

  // Several streams at once on the one connection.
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => h2request(session, { ':path': `/n/${i}` })));
  t.same(many.map((m) => JSON.parse(m.body).url), Array.from({ length: 20 }, (_, i) => `/n/${i}`), 'twenty concurrent streams, each its own answer');

  // HTTP/1.1 on the same port, unchanged.
  const h1 = await request(`${u.proxyUrl}/plain`);
  t.equal(h1.status, 200);
  t.equal(JSON.parse(h1.body.toString()).url, '/plain');
  t.equal(metricValue(await u.metrics.registry.metrics(), 'umbra_requests_total', { route: 'default', method: 'POST', code: '200' }), 1, 'HTTP/2 requests are counted like any other');
});

t.test('curl: --http2-prior-knowledge, and --http2 (Upgrade: h2c) answered in HTTP/1.1', async (t) => {
  const live = await echo(t);
  const u = await umbra(t, `live: { url: "${live.url}" }`);
  const prior = await run('curl', ['-sS', '--http2-prior-knowledge', '-w', '\\n%{http_version}', `${u.proxyUrl}/prior`]);
  const [body, version] = prior.stdout.split('\n');
  t.equal(version, '2', 'curl spoke HTTP/2');
  t.equal(JSON.parse(body ?? '{}').url, '/prior');
  const upgrade = await run('curl', ['-sS', '--http2', '-w', '\\n%{http_version}', `${u.proxyUrl}/upgrade`]);
  const [body2, version2] = upgrade.stdout.split('\n');
  t.equal(version2, '1.1', 'the upgrade is declined: served as HTTP/1.1');
  const seen = JSON.parse(body2 ?? '{}');
  t.equal(seen.url, '/upgrade');
  t.notOk('upgrade' in seen.headers, 'no Upgrade reaches live');
  t.notOk('http2-settings' in seen.headers);
});

t.test('TLS with ALPN: h2 and http/1.1 on one port; curl --http2 over TLS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-tls-'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  const live = await echo(t);
  const u = await umbra(t, `live: { url: "${live.url}" }\ntls: { cert: "${join(dir, 'cert.pem')}", key: "${join(dir, 'key.pem')}" }`);
  t.match(u.proxyUrl, /^https:\/\//);
  const session = connect(t, u.proxyUrl, { rejectUnauthorized: false });
  const r = await h2request(session, { ':path': '/tls' });
  t.equal(r.status, 200);
  const seen = JSON.parse(r.body);
  t.equal(seen.headers['x-forwarded-proto'], 'https', 'umbra states the scheme it saw');
  const h2 = await run('curl', ['-sSk', '--http2', '-w', '\\n%{http_version}', `${u.proxyUrl}/curl-h2`]);
  t.equal(h2.stdout.split('\n')[1], '2', 'ALPN chose h2');
  const h1 = await run('curl', ['-sSk', '--http1.1', '-w', '\\n%{http_version}', `${u.proxyUrl}/curl-h1`]);
  t.equal(h1.stdout.split('\n')[1], '1.1', 'ALPN chose http/1.1');
  t.equal(JSON.parse(h1.stdout.split('\n')[0] ?? '{}').url, '/curl-h1');

  const bad = join(dir, 'bad.pem');
  writeFileSync(bad, 'not a certificate');
  await t.rejects(startTestUmbra(`live: { url: "${live.url}" }\ntls: { cert: "${bad}", key: "${join(dir, 'key.pem')}" }`), /tls: the certificate and key do not load/, 'a bad certificate is a config error');
});

t.test('HTTP/2 limits: too many header fields get a 431 on that stream; settings are the configured ones', async (t) => {
  const live = await echo(t);
  const u = await umbra(t, `live: { url: "${live.url}" }\nlimits: { maxHeaderCount: 20, http2: { maxConcurrentStreams: 7, initialWindowSize: 128KiB } }`);
  const session = connect(t, u.proxyUrl);
  await new Promise((r) => session.once('remoteSettings', r));
  t.equal(session.remoteSettings.maxConcurrentStreams, 7, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  t.equal(session.remoteSettings.initialWindowSize, 128 * 1024, 'SETTINGS_INITIAL_WINDOW_SIZE');
  const headers: http2.OutgoingHttpHeaders = { ':path': '/many' };
  for (let i = 0; i < 21; i++) headers[`x-h-${i}`] = 'v';
  const r = await h2request(session, headers);
  t.equal(r.status, 431);
  t.match(JSON.parse(r.body), { error: 'too many header fields' });
  const ok = await h2request(session, { ':path': '/after' });
  t.equal(ok.status, 200, 'the connection goes on');
  t.equal(metricValue(await u.metrics.registry.metrics(), 'umbra_client_errors_total', { reason: 'too_many_headers' }), 1);
});

t.test('rapid reset (CVE-2023-44487): a client that resets streams too fast loses its connection; live requests are aborted', async (t) => {
  let started = 0;
  let aborted = 0;
  const live = await startBackend((req, res) => {
    started++;
    // Never answers on its own: only a reset ends it.
    res.on('close', () => {
      if (!res.writableFinished) aborted++;
    });
  });
  t.teardown(() => live.close());
  const u = await umbra(t, `live: { url: "${live.url}", timeout: 30s }\nlimits: { http2: { maxResetsPerSecond: 20 } }`);
  const session = connect(t, u.proxyUrl);
  const closed = new Promise<void>((r) => session.once('close', () => r()));
  const goaway = new Promise<number>((r) => session.once('goaway', (code: number) => r(code)));
  for (let i = 0; i < 60 && !session.destroyed && !session.closed; i++) {
    const s = session.request({ ':path': `/slow/${i}` });
    s.on('error', () => undefined);
    // The first one is reset only once live has it, so there is always a live request to abort
    // (on a loaded machine every stream could otherwise be reset before umbra forwards any).
    if (i === 0) await until(() => started > 0, 10_000, 'the first request reaches live');
    else await new Promise((r) => setTimeout(r, 2));
    s.close(http2.constants.NGHTTP2_CANCEL);
  }
  t.equal(await goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
  await closed;
  t.equal(metricValue(await u.metrics.registry.metrics(), 'umbra_client_errors_total', { reason: 'rapid_reset' }), 1, 'counted once');
  // Generous: on a loaded machine the backend sees the closes late; a live request never aborted still fails.
  await until(() => aborted >= started && started > 0, 20_000, 'every live request the client cancelled is aborted');
  t.ok(u.logs.some((l) => l['msg']?.toString().includes('rapid reset')), 'a warn line says why');
  // Others are not affected.
  const other = connect(t, u.proxyUrl);
  const s = other.request({ ':path': '/slow/other' });
  s.on('error', () => undefined);
  const status = await new Promise<number>((r) => s.on('response', (h) => r(Number(h[':status']))).setTimeout(300, () => r(0)));
  t.equal(status, 0, 'a new connection is served (its request is simply slow)');
  s.close(http2.constants.NGHTTP2_CANCEL);
});

t.test('backends: an HTTP/1.1 client to an h2c live, and h2 and auto (ALPN) over TLS; trailers end to end', async (t) => {
  // An h2c live that echoes, with a trailer.
  const h2c = http2.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.addTrailers({ 'x-checksum': 'abc123' });
    res.end(`h2c ${req.httpVersion} ${req.url} ${String(req.authority)}`);
  });
  await new Promise<void>((r) => h2c.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => h2c.close(() => r())));
  const h2cUrl = `http://127.0.0.1:${(h2c.address() as { port: number }).port}`;
  const u = await umbra(t, `live: { url: "${h2cUrl}", protocol: h2c }`);
  const r1 = await request(`${u.proxyUrl}/from-h1`);
  t.equal(r1.status, 200);
  t.match(r1.body.toString(), /^h2c 2\.0 \/from-h1 127\.0\.0\.1:\d+$/, 'an HTTP/1.1 request reaches live over HTTP/2, Host kept as :authority');
  const session = connect(t, u.proxyUrl);
  const r2 = await h2request(session, { ':path': '/from-h2' });
  t.equal(r2.trailers['x-checksum'], 'abc123', 'live\'s trailer reaches an HTTP/2 client');
  const curl = await run('curl', ['-sS', '--raw', '-H', 'TE: trailers', `${u.proxyUrl}/chunked`]);
  t.match(curl.stdout, /x-checksum: abc123/i, 'and an HTTP/1.1 client, in the chunked answer\'s trailer section');

  // TLS backends with a self-signed certificate (accepted for this test only).
  const dir = mkdtempSync(join(tmpdir(), 'umbra-tls-backend-'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const { readFileSync } = await import('node:fs');
  const secure = http2.createSecureServer({ cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')), allowHTTP1: true }, (req, res) => {
    res.end(`tls ${req.httpVersion}`);
  });
  await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => secure.close(() => r())));
  const tlsUrl = `https://127.0.0.1:${(secure.address() as { port: number }).port}`;
  const before = process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
  process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
  t.teardown(() => {
    if (before === undefined) delete process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
    else process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = before;
  });
  for (const [protocol, version] of [['h2', '2.0'], ['auto', '2.0'], ['http1', '1.1']] as const) {
    const v = await umbra(t, `live: { url: "${tlsUrl}", protocol: ${protocol} }`);
    const r = await request(`${v.proxyUrl}/x`);
    t.equal(r.body.toString(), `tls ${version}`, `protocol ${protocol}: live spoken to in HTTP/${version}`);
  }
});
