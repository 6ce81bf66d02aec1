// Capture's limits end to end: sampling and routes, rotation and the total cap,
// gzip, the body size cap.
import t from 'tap';
import { request, until } from '../helpers/net.js';
import { b64, captureFiles, captureYaml, counted, liveBackend, records, start, tempDir } from '../helpers/capture.js';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

void t.test('sample 0 writes nothing; sample 1 writes every request of the routes listed', async (t) => {
  const backend = await liveBackend(t);
  const none = tempDir(t);
  const off = await start(t, captureYaml(backend.url, none, '  sample: 0'));
  for (let i = 0; i < 5; i++) t.equal((await request(`${off.proxyUrl}/users/${i}`)).status, 201);
  await off.stop();
  t.same(captureFiles(none), [], 'no file at sample 0');
  t.equal(await counted(off, 'written'), 0);

  const dir = tempDir(t);
  const umbra = await start(t, captureYaml(backend.url, dir, '  sample: 1\n  routes: [users]'));
  for (let i = 0; i < 4; i++) await request(`${umbra.proxyUrl}/other/${i}`);
  for (let i = 0; i < 6; i++) await request(`${umbra.proxyUrl}/users/${i}`);
  await until(async () => (await counted(umbra, 'written')) >= 6, 60_000, 'six records');
  const dropped = await counted(umbra, 'dropped');
  await umbra.stop();
  const recs = records(dir);
  t.same(
    recs.map((r) => r.request.path),
    [0, 1, 2, 3, 4, 5].map((i) => `/users/${i}`),
    'every request of route users, in order, and none of route other',
  );
  t.equal(dropped, 0, 'nothing dropped');
});

void t.test('files rotate at maxFileBytes and past maxTotalBytes the oldest are deleted', async (t) => {
  const backend = await liveBackend(t);
  const dir = tempDir(t);
  const umbra = await start(t, captureYaml(backend.url, dir, '  sample: 1\n  maxFileBytes: 2KiB\n  maxTotalBytes: 6KiB'));
  for (let i = 0; i < 40; i++) await request(`${umbra.proxyUrl}/users/${i}`, { method: 'POST', body: 'b'.repeat(200) });
  await until(async () => (await counted(umbra, 'written')) >= 40, 60_000, 'forty records');
  await umbra.stop();
  const files = captureFiles(dir);
  t.ok(files.length >= 3, `several files (${files.length})`);
  for (const f of files) {
    t.match(f, /^capture-\d{8}T\d{9}Z-\d{6}\.jsonl$/);
    t.ok(statSync(join(dir, f)).size <= 2048, `${f} within maxFileBytes`);
  }
  const total = captureFiles(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  t.ok(total <= 6 * 1024, `total ${total} within maxTotalBytes`);
  const paths = records(dir).map((r) => r.request.path);
  t.equal(paths.at(-1), '/users/39', 'the newest record is kept');
  t.notOk(paths.includes('/users/0'), 'the oldest is gone');
  const first = Number(String(paths[0]).split('/')[2]);
  t.same(
    paths,
    Array.from({ length: 40 - first }, (_, i) => `/users/${first + i}`),
    'what is left is the newest records, none missing in between',
  );
});

void t.test('gzip: each file is a valid gzip stream of JSON lines', async (t) => {
  const backend = await liveBackend(t);
  const dir = tempDir(t);
  const umbra = await start(t, captureYaml(backend.url, dir, '  sample: 1\n  gzip: true'));
  for (let i = 0; i < 5; i++) await request(`${umbra.proxyUrl}/users/${i}`, { method: 'POST', body: `{"password":"zip-secret","i":${i}}`, headers: { 'content-type': 'application/json' } });
  await until(async () => (await counted(umbra, 'written')) >= 5, 60_000, 'five records');
  await umbra.stop();
  const files = captureFiles(dir);
  t.ok(files.length >= 1 && files.every((f) => f.endsWith('.jsonl.gz')), 'gzip files');
  const lines = files.flatMap((f) => gunzipSync(readFileSync(join(dir, f))).toString('utf8').split('\n').filter((l) => l !== ''));
  t.equal(lines.length, 5);
  t.same(
    lines.map((l) => JSON.parse(b64(JSON.parse(l).request.body).toString('utf8'))),
    [0, 1, 2, 3, 4].map((i) => ({ password: '[REDACTED]', i })),
  );
  t.notOk(lines.join('\n').includes('zip-secret'));
});

void t.test('a body over maxBodyBytes is not recorded, counted as dropped, and live is untouched', async (t) => {
  const backend = await liveBackend(t);
  const dir = tempDir(t);
  const umbra = await start(t, captureYaml(backend.url, dir, '  sample: 1\n  maxBodyBytes: 1KiB'));
  const big = await request(`${umbra.proxyUrl}/users/big`);
  t.equal(big.body.length, 5000, 'the live answer is whole');
  const up = await request(`${umbra.proxyUrl}/users/up`, { method: 'POST', body: 'u'.repeat(2000) });
  t.equal(up.status, 201);
  // Chunked: no content-length to refuse it early; the copy stops at the cap.
  const chunked = await request(`${umbra.proxyUrl}/users/chunked`, { method: 'POST', body: 'c'.repeat(3000), headers: { 'transfer-encoding': 'chunked' } });
  t.equal(chunked.status, 201);
  t.equal(JSON.parse(chunked.body.toString('utf8')).received, 3000, 'live got the whole upload');
  await request(`${umbra.proxyUrl}/users/small`);
  await until(async () => (await counted(umbra, 'written')) >= 1, 60_000, 'the small one written');
  t.equal(await counted(umbra, 'dropped'), 3, 'three dropped');
  await umbra.stop();
  t.same(
    records(dir).map((r) => r.request.path),
    ['/users/small'],
  );
});
