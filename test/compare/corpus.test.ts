// Table-driven corpus of answer pairs: each row states the exact verdict and
// the exact (field, kind) list it must produce.

import t from 'tap';
import zlib from 'node:zlib';
import type { CompareConfig } from '../../src/config/types.js';
import type { Answer } from '../../src/compare/index.js';
import { CUT, compareAnswers, compileRules, exactNumber, writeJson } from '../../src/compare/index.js';

const JSON_CT = { 'content-type': 'application/json' };

function ans(body: string | Buffer, headers: Record<string, string | string[]> = JSON_CT, status = 200, truncated = false): Answer {
  return { status, headers, body: typeof body === 'string' ? Buffer.from(body) : body, truncated };
}

interface Row {
  name: string;
  live: Answer;
  dark: Answer;
  compare?: Partial<CompareConfig>;
  method?: string;
  maxDecodedBytes?: number;
  result: 'match' | 'mismatch' | 'skipped';
  reason?: string;
  /** Exact list, in order: "field kind". */
  diffs?: string[];
  /** Optional checks on the first difference's values. */
  values?: { live?: unknown; dark?: unknown };
}

const big = JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `item ${i}` })) });

const rows: Row[] = [
  { name: 'identical bytes', live: ans('{"a":1}'), dark: ans('{"a":1}'), result: 'match', diffs: [] },
  { name: 'key order never matters', live: ans('{"a":1,"b":{"x":1,"y":2}}'), dark: ans('{"b":{"y":2,"x":1},"a":1}'), result: 'match', diffs: [] },
  { name: '1 vs 1.0 match', live: ans('{"n":1,"m":[1e2]}'), dark: ans('{"n":1.0,"m":[100]}'), result: 'match', diffs: [] },
  { name: 'numbers differ without tolerance', live: ans('{"p":100}'), dark: ans('{"p":100.5}'), result: 'mismatch', diffs: ['$.p changed'], values: { live: 100, dark: 100.5 } },
  { name: 'within tolerance', live: ans('{"p":100}'), dark: ans('{"p":100.5}'), compare: { tolerance: 0.01 }, result: 'match', diffs: [] },
  { name: 'beyond tolerance', live: ans('{"p":100}'), dark: ans('{"p":102}'), compare: { tolerance: 0.01 }, result: 'mismatch', diffs: ['$.p changed'] },
  { name: 'reordered array is order', live: ans('{"tags":["a","b","c"]}'), dark: ans('{"tags":["c","a","b"]}'), result: 'mismatch', diffs: ['$.tags order'] },
  { name: 'moved and changed is not order', live: ans('[1,2,3]'), dark: ans('[2,1,4]'), result: 'mismatch', diffs: ['$[*] changed'] },
  { name: 'reordered unordered array matches', live: ans('{"tags":["a","b","c"]}'), dark: ans('{"tags":["c","a","b"]}'), compare: { unordered: ['$.tags'] }, result: 'match', diffs: [] },
  { name: 'unordered objects with tolerance pair up', live: ans('{"xs":[{"v":1},{"v":100}]}'), dark: ans('{"xs":[{"v":100.4},{"v":1}]}'), compare: { unordered: ['$.xs'], tolerance: 0.01 }, result: 'match', diffs: [] },
  { name: 'unordered multiset differs', live: ans('{"tags":["a","b","b"]}'), dark: ans('{"tags":["b","a","a"]}'), compare: { unordered: ['$.tags'] }, result: 'mismatch', diffs: ['$.tags[*] changed'], values: { live: 'b', dark: 'a' } },
  { name: 'unordered extra element', live: ans('{"tags":["a","b"]}'), dark: ans('{"tags":["b","a","c"]}'), compare: { unordered: ['$.tags'] }, result: 'mismatch', diffs: ['$.tags[*] added'] },
  { name: 'unordered changed element reports its field', live: ans('{"xs":[{"id":1,"p":5},{"id":2,"p":6}]}'), dark: ans('{"xs":[{"id":2,"p":6},{"id":1,"p":7}]}'), compare: { unordered: ['$.xs'] }, result: 'mismatch', diffs: ['$.xs[*].p changed'] },
  { name: 'array element changed', live: ans('{"items":[{"price":1},{"price":2}]}'), dark: ans('{"items":[{"price":1},{"price":3}]}'), result: 'mismatch', diffs: ['$.items[*].price changed'] },
  { name: 'array longer and shorter', live: ans('{"a":[1,2],"b":[1,2,3]}'), dark: ans('{"a":[1,2,3],"b":[1,2]}'), result: 'mismatch', diffs: ['$.a[*] added', '$.b[*] removed'] },
  { name: 'nested added, removed, changed', live: ans('{"u":{"name":"a","old":1,"deep":{"x":1}}}'), dark: ans('{"u":{"name":"b","new":2,"deep":{"x":2}}}'), result: 'mismatch', diffs: ['$.u.name changed', '$.u.old removed', '$.u.deep.x changed', '$.u.new added'] },
  { name: 'null vs missing is removed', live: ans('{"a":null,"b":1}'), dark: ans('{"b":1}'), result: 'mismatch', diffs: ['$.a removed'], values: { live: null } },
  { name: 'missing vs null is added', live: ans('{"b":1}'), dark: ans('{"a":null,"b":1}'), result: 'mismatch', diffs: ['$.a added'], values: { dark: null } },
  { name: 'type change', live: ans('{"a":1,"b":"x","c":[],"d":null}'), dark: ans('{"a":"1","b":{},"c":{},"d":0}'), result: 'mismatch', diffs: ['$.a type', '$.b type', '$.c type', '$.d type'] },
  { name: 'invalid JSON on dark', live: ans('{"a":1}'), dark: ans('<html>oops</html>'), result: 'mismatch', diffs: ['$ type'], values: { live: 'object', dark: 'invalid JSON' } },
  { name: 'invalid JSON on live', live: ans('{"a":'), dark: ans('[1]'), result: 'mismatch', diffs: ['$ type'], values: { live: 'invalid JSON', dark: 'array' } },
  { name: 'invalid JSON on both compares as text', live: ans('oops\nline2'), dark: ans('oops\nline 2'), result: 'mismatch', diffs: ['line:2 changed'] },
  { name: 'empty JSON body vs JSON', live: ans(''), dark: ans('{}'), result: 'mismatch', diffs: ['$ type'] },
  {
    name: 'gzip vs plain match',
    live: ans(zlib.gzipSync('{"a":1,"b":2}'), { ...JSON_CT, 'content-encoding': 'gzip' }),
    dark: ans('{"b":2,"a":1}'),
    result: 'match',
    diffs: [],
  },
  {
    name: 'br vs plain differ in a field',
    live: ans(zlib.brotliCompressSync('{"a":1}'), { ...JSON_CT, 'content-encoding': 'br' }),
    dark: ans('{"a":2}'),
    result: 'mismatch',
    diffs: ['$.a changed'],
  },
  {
    name: 'deflate (zlib) vs raw deflate match',
    live: ans(zlib.deflateSync(big), { ...JSON_CT, 'content-encoding': 'deflate' }),
    dark: ans(zlib.deflateRawSync(big), { ...JSON_CT, 'content-encoding': 'deflate' }),
    result: 'match',
    diffs: [],
  },
  {
    name: 'gzip bomb is decode_too_large',
    live: ans(zlib.gzipSync(Buffer.alloc(10_000_000)), { ...JSON_CT, 'content-encoding': 'gzip' }),
    dark: ans('{}'),
    maxDecodedBytes: 1024 * 1024,
    result: 'skipped',
    reason: 'decode_too_large',
  },
  {
    name: 'corrupt gzip is decode_error',
    live: ans(Buffer.from('not gzip at all'), { ...JSON_CT, 'content-encoding': 'gzip' }),
    dark: ans('{}'),
    result: 'skipped',
    reason: 'decode_error',
  },
  {
    name: 'unknown encoding compares raw bytes',
    live: ans(Buffer.from('zzz'), { ...JSON_CT, 'content-encoding': 'zstd' }),
    dark: ans(Buffer.from('zzz'), { ...JSON_CT, 'content-encoding': 'zstd' }),
    result: 'match',
    diffs: [],
  },
  {
    name: 'chunked vs content-length: built-in ignored headers',
    live: ans('{"a":1}', { ...JSON_CT, 'transfer-encoding': 'chunked', date: 'Mon', server: 'a', connection: 'keep-alive', 'keep-alive': 'timeout=5' }),
    dark: ans('{"a":1}', { ...JSON_CT, 'content-length': '7', date: 'Tue', server: 'b', 'x-request-id': 'r2', etag: '"x"' }),
    result: 'match',
    diffs: [],
  },
  {
    name: 'header added, removed, changed (case-insensitive, multi-value joined)',
    live: ans('{}', { ...JSON_CT, 'x-a': '1', 'x-gone': 'y', vary: ['accept', 'origin'] }),
    dark: ans('{}', { 'Content-Type': 'application/json', 'x-a': '2', 'x-new': 'z', vary: 'accept, origin' }),
    result: 'mismatch',
    diffs: ['header:x-a changed', 'header:x-gone removed', 'header:x-new added'],
  },
  {
    name: 'configured header ignore list',
    live: ans('{}', { ...JSON_CT, 'x-trace-id': 'a', 'X-Span': 'b' }),
    dark: ans('{}', { ...JSON_CT, 'x-trace-id': 'c' }),
    compare: { ignoreHeaders: ['x-trace-id', 'X-SPAN'] },
    result: 'match',
    diffs: [],
  },
  {
    name: 'headers named in Connection are hop-by-hop',
    live: ans('{}', { ...JSON_CT, connection: 'x-hop', 'x-hop': '1' }),
    dark: ans('{}', { ...JSON_CT, 'x-hop': '2' }),
    result: 'match',
    diffs: [],
  },
  { name: 'status 404 vs 200', live: ans('{}', JSON_CT, 200), dark: ans('{}', JSON_CT, 404), result: 'mismatch', diffs: ['status changed'], values: { live: 200, dark: 404 } },
  {
    name: 'text: first differing line',
    live: ans('a\nb\nc\nd', { 'content-type': 'text/plain; charset=utf-8' }),
    dark: ans('a\nb\nX\nY', { 'content-type': 'text/plain; charset=utf-8' }),
    result: 'mismatch',
    diffs: ['line:3 changed'],
    values: { live: 'c', dark: 'X' },
  },
  {
    name: 'text: dark has more lines',
    live: ans('a\nb', { 'content-type': 'text/html' }),
    dark: ans('a\nb\nc', { 'content-type': 'text/html' }),
    result: 'mismatch',
    diffs: ['line:3 added'],
    values: { dark: 'c' },
  },
  {
    name: 'xml is text, long lines trimmed',
    live: ans(`<a>${'x'.repeat(1000)}</a>`, { 'content-type': 'application/atom+xml' }),
    dark: ans(`<a>${'y'.repeat(1000)}</a>`, { 'content-type': 'application/atom+xml' }),
    result: 'mismatch',
    diffs: ['line:1 changed'],
  },
  {
    name: 'binary by length and hash',
    live: ans(Buffer.from([1, 2, 3]), { 'content-type': 'image/png' }),
    dark: ans(Buffer.from([1, 2, 4, 5]), { 'content-type': 'image/png' }),
    result: 'mismatch',
    diffs: ['$ changed'],
    values: {
      live: { bytes: 3, sha256: '039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81' },
      dark: { bytes: 4, sha256: '6e26b7472e463e0cd81852fdc5ffce2e5c73fac4c906b33fba7d195e6ad64087' },
    },
  },
  { name: 'binary equal', live: ans(Buffer.from([9, 9]), {}), dark: ans(Buffer.from([9, 9]), {}), result: 'match', diffs: [] },
  { name: 'HEAD: bodies not compared', live: ans('{"a":1}'), dark: ans('{"a":2}'), method: 'HEAD', result: 'match', diffs: [] },
  { name: '204: bodies not compared', live: ans('', JSON_CT, 204), dark: ans('x', JSON_CT, 204), result: 'match', diffs: [] },
  { name: '304 vs 200: status only', live: ans('', JSON_CT, 304), dark: ans('{"a":1}', JSON_CT, 200), result: 'mismatch', diffs: ['status changed'] },
  { name: 'empty bodies', live: ans('', {}), dark: ans('', {}), result: 'match', diffs: [] },
  { name: 'truncated live skips', live: ans('{"a":1}', JSON_CT, 200, true), dark: ans('{"a":2}'), result: 'skipped', reason: 'too_large' },
  { name: 'truncated dark skips, even with a status difference', live: ans('{}'), dark: ans('{}', JSON_CT, 500, true), result: 'skipped', reason: 'too_large' },
  { name: 'unicode escapes', live: ans('{"s":"\\u00e9\\ud83d\\ude00"}'), dark: ans('{"s":"é😀"}'), result: 'match', diffs: [] },
  {
    name: 'problem+json with charset, upper case',
    live: ans('{"title":"a","status":400}', { 'content-type': 'Application/Problem+JSON; charset=UTF-8' }),
    dark: ans('{"status":400,"title":"b"}', { 'content-type': 'application/problem+json' }),
    result: 'mismatch',
    // The header differs (a charset on one side only); the body is still read as JSON.
    diffs: ['header:content-type changed', '$.title changed'],
  },
  { name: 'dark content-type used when live has none', live: ans('{"a":1}', {}), dark: ans('{ "a": 1 }'), result: 'mismatch', diffs: ['header:content-type added'] },
  { name: '20-digit integers differ', live: ans('{"id":12345678901234567890}'), dark: ans('{"id":12345678901234567891}'), result: 'mismatch', diffs: ['$.id changed'], values: { live: exactNumber('12345678901234567890'), dark: exactNumber('12345678901234567891') } },
  { name: '20-digit integers equal', live: ans('{"id":12345678901234567890}'), dark: ans('{"id":1.2345678901234567890e19}'), result: 'match', diffs: [] },
  { name: 'long decimals differ', live: ans('[0.10000000000000000001]'), dark: ans('[0.10000000000000000002]'), result: 'mismatch', diffs: ['$[*] changed'] },
  { name: 'big integer vs its rounded double differ', live: ans('{"id":9007199254740993}'), dark: ans('{"id":9007199254740992}'), result: 'mismatch', diffs: ['$.id changed'] },
  {
    name: 'ignore paths: exact, [*], ..',
    live: ans('{"meta":{"requestId":"a"},"items":[{"id":1,"updatedAt":"x","etag":"1"}],"deep":{"x":{"etag":"2"}},"k":1}'),
    dark: ans('{"meta":{"requestId":"b"},"items":[{"id":1,"updatedAt":"y"}],"deep":{"x":{"etag":"3"}},"k":1}'),
    compare: { ignore: ['$.meta.requestId', '$.items[*].updatedAt', '$..etag'] },
    result: 'match',
    diffs: [],
  },
  {
    name: 'ignore paths do not hide other fields',
    live: ans('{"meta":{"requestId":"a","v":1}}'),
    dark: ans('{"meta":{"requestId":"b","v":2}}'),
    compare: { ignore: ['$.meta.requestId'] },
    result: 'mismatch',
    diffs: ['$.meta.v changed'],
  },
  {
    name: 'ignored fields inside reordered elements',
    live: ans('{"xs":[{"id":1,"t":1},{"id":2,"t":2}]}'),
    dark: ans('{"xs":[{"id":2,"t":9},{"id":1,"t":8}]}'),
    compare: { ignore: ['$.xs[*].t'] },
    result: 'mismatch',
    diffs: ['$.xs order'],
  },
  { name: 'keys that are not identifiers', live: ans('{"we ird":{"a-b":1}}'), dark: ans('{"we ird":{"a-b":2}}'), result: 'mismatch', diffs: ['$["we ird"]["a-b"] changed'] },
  { name: 'root array paths', live: ans('[[1,2],[3]]'), dark: ans('[[1,2],[4]]'), result: 'mismatch', diffs: ['$[*][*] changed'] },
  { name: 'repeated differences collapse to one per field', live: ans('[{"p":1},{"p":2},{"p":3}]'), dark: ans('[{"p":4},{"p":5},{"p":6}]'), result: 'mismatch', diffs: ['$[*].p changed'] },
  { name: '__proto__ key is data', live: ans('{"__proto__":{"x":1},"n":12345678901234567890}'), dark: ans('{"__proto__":{"x":2},"n":12345678901234567890}'), result: 'mismatch', diffs: ['$.__proto__.x changed'] },
];

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };

for (const row of rows) {
  void t.test(row.name, async (t) => {
    const rules = compileRules({ ...base, ...row.compare }, { maxDecodedBytes: row.maxDecodedBytes ?? 8 * 1024 * 1024 });
    const v = compareAnswers(row.live, row.dark, rules, { method: row.method ?? 'GET' });
    t.equal(v.result, row.result, 'result');
    if (row.reason !== undefined) t.equal(v.reason, row.reason, 'reason');
    else t.notOk('reason' in v, 'no reason');
    if (row.diffs !== undefined) t.strictSame(v.differences.map((d) => `${d.field} ${d.kind}`), row.diffs, 'differences');
    t.strictSame(v.noise, [], 'no noise without a baseline');
    if (row.values !== undefined) {
      const d = v.differences[0];
      if ('live' in row.values) t.strictSame(d?.live, row.values.live, 'live value');
      if ('dark' in row.values) t.strictSame(d?.dark, row.values.dark, 'dark value');
    }
    t.end();
  });
}

void t.test('difference values are bounded', async (t) => {
  const rules = compileRules(base, { maxDecodedBytes: 1 << 20 });
  const longStr = 'x'.repeat(5000);
  const bigObj = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
  const v = compareAnswers(ans(JSON.stringify({ s: longStr, o: bigObj })), ans(JSON.stringify({ s: 'y', o: 1 })), rules, { method: 'GET' });
  const s = v.differences.find((d) => d.field === '$.s');
  const o = v.differences.find((d) => d.field === '$.o');
  t.strictSame(s?.live, { [CUT]: { string: 5000, head: 'x'.repeat(200) } }, 'a long string keeps its head and its length');
  t.equal(o?.kind, 'type');
  const kept = Object.keys(o?.live ?? {}).filter((k) => k !== CUT);
  t.strictSame(kept, Array.from({ length: kept.length }, (_, i) => `k${i}`), 'a big object keeps its first keys');
  t.ok(kept.length > 20, `${kept.length} keys kept`);
  t.strictSame((o?.live as Record<string, unknown>)[CUT], { keys: 500 - kept.length }, 'and says how many it left out');
  t.ok(writeJson(v).length < 2000, 'whole verdict stays small');
  t.end();
});

void t.test('many differing fields are capped', async (t) => {
  const rules = compileRules(base, { maxDecodedBytes: 1 << 20 });
  const a = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]));
  const b = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i + 1]));
  const v = compareAnswers(ans(JSON.stringify(a)), ans(JSON.stringify(b)), rules, { method: 'GET' });
  t.equal(v.result, 'mismatch');
  t.equal(v.differences.length, 100);
  t.end();
});

void t.test('bad field paths are rejected at compile time', (t) => {
  t.throws(() => compileRules({ ...base, ignore: ['meta.id'] }, { maxDecodedBytes: 1 }), { code: 'UMBRA_BAD_FIELD_PATH' });
  t.throws(() => compileRules({ ...base, ignore: ['$.a['] }, { maxDecodedBytes: 1 }), { code: 'UMBRA_BAD_FIELD_PATH' });
  t.doesNotThrow(() => compileRules({ ...base, ignore: ['$["we ird"].x', '$.a[0]', '$..*'] }, { maxDecodedBytes: 1 }));
  t.end();
});

void t.test('headers: the quick equality check and the full comparison agree', (t) => {
  const rules = compileRules(base, { maxDecodedBytes: 1 << 20 });
  const run = (live: Record<string, string | string[]>, dark: Record<string, string | string[]>): string[] =>
    compareAnswers(
      { status: 200, headers: live, body: Buffer.from('x'), truncated: false },
      { status: 200, headers: dark, body: Buffer.from('x'), truncated: false },
      rules,
      { method: 'GET' },
    ).differences.map((d) => `${d.field} ${d.kind}`);
  t.strictSame(run({ a: '1', b: '2' }, { b: '2', a: '1' }), [], 'order does not matter');
  t.strictSame(run({ a: ['1', '2'] }, { a: '1, 2' }), [], 'a repeated header equals its joined value');
  t.strictSame(run({ a: '1' }, { a: '1', z: '9' }), ['header:z added']);
  t.strictSame(run({ a: '1', z: '9' }, { a: '1' }), ['header:z removed']);
  t.strictSame(run({ a: '1', date: 'x' }, { a: '1', date: 'y', server: 'n' }), [], 'ignored headers on one side only');
  t.strictSame(run({ A: '1' }, { a: '1' }), [], 'names compare case-insensitively');
  t.strictSame(run({ a: '1', connection: 'x-hop', 'x-hop': 'p' }, { a: '1', 'x-hop': 'q' }), [], 'a name listed in Connection is per message');
  t.strictSame(run({ a: '1', b: '2' }, { a: '1', c: '2' }), ['header:b removed', 'header:c added']);
  t.end();
});
