// Capture (DESIGN §10) end to end: a real live backend, umbra in-process with a
// capture section, requests over real sockets, and the files read back. Here:
// the record's shape and redaction. Limits: capture-limits.test.ts; failures and
// reloads: capture-failures.test.ts.
import t from 'tap';
import { join } from 'node:path';
import { request, until } from '../helpers/net.js';
import { b64, captureYaml, counted, liveBackend, rawBytes, records, start, tempDir } from '../helpers/capture.js';

void t.test('both series of umbra_capture_records_total exist from the start, at 0', async (t) => {
  const backend = await liveBackend(t);
  const umbra = await start(t, `live: { url: "${backend.url}" }`);
  const text = (await request(`${umbra.adminUrl}/metrics`)).body.toString('utf8');
  t.match(text, /^umbra_capture_records_total\{result="written"\} 0$/m);
  t.match(text, /^umbra_capture_records_total\{result="dropped"\} 0$/m);
});

void t.test('a record has the documented shape, bodies round-trip as base64, secrets never reach the file', async (t) => {
  const backend = await liveBackend(t);
  const dir = join(tempDir(t), 'made/on/demand');
  const umbra = await start(t, captureYaml(backend.url, dir, '  sample: 1'));

  const sent = '{"name":"ann","password":"req-secret","n":12345678901234567890,"deep":[{"password":"deep-secret"}]}';
  const r = await request(`${umbra.proxyUrl}/users/42?x=1&y=%20`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Bearer auth-secret',
      cookie: 'session=cookie-secret-2',
      'x-api-key': 'key-secret',
      'x-multi': ['one', 'two'],
      connection: 'keep-alive, x-hop',
      'x-hop': 'hop-only',
    },
    body: sent,
  });
  t.equal(r.status, 201, 'live answered');
  await request(`${umbra.proxyUrl}/users/bin`);
  const empty = await request(`${umbra.proxyUrl}/users/empty`, { method: 'DELETE' });
  t.equal(empty.status, 201);
  await until(async () => (await counted(umbra, 'written')) >= 3, 60_000, 'three records written');
  await umbra.stop();

  const recs = records(dir);
  t.equal(recs.length, 3, 'one line per exchange');
  const [post, got, del] = recs;
  t.same(Object.keys(post), ['v', 'id', 'time', 'route', 'request', 'live'], 'top-level keys in order');
  t.same(Object.keys(post.request), ['method', 'path', 'headers', 'body']);
  t.same(Object.keys(post.live), ['status', 'headers', 'body', 'ms']);
  t.equal(post.v, 1);
  t.match(post.id, /^[0-9a-f]{16}$/);
  t.not(post.id, got.id, 'ids differ');
  t.equal(new Date(post.time).toISOString(), post.time, 'time is ISO 8601');
  t.equal(post.route, 'users');
  t.equal(post.request.method, 'POST');
  t.equal(post.request.path, '/users/42?x=1&y=%20', 'the target as the client sent it');
  t.equal(post.request.headers.authorization, '[REDACTED]');
  t.equal(post.request.headers.cookie, '[REDACTED]');
  t.equal(post.request.headers['x-api-key'], '[REDACTED]');
  t.same(post.request.headers['x-multi'], ['one', 'two'], 'a repeated header is an array');
  t.equal(post.request.headers['content-type'], 'application/json');
  t.notOk('connection' in post.request.headers, 'hop-by-hop headers left out');
  t.notOk('x-hop' in post.request.headers, 'headers Connection names left out');
  const body = b64(post.request.body).toString('utf8');
  t.same(JSON.parse(body).deep, [{ password: '[REDACTED]' }]);
  t.equal(JSON.parse(body).password, '[REDACTED]');
  t.match(body, /"n":12345678901234567890[,}]/, 'a big number is written digit for digit');
  t.equal(post.request.headers['content-length'], String(Buffer.byteLength(body)), 'content-length follows the redacted body');
  t.equal(post.live.status, 201);
  t.same(post.live.headers['set-cookie'], ['[REDACTED]', '[REDACTED]'], 'every set-cookie value redacted');
  t.equal(post.live.headers['x-live'], 'yes');
  t.type(post.live.ms, 'number');
  const liveBody = JSON.parse(b64(post.live.body).toString('utf8'));
  t.same(liveBody, { received: Buffer.byteLength(sent), token: 'not-a-field-secret', password: '[REDACTED]' });

  t.equal(got.request.method, 'GET');
  t.equal(got.request.body, '', 'an empty body is the empty string');
  t.same(b64(got.live.body), Buffer.from([0, 1, 2, 255, 254, 10, 13]), 'binary bytes round-trip');
  t.equal(del.request.method, 'DELETE');

  // The file's bytes, and every body in it decoded.
  const raw = rawBytes(dir) + recs.map((x) => b64(x.request.body).toString('latin1') + b64(x.live.body).toString('latin1')).join('');
  for (const secret of ['req-secret', 'deep-secret', 'auth-secret', 'Bearer', 'cookie-secret', 'key-secret', 'live-secret', 'hop-only']) {
    t.notOk(raw.includes(secret), `${secret} is not in the file`);
  }
});

void t.test('a body that cannot be redacted is left out and marked, never written as is', async (t) => {
  const backend = await liveBackend(t);
  const dir = tempDir(t);
  const umbra = await start(t, captureYaml(backend.url, dir, '  sample: 1'));
  t.equal((await request(`${umbra.proxyUrl}/users/gz`)).status, 200);
  t.equal((await request(`${umbra.proxyUrl}/users/bad`)).status, 200);
  // Undeclared JSON is redacted like declared JSON; broken undeclared JSON is left out.
  await request(`${umbra.proxyUrl}/users/nodecl`, { method: 'POST', body: '{"password":"undeclared-secret"}' });
  await request(`${umbra.proxyUrl}/users/nodecl-bad`, { method: 'POST', body: '{"password":"broken-secret"' });
  await until(async () => (await counted(umbra, 'written')) >= 4, 60_000, 'four records');
  await umbra.stop();
  const [gz, bad, undeclared, broken] = records(dir);
  t.same({ body: gz.live.body, bodyOmitted: gz.live.bodyOmitted }, { body: null, bodyOmitted: 'cannot redact' }, 'content-encoded body omitted');
  t.equal(gz.live.headers['content-encoding'], 'gzip');
  t.same({ body: bad.live.body, bodyOmitted: bad.live.bodyOmitted }, { body: null, bodyOmitted: 'cannot redact' }, 'unparsable JSON omitted');
  t.same(JSON.parse(b64(undeclared.request.body).toString('utf8')), { password: '[REDACTED]' });
  t.same({ body: broken.request.body, bodyOmitted: broken.request.bodyOmitted }, { body: null, bodyOmitted: 'cannot redact' });
  const all = records(dir);
  const raw = rawBytes(dir) + all.map((x) => b64(x.request.body).toString('latin1') + b64(x.live.body).toString('latin1')).join('');
  for (const s of ['bad-secret', 'undeclared-secret', 'broken-secret']) t.notOk(raw.includes(s), `${s} not written`);
});

void t.test('without redact.fields, bodies are written exactly, encoded or not', async (t) => {
  const backend = await liveBackend(t);
  const dir = tempDir(t);
  const umbra = await start(t, `live: { url: "${backend.url}" }\ncapture: { dir: ${JSON.stringify(dir)}, sample: 1 }`);
  const r = await request(`${umbra.proxyUrl}/gz`);
  await until(async () => (await counted(umbra, 'written')) >= 1, 60_000, 'one record');
  await umbra.stop();
  const [gz] = records(dir);
  t.same(b64(gz.live.body), r.body, 'the encoded bytes as live sent them');
  t.equal(gz.route, 'default');
});
