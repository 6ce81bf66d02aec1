// Capture when things go wrong or change: an unwritable directory (live is
// untouched, records dropped and counted, writing resumes), capture beside the
// mirror, hot reload.
import t from 'tap';
import { request, until } from '../helpers/net.js';
import { captureFiles, captureYaml, counted, liveBackend, records, start, tempDir } from '../helpers/capture.js';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.js';

void t.test('an unwritable directory: live answers every time, records are dropped and counted, and writing resumes once it can', async (t) => {
  const backend = await liveBackend(t);
  const base = tempDir(t);
  const blocker = join(base, 'file');
  writeFileSync(blocker, 'a regular file where a directory should be');
  const dir = join(blocker, 'capture');
  const umbra = await start(t, captureYaml(backend.url, dir, '  sample: 1'));
  for (let i = 0; i < 10; i++) t.equal((await request(`${umbra.proxyUrl}/users/${i}`)).status, 201, `request ${i} answered`);
  await until(async () => (await counted(umbra, 'dropped')) >= 10, 60_000, 'ten dropped');
  t.equal(await counted(umbra, 'written'), 0);
  const warn = umbra.logs.find((l) => l.msg === 'capture records dropped');
  t.match(warn, { level: 'warn', error: /ENOTDIR|EEXIST/ }, 'a warn line says why');
  const lines = umbra.logs.filter((l) => l.msg === 'capture records dropped').length;
  t.ok(lines >= 1 && lines < 10, `warn lines are rate-capped (${lines} for 10 drops)`);

  // The disk is fixed: a later record goes to a new file (retried, not given up).
  rmSync(blocker);
  await until(
    async () => {
      await request(`${umbra.proxyUrl}/users/after`);
      return (await counted(umbra, 'written')) >= 1;
    },
    60_000,
    'a record written after the directory became writable',
  );
  await umbra.stop();
  t.ok(records(dir).every((r) => r.request.path === '/users/after'));
});

void t.test('capture and mirror at once: a request is mirrored and captured', async (t) => {
  const backend = await liveBackend(t);
  const dark = await liveBackend(t);
  const dir = tempDir(t);
  const umbra = await start(t, `${captureYaml(backend.url, dir, '  sample: 1')}\ndark: { url: "${dark.url}" }\nmirror: { sample: 1 }`);
  t.equal((await request(`${umbra.proxyUrl}/users/1`)).status, 201);
  await until(() => dark.seen.length >= 1, 60_000, 'dark got the copy');
  await until(async () => (await counted(umbra, 'written')) >= 1, 60_000, 'captured');
  await umbra.stop();
  t.equal(records(dir).length, 1);
});

void t.test('hot reload: a new capture config takes effect, the old writer is flushed', async (t) => {
  const backend = await liveBackend(t);
  const first = tempDir(t);
  const second = tempDir(t);
  const umbra = await start(t, captureYaml(backend.url, first, '  sample: 1'));
  const yaml = (body: string): string => ['listen: 127.0.0.1:0', 'admin: { listen: "127.0.0.1:0" }', body].join('\n');
  for (let i = 0; i < 3; i++) await request(`${umbra.proxyUrl}/users/a${i}`);
  await umbra.reload(parseConfigText(yaml(captureYaml(backend.url, second, '  sample: 1\n  gzip: true')), 'reload.yaml', {}));
  t.same(
    records(first).map((r) => r.request.path),
    ['/users/a0', '/users/a1', '/users/a2'],
    'the old writer wrote what it had before the reload returned',
  );
  await request(`${umbra.proxyUrl}/users/b`);
  await until(async () => (await counted(umbra, 'written')) >= 4, 60_000, 'written into the new directory');
  t.same(records(second).map((r) => r.request.path), ['/users/b']);
  t.ok(captureFiles(second).every((f) => f.endsWith('.gz')), 'gzip from the new config');

  // Capture off: nothing more is written.
  await umbra.reload(parseConfigText(yaml(`live: { url: "${backend.url}" }`), 'reload.yaml', {}));
  await request(`${umbra.proxyUrl}/users/c`);
  await umbra.stop();
  t.equal(await counted(umbra, 'written'), 4);
  t.same(records(second).map((r) => r.request.path), ['/users/b']);
});
