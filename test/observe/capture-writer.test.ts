// The capture writer's parts on their own: the record line (redaction cases),
// the capture directory with a fake file system that runs out of space, and
// the writer's bounded queue when its worker is behind.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CaptureFiles, type CaptureFs } from '../../src/observe/capture-files.js';
import { CANNOT_REDACT, captureLine, headerObject, writtenBody, type CaptureInput } from '../../src/observe/capture-record.js';
import { CaptureWriter } from '../../src/observe/capture.js';
import { createLogger } from '../../src/observe/log.js';
import { Metrics } from '../../src/observe/metrics.js';
import { compileRedactor } from '../../src/observe/redact.js';
import { metricValue } from '../helpers/net.js';

const redactor = compileRedactor({ headers: ['x-api-key'], fields: ['$..password'] });

function input(over: Partial<CaptureInput> = {}): CaptureInput {
  return {
    time: Date.UTC(2025, 0, 2, 3, 4, 5, 6),
    route: 'r',
    method: 'POST',
    path: '/a?b=1',
    requestHeaders: ['Host', 'x', 'Content-Type', 'application/json'],
    requestBody: Buffer.from('{"password":"p","a":1}'),
    status: 200,
    liveHeaders: ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
    liveBody: Buffer.alloc(0),
    ms: 1.234,
    ...over,
  };
}

void t.test('captureLine: the shape, in order', async (t) => {
  const rec = JSON.parse(captureLine(input(), 'abc', redactor, true));
  t.same(rec, {
    v: 1,
    id: 'abc',
    time: '2025-01-02T03:04:05.006Z',
    route: 'r',
    request: { method: 'POST', path: '/a?b=1', headers: { host: 'x', 'content-type': 'application/json' }, body: Buffer.from('{"password":"[REDACTED]","a":1}').toString('base64') },
    live: { status: 200, headers: { 'set-cookie': ['[REDACTED]', '[REDACTED]'] }, body: '', ms: 1.2 },
  });
});

void t.test('writtenBody: what is redacted, kept or left out', async (t) => {
  const json = { 'content-type': 'application/json' };
  const w = (body: string, headers: Record<string, string | string[]>, fields = true): ReturnType<typeof writtenBody> =>
    writtenBody(Buffer.from(body), { ...headers }, redactor, fields);
  t.same(w('{"a": 1,  "b":2}', json), { body: Buffer.from('{"a": 1,  "b":2}').toString('base64') }, 'nothing to redact: bytes exactly');
  t.same(w('{"password":"x"}', { ...json, 'content-encoding': 'gzip' }), { body: null, bodyOmitted: CANNOT_REDACT }, 'encoded');
  t.same(w('{"password":"x"', json), { body: null, bodyOmitted: CANNOT_REDACT }, 'unparsable');
  t.same(w('{"password":"x"}', { 'content-type': 'application/json; charset=utf-16' }), { body: null, bodyOmitted: CANNOT_REDACT }, 'other charset');
  t.same(w('password=x', { 'content-type': 'application/x-www-form-urlencoded' }), { body: Buffer.from('password=x').toString('base64') }, 'not JSON: as is');
  t.same(w('{"password":"x"}', json, false), { body: Buffer.from('{"password":"x"}').toString('base64') }, 'no fields configured: as is');
  const deep = '['.repeat(20000) + ']'.repeat(20000);
  t.same(w(deep, json), { body: null, bodyOmitted: CANNOT_REDACT }, 'nested past what the redactor walks: left out (documented)');
  const headers: Record<string, string | string[]> = { ...json, 'content-length': '99' };
  const out = writtenBody(Buffer.from('{"password":"secret","n":123456789012345678901234567890}'), headers, redactor, true);
  t.equal(Buffer.from(out.body ?? '', 'base64').toString(), '{"password":"[REDACTED]","n":123456789012345678901234567890}');
  t.equal(headers['content-length'], String(Buffer.from(out.body ?? '', 'base64').length));
});

void t.test('headerObject: repeats as arrays, secrets redacted, hop-by-hop and marker left out, __proto__ kept', async (t) => {
  const h = headerObject(
    ['Connection', 'x-drop', 'X-Drop', '1', 'X-A', '1', 'x-a', '2', 'Authorization', 'Bearer s', 'X-Api-Key', 'k', 'x-umbra-shadow', '1', '__proto__', 'p', 'Keep-Alive', 'timeout=5'],
    redactor,
    true,
  );
  t.equal(JSON.stringify(h), '{"x-a":["1","2"],"authorization":"[REDACTED]","x-api-key":"[REDACTED]","__proto__":"p"}');
});

/** An in-memory file system whose writes fail with ENOSPC while `full` is set. */
function fakeFs(): CaptureFs & { files: Map<string, Buffer>; full: boolean } {
  const files = new Map<string, Buffer>();
  const fds = new Map<number, string>();
  let next = 3;
  let partial = false;
  const fs = {
    files,
    full: false,
    mkdirSync: () => undefined,
    openSync(path: string, flags: string): number {
      if (flags === 'wx' && files.has(path)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
      files.set(path, Buffer.alloc(0));
      fds.set(next, path);
      return next++;
    },
    writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number {
      const path = fds.get(fd) as string;
      // A full disk takes the first bytes of a write, then refuses the rest.
      if (fs.full && partial) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
      const n = fs.full ? Math.min(length - 1, 3) : length;
      partial = fs.full;
      files.set(path, Buffer.concat([files.get(path) as Buffer, buffer.subarray(offset, offset + n)]));
      return n;
    },
    ftruncateSync(fd: number, len: number): void {
      const path = fds.get(fd) as string;
      files.set(path, (files.get(path) as Buffer).subarray(0, len));
    },
    closeSync: (fd: number) => void fds.delete(fd),
    readdirSync: () => [...files.keys()].map((p) => p.slice('/d/'.length)),
    statSync: (path: string) => ({ size: (files.get(path) as Buffer).length }),
    unlinkSync: (path: string) => void files.delete(path),
  };
  return fs;
}

void t.test('CaptureFiles: a full disk loses the lines of that write, cuts the file back, and a new file is tried after retryMs', async (t) => {
  const fs = fakeFs();
  let now = 1_000_000;
  const files = new CaptureFiles(fs, { dir: '/d', maxFileBytes: 1024, maxTotalBytes: 10_240, gzip: false, retryMs: 500 }, () => now);
  const line = (s: string): Buffer => Buffer.from(`${s}\n`);
  t.same(files.write([line('one')]), { written: 1, failed: 0, tooLarge: 0, error: null });
  const first = files.current as string;
  fs.full = true;
  t.same(files.write([line('two'), line('three')]), { written: 0, failed: 2, tooLarge: 0, error: 'ENOSPC' });
  t.equal(fs.files.get(`/d/${first}`)?.toString(), 'one\n', 'the partial line is cut off');
  t.equal(files.current, null, 'the file is closed');
  fs.full = false;
  now += 100;
  t.same(files.write([line('four')]), { written: 0, failed: 1, tooLarge: 0, error: 'ENOSPC' }, 'before retryMs: dropped without touching the disk');
  now += 500;
  t.same(files.write([line('five')]), { written: 1, failed: 0, tooLarge: 0, error: null }, 'after retryMs: written');
  t.not(files.current, first, 'into a new file');
  t.equal(fs.files.get(`/d/${files.current as string}`)?.toString(), 'five\n');
});

void t.test('CaptureFiles: rotation and the total cap over a real directory; a line alone over the total is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-capture-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fs = await import('node:fs');
  const files = new CaptureFiles(fs, { dir: join(dir, 'sub'), maxFileBytes: 1024, maxTotalBytes: 3072, gzip: false, retryMs: 10 });
  const line = Buffer.from(`${'x'.repeat(299)}\n`);
  for (let i = 0; i < 30; i++) t.equal(files.write([line]).written, 1);
  files.close();
  const names = readdirSync(join(dir, 'sub')).sort();
  const sizes = names.map((n) => readFileSync(join(dir, 'sub', n)).length);
  t.ok(names.length >= 3, 'rotated');
  t.ok(sizes.every((s) => s <= 1024), 'each file within maxFileBytes');
  t.ok(sizes.reduce((a, b) => a + b, 0) <= 3072, 'total within maxTotalBytes');
  t.same(files.write([Buffer.alloc(4000, 10)]), { written: 0, failed: 0, tooLarge: 1, error: null });
});

function sink(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger('info', [], out), lines };
}

void t.test('CaptureWriter: a writer that is behind drops past its queue bound, counts, and lets go of every byte', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-capture-writer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const metrics = new Metrics({ defaultMetrics: false });
  const { log, lines } = sink();
  const writer = new CaptureWriter({
    config: { dir, sample: 1, routes: null, maxBodyBytes: 1024, maxFileBytes: 1024 ** 2, maxTotalBytes: 1024 ** 3, gzip: false },
    redact: { headers: [], fields: [] },
    metrics,
    log,
    maxQueued: 4,
  });
  let released = 0;
  const held = { releaseAll: () => void released++ };
  // One synchronous burst: the worker cannot take anything before it ends, so
  // one batch goes to it and four wait; the other fifteen are dropped at once.
  for (let i = 0; i < 20; i++) writer.submit(input({ path: `/n/${i}`, requestBody: Buffer.from(`body ${i}`) }), held);
  t.equal(writer.queued, 4, 'the queue is at its bound');
  t.equal(released, 15, 'dropped records let go of their bytes at once');
  await writer.close(60_000);
  t.equal(released, 20, 'every record let go once');
  const text = await metrics.registry.metrics();
  t.equal(metricValue(text, 'umbra_capture_records_total', { result: 'written' }), 5);
  t.equal(metricValue(text, 'umbra_capture_records_total', { result: 'dropped' }), 15);
  const written = readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l !== ''));
  t.same(
    written.map((l) => (JSON.parse(l) as { request: { path: string } }).request.path),
    ['/n/0', '/n/1', '/n/2', '/n/3', '/n/4'],
  );
  const warn = lines.find((l) => l.msg === 'capture records dropped');
  t.match(warn, { level: 'warn', dropped: { queue_full: Number } });
  t.notMatch(JSON.stringify(lines), /body \d/, 'no record content in a log line');
});
