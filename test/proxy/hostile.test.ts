// A hostile client against the live path: can umbra be turned against the
// service behind it? Written against the contract (DESIGN §2.5, §2.6, §2.7,
// §4 `forwarded` and `limits`, §13 `Upgrade: h2c`), over raw sockets, and
// checked on the BYTES the backend received, not only on status codes.
//
// Every socket wait is bounded; every server is torn down. The only timed
// assertions are the generous shutdown bounds of the WebSocket tests.
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { metricValue, request, sleep, until } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';
import { staleDist, startUmbraProcess } from '../helpers/spawn.js';
import {
  RawConnection,
  excerpt,
  parseRequests,
  parseResponses,
  rawExchange,
  responsesReceived,
  startRecordingBackend,
  type RawResponse,
  type RecordedRequest,
  type RecordingBackend,
  type SeenJson,
} from '../helpers/raw.js';

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
/** How long a negative check ("the backend received nothing more") waits for stray bytes. */
const SETTLE_MS = 300;

/** Starts umbra in front of `live`; a config umbra refuses fails the test with the reason (and returns null). */
async function startUmbraOrFail(t: Test, yaml: string): Promise<TestUmbra | null> {
  try {
    const umbra = await startTestUmbra(yaml);
    t.teardown(() => umbra.stop());
    return umbra;
  } catch (err) {
    t.fail(`umbra refused the config: ${(err as Error).message}`, { config: yaml });
    return null;
  }
}

async function liveBackend(t: Test): Promise<RecordingBackend> {
  const live = await startRecordingBackend();
  t.teardown(() => live.close());
  return live;
}

/** Values of a header in a flat [name, value, ...] rawHeaders list, case-insensitive. */
/** One request's bytes on a fresh connection; the first answer and the bytes the client got. */
async function firstAnswer(umbra: TestUmbra, bytes: string): Promise<{ res: RawResponse | undefined; client: Buffer }> {
  const r = await rawExchange(umbra.proxyUrl, bytes, { done: responsesReceived(1), timeout: 5000 });
  return { res: parseResponses(r.bytes, r.closed).messages[0], client: r.bytes };
}

function rawValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if ((rawHeaders[i] as string).toLowerCase() === name) out.push(rawHeaders[i + 1] as string);
  return out;
}

function seenBody(r: RawResponse | undefined): SeenJson | null {
  if (r === undefined) return null;
  try {
    return JSON.parse(r.body.toString('utf8')) as SeenJson;
  } catch {
    return null;
  }
}

function isJson(r: RawResponse | undefined): boolean {
  if (r === undefined || !/application\/json/i.test(r.header('content-type') ?? '')) return false;
  try {
    JSON.parse(r.body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

const summary = (rs: readonly RawResponse[]): string[] => rs.map((r) => `${r.status} ${r.body.toString('latin1').slice(0, 120)}`);

/** The backend's raw bytes, framing checked: each message it received, or a parse error. */
function backendMessages(live: RecordingBackend): ReturnType<typeof parseRequests> {
  return parseRequests(live.allBytes());
}

/**
 * The shared check of the two Connection-smuggling tests: the backend saw
 * exactly one request, the POST, its body exactly `body`, framed on the wire.
 */
function assertOneFramedPost(t: Test, live: RecordingBackend, body: string, client: Buffer): void {
  const bytes = live.allBytes();
  const diag = { backendBytes: excerpt(bytes), clientBytes: excerpt(client) };
  t.same(
    live.requests.map((r) => `${r.method} ${r.url}`),
    ['POST /upload'],
    'node, as the backend, parsed exactly one request: the POST',
    diag,
  );
  t.notOk(live.requests.some((r) => r.url === '/smuggled'), 'GET /smuggled never reached the backend as a request', diag);
  t.equal(live.requests[0]?.body.toString('latin1'), body, 'the POST body is exactly the bytes the client sent', diag);
  t.same(live.clientErrors, [], 'the backend never got bytes it could not parse', diag);
  const parsed = parseRequests(bytes);
  t.equal(parsed.messages.length, 1, 'the raw bytes hold exactly one request', { ...diag, rest: excerpt(parsed.rest), error: parsed.error });
  t.equal(parsed.rest.length, 0, 'nothing follows it on the wire', diag);
  const post = parsed.messages[0];
  if (post === undefined) return;
  t.ok(post.framing === 'content-length' || post.framing === 'chunked', `the body is framed on the wire (framing: ${post.framing})`, {
    head: post.rawHeaders,
  });
  if (post.framing === 'content-length') t.equal(post.header('content-length'), String(Buffer.byteLength(body)), 'content-length = body length');
  t.equal(post.body.toString('latin1'), body, 'the framed body on the wire is the client body');
}

const SMUGGLING: readonly [string, string][] = [
  [
    'request smuggling via "Connection: content-length"',
    'POST /upload HTTP/1.1\r\nHost: app.example\r\n' +
      `Content-Length: ${SMUGGLED.length}\r\nConnection: keep-alive, content-length\r\n\r\n${SMUGGLED}`,
  ],
  [
    'request smuggling via "Connection: transfer-encoding" on a chunked request',
    'POST /upload HTTP/1.1\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n' +
      `Connection: keep-alive, transfer-encoding\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
  ],
];

for (const [name, bytes] of SMUGGLING) {
  t.test(name, async (t) => {
    const live = await liveBackend(t);
    const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }`);
    if (umbra === null) return;
    const r = await rawExchange(umbra.proxyUrl, bytes, { done: responsesReceived(1), quiet: 2000, timeout: 5000 });
    await sleep(SETTLE_MS);
    const responses = parseResponses(r.bytes, r.closed).messages;
    t.equal(responses[0]?.status, 200, 'the client got the live answer', { client: excerpt(r.bytes) });
    t.equal(seenBody(responses[0])?.body, SMUGGLED, "the live answer echoes the client's body");
    assertOneFramedPost(t, live, SMUGGLED, r.bytes);
  });
}

/** A request with exactly `fields` header fields, Host included (short names: the count matters, not the size). */
function withFields(fields: number, opts: { method?: string; last?: string; body?: string } = {}): string {
  const lines = ['Host: app.example'];
  const fillers = fields - 1 - (opts.last !== undefined ? 1 : 0);
  for (let i = 1; i <= fillers; i++) lines.push(`X${i}: v`);
  if (opts.last !== undefined) lines.push(opts.last);
  return `${opts.method ?? 'GET'} /count HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${opts.body ?? ''}`;
}

/** What a forwarded request looked like, for failure messages: its framing and field count, not its 1000 fields. */
const brief = (r: RecordedRequest): Record<string, unknown> => ({
  request: `${r.method} ${r.url}`,
  fields: r.rawHeaders.length / 2,
  contentLength: rawValues(r.rawHeaders, 'content-length'),
  transferEncoding: rawValues(r.rawHeaders, 'transfer-encoding'),
  body: r.body.toString('latin1'),
});

/** Sends `bytes`; returns the first response and how many bytes/requests the backend got meanwhile. */
async function countedExchange(umbra: TestUmbra, live: RecordingBackend, bytes: string): Promise<{ res: RawResponse | undefined; all: RawResponse[]; newBytes: number; newRequests: RecordedRequest[]; client: Buffer }> {
  const bytesBefore = live.allBytes().length;
  const requestsBefore = live.requests.length;
  const r = await rawExchange(umbra.proxyUrl, bytes, { done: responsesReceived(2), quiet: 1500, timeout: 5000 });
  await sleep(SETTLE_MS);
  const all = parseResponses(r.bytes, r.closed).messages;
  return { res: all[0], all, newBytes: live.allBytes().length - bytesBefore, newRequests: live.requests.slice(requestsBefore), client: r.bytes };
}

t.test('header-count flood: more than limits.maxHeaderCount fields is refused, never forwarded', async (t) => {
  t.test('defaults (100 fields)', async (t) => {
    const live = await liveBackend(t);
    const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }`);
    if (umbra === null) return;
    const metricsBefore = (await request(`${umbra.adminUrl}/metrics`)).body.toString();

    const at100 = await countedExchange(umbra, live, withFields(100));
    t.equal(at100.res?.status, 200, 'exactly 100 fields: forwarded', { client: excerpt(at100.client) });
    const got = at100.newRequests[0];
    t.equal(at100.newRequests.length, 1, 'the backend got it once');
    if (got !== undefined) {
      const missing = Array.from({ length: 99 }, (_, i) => `x${i + 1}`).filter((n) => rawValues(got.rawHeaders, n).length !== 1);
      t.same(missing, [], 'all 99 fields besides Host reached the backend, once each');
      t.same(rawValues(got.rawHeaders, 'host'), ['app.example'], 'and Host');
    }

    const at101 = await countedExchange(umbra, live, withFields(101));
    t.equal(at101.res?.status, 431, '101 fields: 431', { client: excerpt(at101.client) });
    t.ok(isJson(at101.res), 'with a JSON body', { client: excerpt(at101.client) });
    t.equal(at101.newBytes, 0, 'the backend received no byte of it', { forwarded: at101.newRequests.map(brief) });

    const flood = await countedExchange(umbra, live, withFields(1001, { method: 'POST', last: `Content-Length: ${SMUGGLED.length}`, body: SMUGGLED }));
    t.equal(flood.res?.status, 431, '1001 fields (Content-Length last) with a smuggled body: 431', { client: excerpt(flood.client) });
    t.ok(isJson(flood.res), 'with a JSON body', { client: excerpt(flood.client) });
    t.equal(flood.all.length, 1, 'one answer only: the body is not read as a next request', { responses: summary(flood.all) });
    t.equal(flood.newBytes, 0, 'the backend received no byte of it', { forwarded: flood.newRequests.map(brief) });
    t.notOk(live.requests.some((r) => r.url === '/smuggled'), 'GET /smuggled never reached the backend');

    const metrics = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
    const reasons = metrics.split('\n').filter((l) => l.startsWith('umbra_client_errors_total{'));
    t.equal(
      metricValue(metrics, 'umbra_client_errors_total') - metricValue(metricsBefore, 'umbra_client_errors_total'),
      2,
      'both refusals counted in umbra_client_errors_total (any reason)',
      { series: reasons },
    );
  });

  t.test('limits.maxHeaderCount: 10', async (t) => {
    const live = await liveBackend(t);
    const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }\nlimits: { maxHeaderCount: 10 }`);
    if (umbra === null) return;
    const at10 = await countedExchange(umbra, live, withFields(10));
    t.equal(at10.res?.status, 200, '10 fields: forwarded', { client: excerpt(at10.client) });
    const at11 = await countedExchange(umbra, live, withFields(11));
    t.equal(at11.res?.status, 431, '11 fields: 431', { client: excerpt(at11.client) });
    t.ok(isJson(at11.res), 'with a JSON body');
    t.equal(at11.newBytes, 0, 'the backend received no byte of it', { forwarded: at11.newRequests.map(brief) });
  });
  t.end();
});

t.test('Host removal via "Connection: host"', async (t) => {
  const live = await liveBackend(t);
  const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }`);
  if (umbra === null) return;
  const { res, client } = await firstAnswer(umbra, 'GET /host HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive, host\r\n\r\n');
  t.equal(res?.status, 200, 'answered by live', { client: excerpt(client) });
  const got = live.requests[0];
  t.same(got !== undefined ? rawValues(got.rawHeaders, 'host') : null, ['app.example'], "the backend got the client's Host, once", {
    rawHeaders: got?.rawHeaders,
    backend: excerpt(live.allBytes()),
    backendErrors: live.clientErrors,
  });
  const wire = backendMessages(live).messages[0];
  t.same(wire?.all('host'), ['app.example'], 'on the wire too');
});

t.test('Host confusion: two Host headers are a 400 and never forwarded (RFC 9112 §3.2)', async (t) => {
  const live = await liveBackend(t);
  const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }`);
  if (umbra === null) return;
  const { res, client } = await firstAnswer(umbra, 'GET /who HTTP/1.1\r\nHost: app.example\r\nHost: admin.internal\r\n\r\n');
  t.equal(res?.status, 400, 'refused by umbra', { client: excerpt(client) });
  t.match(res?.body.toString('latin1') ?? '', /^\{"error":"[^"]+"\}$/, 'a short JSON body');
  await sleep(SETTLE_MS);
  t.equal(live.allBytes().length, 0, 'the backend received no byte of it');
});

t.test('Host confusion via an absolute-form target: only its own Host is accepted, and live gets origin-form', async (t) => {
  const live = await liveBackend(t);
  const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }`);
  if (umbra === null) return;
  const ask = async (target: string): Promise<number | undefined> =>
    (await firstAnswer(umbra, `GET ${target} HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n`)).res?.status;
  t.equal(await ask('http://evil.example/p?q=1'), 400, 'another authority than Host: refused');
  t.equal(await ask('*'), 400, 'asterisk-form: refused (not blamed on live)');
  await sleep(SETTLE_MS);
  t.equal(live.requests.length, 0, 'none of them reached the backend');
  t.equal(await ask('http://app.example/p?q=1'), 200, 'its own Host: forwarded');
  const wire = backendMessages(live).messages[0];
  t.match(live.allBytes().toString('latin1'), /^GET \/p\?q=1 HTTP\/1\.1\r\n/, 'in origin-form on the wire');
  t.same(wire?.all('host'), ['app.example']);
});

t.test('pipelined request followed by garbage in the same write', async (t) => {
  const live = await liveBackend(t);
  const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }`);
  if (umbra === null) return;
  const garbage = 'THIS IS NOT HTTP\x00\x01\r\n\r\n';
  for (const paths of [['/a'], ['/a', '/b']]) {
    const name = `${paths.join(' + ')} then garbage`;
    const before = live.requests.length;
    const bytes = paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive\r\n\r\n`).join('') + garbage;
    const r = await rawExchange(umbra.proxyUrl, bytes, { quiet: 3000, timeout: 5000 });
    const parsed = parseResponses(r.bytes, r.closed);
    const rs = parsed.messages;
    const diag = { client: excerpt(r.bytes), responses: summary(rs), endedBy: r.endedBy };
    t.same(
      rs.map((x) => x.status),
      [...paths.map(() => 200), 400],
      `${name}: ${paths.map(() => '200').join(', ')}, then 400, in that order`,
      diag,
    );
    paths.forEach((p, i) => t.equal(seenBody(rs[i])?.url, p, `${name}: answer ${i + 1} is live's answer for ${p}`, diag));
    const refusal = rs[paths.length];
    t.ok(isJson(refusal), `${name}: the 400 has a JSON body`, diag);
    t.ok((refusal?.body.length ?? Infinity) < 512, `${name}: a short one`, diag);
    t.equal(parsed.rest.length, 0, `${name}: nothing else on the wire`, diag);
    t.ok(r.closed, `${name}: then the connection closes`, diag);
    await until(() => live.requests.length - before >= paths.length, 2000, 'the valid requests at live').catch(() => undefined);
    await sleep(SETTLE_MS);
    t.same(
      live.requests.slice(before).map((x) => x.url),
      paths,
      `${name}: live got exactly the valid requests`,
    );
  }
});

t.test('parse failures never leak internal error codes and are never forwarded', async (t) => {
  const live = await liveBackend(t);
  const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }`);
  if (umbra === null) return;
  const cases: [string, string][] = [
    ['garbage request line', 'GARBAGE REQUEST LINE\r\nHost: x\r\n\r\n'],
    ['bad header name', 'GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n'],
    [
      'Content-Length with Transfer-Encoding',
      `POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    ],
    ['oversized header section', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`],
  ];
  for (const [name, bytes] of cases) {
    const r = await rawExchange(umbra.proxyUrl, bytes, { done: responsesReceived(1), quiet: 2000, timeout: 5000 });
    const res = parseResponses(r.bytes, r.closed).messages[0];
    const diag = { client: excerpt(r.bytes) };
    t.ok(res !== undefined && res.status >= 400 && res.status < 500, `${name}: a 4xx (got ${res?.status})`, diag);
    t.ok(isJson(res), `${name}: with a JSON body`, diag);
    t.notMatch(r.text, /HPE_|ERR_/, `${name}: no HPE_/ERR_ text anywhere in the answer`, diag);
  }
  await sleep(SETTLE_MS);
  t.equal(live.allBytes().length, 0, 'the backend received no byte of any of them', { backend: excerpt(live.allBytes()) });
});

const H2C_HEADERS = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

t.test('"Upgrade: h2c" (curl --http2) is served as HTTP/1.1, not left hanging', async (t) => {
  const live = await liveBackend(t);
  const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }`);
  if (umbra === null) return;

  const cases: { name: string; method: string; body: string }[] = [
    { name: 'GET', method: 'GET', body: '' },
    { name: 'POST with a body', method: 'POST', body: '{"order":42}' },
  ];
  for (const c of cases) {
    const before = live.requests.length;
    const conn = await RawConnection.open(umbra.proxyUrl);
    t.teardown(() => conn.destroy());
    const framing = c.body === '' ? '' : `Content-Type: application/json\r\nContent-Length: ${c.body.length}\r\n`;
    conn.write(
      `${c.method} /h2c HTTP/1.1\r\nHost: app.example\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n${H2C_HEADERS}${framing}\r\n${c.body}`,
    );
    const endedBy = await conn.wait({ done: responsesReceived(1), quiet: 3000, timeout: 5000 });
    const first = parseResponses(conn.bytes, conn.closed);
    const res = first.messages[0];
    const diag = { client: excerpt(conn.bytes), endedBy, closed: conn.closed };
    t.equal(res?.status, 200, `${c.name}: the backend's 200, not a 101, a hang or a close`, diag);
    t.equal(res?.version, 'HTTP/1.1', `${c.name}: as HTTP/1.1`, diag);
    const seen = seenBody(res);
    t.equal(seen?.url, '/h2c', `${c.name}: the backend's own body`, diag);
    t.equal(seen?.body, c.body, `${c.name}: the request body reached live intact`, diag);
    const got = live.requests[before];
    t.equal(got?.method, c.method, `${c.name}: live got the request`);
    if (got !== undefined) {
      t.same(rawValues(got.rawHeaders, 'upgrade'), [], `${c.name}: live got no Upgrade`, { rawHeaders: got.rawHeaders });
      t.same(rawValues(got.rawHeaders, 'http2-settings'), [], `${c.name}: live got no HTTP2-Settings`, { rawHeaders: got.rawHeaders });
    }

    // The connection afterwards: a keep-alive request on it is either answered,
    // or the server has closed it cleanly after the first complete answer.
    // Never a hang, a half answer or bytes from another protocol.
    const afterFirst = first.messages.reduce((n, m) => n + m.raw.length, 0);
    if (!conn.closed) conn.write('GET /after HTTP/1.1\r\nHost: app.example\r\n\r\n');
    const endedAfter = await conn.wait({ done: responsesReceived(2), quiet: 3000, timeout: 5000 });
    const all = parseResponses(conn.bytes, conn.closed);
    const second = all.messages[1];
    const answered = second?.status === 200 && seenBody(second)?.url === '/after';
    const closedCleanly = res !== undefined && conn.closed && conn.bytes.length === afterFirst;
    t.ok(answered || closedCleanly, `${c.name}: the next request on the connection is answered, or the connection was closed cleanly`, {
      client: excerpt(conn.bytes),
      endedBy: endedAfter,
      closed: conn.closed,
      responses: summary(all.messages),
    });
    t.comment(`${c.name}: next request ${answered ? 'answered on the same connection' : closedCleanly ? 'not sent: connection closed after the answer' : 'neither'}`);
    conn.destroy();
  }
});

t.test('shadow-marker spoofing: a client-sent x-umbra-shadow reaches neither side', async (t) => {
  const live = await liveBackend(t);
  const dark = await startRecordingBackend();
  t.teardown(() => dark.close());
  const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1 }`);
  if (umbra === null) return;
  const sent = [
    ['/m1', 'x-umbra-shadow: 1'],
    ['/m2', 'X-Umbra-Shadow: spoofed'],
  ] as const;
  for (const [p, header] of sent) {
    const r = await rawExchange(umbra.proxyUrl, `GET ${p} HTTP/1.1\r\nHost: app.example\r\n${header}\r\n\r\n`, {
      done: responsesReceived(1),
      timeout: 5000,
    });
    t.equal(parseResponses(r.bytes, r.closed).messages[0]?.status, 200, `${p}: answered`, { client: excerpt(r.bytes) });
  }
  await until(() => dark.requests.length >= 2, 5000, 'both shadow copies at dark').catch(() => undefined);
  for (const [p] of sent) {
    const l = live.requests.find((r) => r.url === p);
    t.same(l !== undefined ? rawValues(l.rawHeaders, 'x-umbra-shadow') : null, [], `${p}: live got no x-umbra-shadow`, { rawHeaders: l?.rawHeaders });
    const d = dark.requests.find((r) => r.url === p);
    t.same(d !== undefined ? rawValues(d.rawHeaders, 'x-umbra-shadow') : null, ['1'], `${p}: dark got exactly one x-umbra-shadow: 1 (umbra's own)`, {
      rawHeaders: d?.rawHeaders,
    });
  }
  t.notMatch(live.allBytes().toString('latin1'), /x-umbra-shadow/i, 'no byte of the marker on the wire to live');
});

t.test('forwarded-header spoofing: X-Forwarded-Host/-Proto/-For', async (t) => {
  const spoofed = 'X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 1.2.3.4\r\n';
  const cases = [
    {
      name: 'default (forwarded.trust false): umbra sets Host/Proto, appends the peer',
      yaml: '',
      headers: spoofed,
      want: { 'x-forwarded-host': ['app.example'], 'x-forwarded-proto': ['http'], 'x-forwarded-for': ['1.2.3.4, 127.0.0.1'] },
    },
    {
      name: "forwarded.trust true: the client's Host/Proto are kept, the peer appended",
      yaml: 'forwarded: { trust: true }',
      headers: spoofed,
      want: { 'x-forwarded-host': ['evil.example'], 'x-forwarded-proto': ['https'], 'x-forwarded-for': ['1.2.3.4, 127.0.0.1'] },
    },
    {
      name: 'no client values: umbra sets all three',
      yaml: '',
      headers: '',
      want: { 'x-forwarded-host': ['app.example'], 'x-forwarded-proto': ['http'], 'x-forwarded-for': ['127.0.0.1'] },
    },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const live = await liveBackend(t);
      const umbra = await startUmbraOrFail(t, `live: { url: "${live.url}" }\n${c.yaml}`);
      if (umbra === null) return;
      const r = await rawExchange(umbra.proxyUrl, `GET /fwd HTTP/1.1\r\nHost: app.example\r\n${c.headers}\r\n`, {
        done: responsesReceived(1),
        timeout: 5000,
      });
      t.equal(parseResponses(r.bytes, r.closed).messages[0]?.status, 200, 'answered', { client: excerpt(r.bytes) });
      const got = live.requests[0];
      for (const [name, values] of Object.entries(c.want)) {
        t.same(got !== undefined ? rawValues(got.rawHeaders, name) : null, values, `${name}: exactly ${JSON.stringify(values)}`, {
          rawHeaders: got?.rawHeaders,
        });
      }
    });
  }
  t.end();
});

/** A ws echo backend on 127.0.0.1; records the close codes its side saw. */
async function wsEchoBackend(t: Test): Promise<{ url: string; closes: number[] }> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  const closes: number[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code) => closes.push(code));
    ws.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    server.close();
    await once(server, 'close').catch(() => undefined);
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, closes };
}

/** Opens a WebSocket through umbra and checks one echo; resolves with it and a promise of its close. */
async function openTunnel(t: Test, proxyUrl: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${proxyUrl.replace(/^http/, 'ws')}/socket`);
  t.teardown(() => ws.terminate());
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = await Promise.race([once(ws, 'open').then(() => true), sleep(5000).then(() => false)]);
  if (!opened) throw new Error('the WebSocket through umbra did not open within 5 s');
  const echo = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
  ws.send('ping');
  t.equal(await Promise.race([echo, sleep(5000).then(() => 'no echo within 5 s')]), 'ping', 'the tunnel echoes');
  return { ws, closed };
}

/** The value, or `fallback` once `ms` have passed. */
const within = <T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]).finally(() => clearTimeout(timer));
};

t.test('WebSocket tunnel held open across shutdown: closed with 1001 at the end of the drain', async (t) => {
  t.test('in process: umbra.stop()', async (t) => {
    const backend = await wsEchoBackend(t);
    const umbra = await startUmbraOrFail(t, `live: { url: "${backend.url}" }\nlimits: { drainTimeout: 1s }`);
    if (umbra === null) return;
    const { ws, closed } = await openTunnel(t, umbra.proxyUrl);
    const started = Date.now();
    const stopped = umbra.stop().then(() => Date.now() - started);
    const bound = 1000 + 2000;
    const ms = await within(stopped, bound + 1000, 'still running');
    t.ok(typeof ms === 'number' && ms <= bound, `stop() resolved within drainTimeout + 2 s (took ${ms}${typeof ms === 'number' ? ' ms' : ''})`);
    const close = await within(closed, Math.max(0, bound - (Date.now() - started)), null);
    t.equal(close?.code, 1001, `the client saw close code 1001 (saw ${close === null ? 'no close' : close.code})`, {
      clientReadyState: ws.readyState,
      backendSawCloses: backend.closes,
    });
  });

  t.test('real process: SIGTERM', async (t) => {
    const stale = staleDist();
    if (stale.length > 0) {
      t.fail('dist/ is older than src/: run `npm run build` first', { stale });
      return;
    }
    const backend = await wsEchoBackend(t);
    const dir = mkdtempSync(path.join(tmpdir(), 'umbra-hostile-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'ws-drain.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nlive:\n  url: ${backend.url}\nlimits:\n  drainTimeout: 1s\n`);
    const u = await startUmbraProcess(['--config', file]);
    t.teardown(() => u.kill());
    const { ws, closed } = await openTunnel(t, u.listen);
    const started = Date.now();
    u.child.kill('SIGTERM');
    const bound = 1000 + 3000;
    const exit = await within(u.exited, bound, null);
    t.ok(exit !== null, `the process exited within drainTimeout + 3 s (${exit === null ? 'still running' : `${Date.now() - started} ms`})`, {
      stdout: u.stdout().slice(-2000),
    });
    t.equal(exit?.code, 0, 'exit status 0', { exit, stderr: u.stderr().slice(-2000) });
    const close = await within(closed, 1000, null);
    t.equal(close?.code, 1001, `the client saw close code 1001 (saw ${close === null ? 'no close' : close.code})`, {
      clientReadyState: ws.readyState,
      backendSawCloses: backend.closes,
    });
  });
  t.end();
});
