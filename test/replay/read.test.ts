// Reading capture files: validation line by line, streaming with backpressure,
// gzip, directories in name order, and input that cannot be read.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ReplayFileError } from '../../src/errors.js';
import { captureFiles, parseCaptureLine, readCaptures, splitLines, type CapturedExchange } from '../../src/replay/read.js';
import { captureLine, writeCapture } from '../helpers/capture-lines.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

t.test('a valid line becomes an exchange: bodies decoded, null body empty, header names in lower case', async (t) => {
  const line = captureLine({ method: 'POST', path: '/a?b=1', headers: { 'X-Trace': 'x', accept: ['a', 'b'] }, body: '{"q":1}', status: 201, live: { ok: true }, ms: 7 });
  const x = parseCaptureLine(line, 'f:1') as CapturedExchange;
  t.equal(x.request.method, 'POST');
  t.equal(x.request.path, '/a?b=1');
  t.same(x.request.headers, { 'x-trace': 'x', accept: ['a', 'b'] });
  t.equal(x.request.body.toString(), '{"q":1}');
  t.equal(x.live.status, 201);
  t.equal(x.live.body.toString(), '{"ok":true}');
  t.equal(x.live.ms, 7);
  const nullBody = parseCaptureLine(captureLine({ path: '/' }), 'f:2') as CapturedExchange;
  t.equal(nullBody.request.body.length, 0);
  const missing = JSON.parse(captureLine({ path: '/' }));
  delete missing.request.body;
  delete missing.live.body;
  const m = parseCaptureLine(JSON.stringify(missing), 'f:3') as CapturedExchange;
  t.equal(m.request.body.length + m.live.body.length, 0, 'a missing body is empty too');
});

t.test('corrupt lines say why', async (t) => {
  const good = JSON.parse(captureLine({ path: '/x', body: 'hi' }));
  const variant = (f: (o: any) => void): string => {
    const o = structuredClone(good);
    f(o);
    return JSON.stringify(o);
  };
  const cases: [string, RegExp][] = [
    ['{"v":1,', /^not JSON/],
    ['[1,2]', /not a JSON object/],
    [variant((o) => (o.v = 2)), /unsupported record version 2/],
    [variant((o) => delete o.v), /unsupported record version null/],
    [variant((o) => delete o.id), /id must be a string/],
    [variant((o) => (o.request.body = 'not base64!')), /request\.body is not valid base64/],
    [variant((o) => (o.live.body = 'abc')), /live\.body is not valid base64/],
    [variant((o) => (o.request.body = 42)), /request\.body must be base64 text or null/],
    [variant((o) => (o.request.method = 'GE T')), /request\.method/],
    [variant((o) => (o.request.path = 'http://x/y')), /request\.path/],
    [variant((o) => (o.request.path = '/a b')), /request\.path/],
    [variant((o) => (o.request.headers = { 'x-a': 1 })), /request\.headers\.x-a must be a string/],
    [variant((o) => (o.request.headers = { 'x-a': 'a\r\nb' })), /request\.headers\.x-a holds a character/],
    [variant((o) => (o.request.headers = { 'bad name': 'a' })), /not a header name/],
    [variant((o) => (o.request.headers = { host: ['a', 'b'] })), /host must be one value/],
    [variant((o) => (o.live.status = 42)), /live\.status/],
    [variant((o) => delete o.live.ms), /live\.ms/],
    [variant((o) => delete o.live), /live must be an object/],
  ];
  for (const [line, reason] of cases) t.match(parseCaptureLine(line, 'f:1'), reason, line.slice(0, 60));
});

t.test('lines: LF and CRLF, split across chunks, a last line without its newline', async (t) => {
  const lines = await collect(splitLines(chunks('a\r\nb', 'c\n', '\n', 'd', 'e')));
  t.same(lines, [
    { line: 1, text: 'a' },
    { line: 2, text: 'bc' },
    { line: 3, text: '' },
    { line: 4, text: 'de' },
  ]);
});

t.test('a line over the cap is reported, never held whole, and the next line is read', async (t) => {
  const lines = await collect(splitLines(chunks('ok\n', 'x'.repeat(10), 'x'.repeat(10), 'x\nnext\n', 'y'.repeat(30)), 16));
  t.same(lines, [{ line: 1, text: 'ok' }, { line: 2, tooLong: true }, { line: 3, text: 'next' }, { line: 4, tooLong: true }]);
});

t.test('backpressure: the next chunk is pulled only when the lines before it have been taken', async (t) => {
  let pulled = 0;
  async function* source(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 1000; i++) {
      pulled++;
      yield Buffer.from(`line ${i}\n`);
    }
  }
  const it = splitLines(source());
  await it.next();
  await it.next();
  t.ok(pulled <= 3, `pulled ${pulled} of 1000 chunks for two lines`);
  await it.return(undefined);
});

t.test('a directory means its .jsonl and .jsonl.gz files in name order, nothing else', async (t) => {
  const dir = t.testdir({ 'b.jsonl': '', 'a.jsonl.gz': '', 'c.txt': '', 'notes.json': '', sub: { 'd.jsonl': '' } });
  t.same(captureFiles([dir]), [path.join(dir, 'a.jsonl.gz'), path.join(dir, 'b.jsonl')]);
  const file = path.join(dir, 'c.txt');
  t.same(captureFiles([file, dir]), [file, path.join(dir, 'a.jsonl.gz'), path.join(dir, 'b.jsonl')], 'a file named on the command line is read whatever its name');
});

t.test('input that cannot be read is a ReplayFileError naming it', async (t) => {
  const dir = t.testdir({ empty: {}, 'ok.jsonl': '' });
  const missing = path.join(dir, 'nope.jsonl');
  t.throws(() => captureFiles([path.join(dir, 'ok.jsonl'), missing]), { name: 'ReplayFileError', code: 'UMBRA_REPLAY_FILE', message: `${missing}: no such file or directory` });
  t.throws(() => captureFiles([path.join(dir, 'empty')]), new ReplayFileError(`${path.join(dir, 'empty')}: no capture files (*.jsonl, *.jsonl.gz) in this directory`));
});

t.test('files in order, gzip read through, corrupt lines reported as FILE:LINE and skipped', async (t) => {
  const dir = t.testdir({});
  const a = writeCapture(path.join(dir, 'a.jsonl'), [{ path: '/1' }, 'not json', { path: '/2' }]);
  const b = writeCapture(path.join(dir, 'b.jsonl.gz'), [{ path: '/3' }, '', { path: '/4' }]);
  const problems: string[] = [];
  const opened: string[] = [];
  const got = await collect(readCaptures([a, b], { corrupt: (where, why) => problems.push(`${where}: ${why}`), file: (f) => opened.push(f) }));
  t.same(
    got.map((x) => [x.where, x.request.path]),
    [
      [`${a}:1`, '/1'],
      [`${a}:3`, '/2'],
      [`${b}:1`, '/3'],
      [`${b}:3`, '/4'],
    ],
  );
  t.equal(problems.length, 1, 'a blank line is not a problem');
  t.match(problems[0], new RegExp(`^${a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not JSON`));
  t.same(opened, [a, b]);
});

t.test('a gzip file cut short: the lines before the cut stand, the cut is reported', async (t) => {
  const dir = t.testdir({});
  const whole = gzipSync(Array.from({ length: 200 }, (_, i) => captureLine({ path: `/${i}`, live: 'x'.repeat(200) })).join('\n') + '\n');
  const file = path.join(dir, 'cut.jsonl.gz');
  writeFileSync(file, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const problems: string[] = [];
  const got = await collect(readCaptures([file], { corrupt: (where, why) => problems.push(`${where}: ${why}`) }));
  t.ok(got.length > 50 && got.length < 200, `${got.length} exchanges before the cut`);
  t.equal(problems.length, 1);
  t.match(problems[0], /cut\.jsonl\.gz:\d+: cannot read on: .*the rest of this file is skipped/);
});

t.test('a directory of files is read in name order', async (t) => {
  const dir = t.testdir({});
  mkdirSync(path.join(dir, 'cap'));
  writeCapture(path.join(dir, 'cap', '2026-01-01T00-00-02.jsonl'), [{ path: '/second' }]);
  writeCapture(path.join(dir, 'cap', '2026-01-01T00-00-01.jsonl.gz'), [{ path: '/first' }]);
  const got = await collect(readCaptures(captureFiles([path.join(dir, 'cap')]), { corrupt: () => t.fail('no corrupt line') }));
  t.same(
    got.map((x) => x.request.path),
    ['/first', '/second'],
  );
});
