// DESIGN §2.2 / §2.8: "decompression and large parses never run on the event loop
// that serves live traffic"; "the dark side cannot hurt the live side". umbra runs
// in this process (test/helpers/umbra.ts), so its event loop is this test's.
//
// 1. Through real sockets, every content-coding and gRPC message-coding variant,
//    HEAD/204, a secondary, a large plain pair and a capture are compared without
//    a zlib decompressor or a JSON.parse over the inline bound called on this thread.
// 2. A small pair whose diff is costly (unordered leftovers scored against each
//    other, or every element different) is not compared on this thread past a few
//    thousand steps of work (compareInline's limit): it goes to a worker, with the
//    verdict it would have had inline.
import t from 'tap';
import zlib from 'node:zlib';
import { isMainThread } from 'node:worker_threads';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metricValue, request, startBackend, until } from '../helpers/net.js';
import { Worker } from 'node:worker_threads';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';
import { ComparePool, NoiseLearner, compileRules, type Answer } from '../../src/compare/index.js';
import { compareReady, INLINE_WORK_STEPS } from '../../src/compare/compare.js';
import { withWorkLimit } from '../../src/compare/json-diff.js';

// ---- spies: main-thread decompression and large JSON.parse ------------------------
// (Worker threads load their own zlib module and their own JSON; only this thread is watched.)

const mainThreadCalls: string[] = [];
const zlibObject = zlib as unknown as Record<string, (...a: unknown[]) => unknown>;
const DECOMPRESSORS = /^(create(Gunzip|Inflate|InflateRaw|Unzip|BrotliDecompress)|(gunzip|inflate|inflateRaw|unzip|brotliDecompress)(Sync)?)$/;
for (const name of Object.keys(zlib)) {
  if (!DECOMPRESSORS.test(name)) continue;
  const original = zlibObject[name] as (...a: unknown[]) => unknown;
  Object.defineProperty(zlibObject, name, {
    configurable: true,
    enumerable: true,
    writable: true,
    value: function (this: unknown, ...args: unknown[]) {
      if (isMainThread) mainThreadCalls.push(`zlib.${name}`);
      return original.apply(this, args);
    },
  });
}
// Jobs handed to a compare worker from this thread.
let jobsPosted = 0;
const originalPost = Object.getOwnPropertyDescriptor(Worker.prototype, 'postMessage')?.value as (this: Worker, ...args: Parameters<Worker['postMessage']>) => void;
Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
  if (typeof args[0] === 'object' && args[0] !== null && 'live' in args[0] && 'dark' in args[0]) jobsPosted++;
  return originalPost.apply(this, args);
};
const originalParse = JSON.parse;
JSON.parse = function (text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) {
  if (typeof text === 'string' && text.length >= 64 * 1024 && (new Error().stack ?? '').includes('/src/')) mainThreadCalls.push(`JSON.parse(${text.length} chars)`);
  return originalParse(text, reviver as never);
} as typeof JSON.parse;

type Answerer = (req: IncomingMessage, res: ServerResponse) => void;

const sendBody =
  (body: Buffer, headers: Record<string, string>, status = 200): Answerer =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

function grpcFrame(message: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

const sendGrpc =
  (frames: Buffer[], headers: Record<string, string> = {}): Answerer =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/grpc', ...headers });
    res.end(Buffer.concat(frames));
  };

async function comparisons(umbra: TestUmbra, n: number, what: string): Promise<string> {
  return until(async () => {
    const text = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
    return metricValue(text, 'umbra_comparisons_total') >= n ? text : '';
  }, 20_000, what);
}

void t.test('no coding variant, gRPC message coding, secondary, HEAD/204 or capture decompresses or parses large JSON on the main thread', async (t) => {
  // The spy itself works.
  zlib.gunzipSync(zlib.gzipSync(Buffer.from('x')));
  t.same(mainThreadCalls, ['zlib.gunzipSync'], 'the spy sees a main-thread decompression');
  mainThreadCalls.length = 0;

  let liveFn: Answerer = (_q, s) => s.end();
  let darkFn: Answerer = (_q, s) => s.end();
  let secondaryFn: Answerer = (_q, s) => s.end();
  const live = await startBackend((q, s) => liveFn(q, s));
  const dark = await startBackend((q, s) => darkFn(q, s));
  const secondary = await startBackend((q, s) => secondaryFn(q, s));
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }
dark: { url: "${dark.url}" }
secondary: { url: "${secondary.url}" }
mirror: { sample: 1.0 }
capture: { dir: "${t.testdir()}" }
redact: { fields: ["$..password"] }`,
    { level: 'info' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close(), secondary.close()]);
  });

  const small = Buffer.from(JSON.stringify({ a: 1, password: 'p', b: 'x'.repeat(100) }));
  const big = Buffer.from(JSON.stringify({ a: 1, b: 'x'.repeat(200_000) }));
  const bigOther = Buffer.from(big.toString().replace('"a":1', '"a":2'));
  const msg = Buffer.from([0x0a, 0x03, 0x70, 0x65, 0x6e, 0x10, 0x05]);
  const empty = Buffer.alloc(0);
  const cases: [name: string, live: Answerer, dark: Answerer, secondary: Answerer, method?: string][] = [
    ['dark x-gzip', sendBody(small, {}), sendBody(zlib.gzipSync(small), { 'content-encoding': 'x-gzip' }), sendBody(small, {})],
    ['dark " GZIP "', sendBody(small, {}), sendBody(zlib.gzipSync(small), { 'content-encoding': ' GZIP ' }), sendBody(small, {})],
    ['dark "gzip, identity"', sendBody(small, {}), sendBody(zlib.gzipSync(small), { 'content-encoding': 'gzip, identity' }), sendBody(small, {})],
    ['dark "identity, br"', sendBody(small, {}), sendBody(zlib.brotliCompressSync(small), { 'content-encoding': 'identity, br' }), sendBody(small, {})],
    ['dark empty content-encoding', sendBody(small, {}), sendBody(small, { 'content-encoding': '' }), sendBody(small, {})],
    ['dark unknown coding "gzip, zstd"', sendBody(small, {}), sendBody(zlib.gzipSync(small), { 'content-encoding': 'gzip, zstd' }), sendBody(small, {})],
    ['three nested codings', sendBody(small, {}), sendBody(zlib.gzipSync(zlib.gzipSync(zlib.gzipSync(small))), { 'content-encoding': 'gzip, gzip, gzip' }), sendBody(small, {})],
    ['live gzip, dark br', sendBody(zlib.gzipSync(small), { 'content-encoding': 'gzip' }), sendBody(zlib.brotliCompressSync(small), { 'content-encoding': 'br' }), sendBody(small, {})],
    ['both gzip, other bytes', sendBody(zlib.gzipSync(small), { 'content-encoding': 'gzip' }), sendBody(zlib.gzipSync(small, { level: 1 }), { 'content-encoding': 'gzip' }), sendBody(small, {})],
    ['only the secondary encoded', sendBody(small, {}), sendBody(small, {}), sendBody(zlib.gzipSync(small), { 'content-encoding': 'deflate' })],
    ['large plain pair', sendBody(big, {}), sendBody(bigOther, {}), sendBody(big, {})],
    ['large secondary only', sendBody(small, {}), sendBody(small, {}), sendBody(big, {})],
    ['204 labelled gzip/br', sendBody(empty, { 'content-encoding': 'gzip' }, 204), sendBody(empty, { 'content-encoding': 'br' }, 204), sendBody(small, {})],
    ['HEAD labelled gzip/br', sendBody(empty, { 'content-encoding': 'gzip' }), sendBody(empty, { 'content-encoding': 'br' }), sendBody(small, {}), 'HEAD'],
    ['live gzip (captured, redact.fields set)', sendBody(zlib.gzipSync(big), { 'content-encoding': 'gzip' }), sendBody(small, {}), sendBody(small, {})],
    ['gRPC: dark message gzip', sendGrpc([grpcFrame(msg)]), sendGrpc([grpcFrame(zlib.gzipSync(msg), true)], { 'grpc-encoding': 'gzip' }), sendGrpc([grpcFrame(msg)])],
    ['gRPC: second message compressed', sendGrpc([grpcFrame(msg), grpcFrame(msg)]), sendGrpc([grpcFrame(msg), grpcFrame(zlib.gzipSync(msg), true)], { 'grpc-encoding': 'gzip' }), sendGrpc([grpcFrame(msg), grpcFrame(msg)])],
    ['gRPC: " Deflate " message coding', sendGrpc([grpcFrame(msg)]), sendGrpc([grpcFrame(zlib.deflateSync(msg), true)], { 'grpc-encoding': ' Deflate ' }), sendGrpc([grpcFrame(msg)])],
    ['gRPC: only the secondary compressed', sendGrpc([grpcFrame(msg)]), sendGrpc([grpcFrame(msg)]), sendGrpc([grpcFrame(zlib.gzipSync(msg), true)], { 'grpc-encoding': 'gzip' })],
    ['gRPC: compressed under an unknown grpc-encoding', sendGrpc([grpcFrame(msg)]), sendGrpc([grpcFrame(zlib.gzipSync(msg), true)], { 'grpc-encoding': 'snappy' }), sendGrpc([grpcFrame(msg)])],
  ];
  let n = 0;
  for (const [name, l, d, s, method] of cases) {
    liveFn = l;
    darkFn = d;
    secondaryFn = s;
    mainThreadCalls.length = 0;
    await request(`${umbra.proxyUrl}/x`, { method: method ?? 'GET' });
    await comparisons(umbra, ++n, name);
    t.same(mainThreadCalls, [], `${name}: nothing decompressed or parsed large on the main thread`);
  }
  const m = await comparisons(umbra, n, 'all');
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'decode_too_deep' }), 1, 'three codings: decode_too_deep');
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'decode_error' }), 1, 'a compressed gRPC message under snappy: decode_error');
});

// ---- costly diffs of small bodies -----------------------------------------------------

/** A JSON tree: `levels` nested arrays named `a`, `width` wide; `salt` changes every leaf. */
function tree(levels: number, width: number, salt: number, path = ''): unknown {
  if (levels === 0) return { v: salt, p: path.length };
  return { k: 1, a: Array.from({ length: width }, (_, i) => tree(levels - 1, width, salt, `${path}${i}`)) };
}

const json = (v: unknown): Answer => ({ status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(v)), truncated: false });
const rulesWith = (over: { unordered?: string[] } = {}) =>
  compileRules({ ignoreHeaders: [], ignore: [], unordered: over.unordered ?? [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 8 << 20, maxDecodeRatio: 1000 });
const ints = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
const record = (i: number, s: number): Record<string, number> => {
  const o: Record<string, number> = { id: i + s };
  for (let m = 0; m < 14; m++) o[`m${m}`] = (i * 7 + m + s) % 10;
  return o;
};

void t.test('withWorkLimit: a walk past its steps is abandoned (null), one within them returns its result; limits nest', (t) => {
  const rules = rulesWith({ unordered: ['$..a'] });
  const l = json(tree(3, 10, 1));
  const d = json(tree(3, 10, 2));
  t.equal(withWorkLimit(1000, () => compareReady(l, d, 'plain', rules, { method: 'GET' })), null, '1,000 steps are not enough');
  const v = withWorkLimit(1e9, () => compareReady(l, d, 'plain', rules, { method: 'GET' }));
  t.equal(v?.result, 'mismatch', 'with room, the verdict');
  t.equal(withWorkLimit(1e9, () => [withWorkLimit(10, () => compareReady(l, d, 'plain', rules, { method: 'GET' })), 'after'] as const)?.[0], null, 'an inner limit holds inside an outer one');
  t.throws(() => withWorkLimit(10, () => {
    throw new TypeError('not ours');
  }), TypeError, 'other errors pass through');
  t.end();
});

void t.test('nested unordered arrays: probes inside probes pair by members, so the work grows with the documents, not with each level', (t) => {
  const rules = rulesWith({ unordered: ['$..a'] });
  // Five levels of six (130 KB a side): scored pair by pair at every level this took 13 s.
  const l = json(tree(5, 6, 1));
  const d = json(tree(5, 6, 2));
  const bytes = l.body.length + d.body.length;
  const v = withWorkLimit(60 * bytes, () => compareReady(l, d, 'plain', rules, { method: 'GET' }));
  t.not(v, null, `compared within 60 steps a byte (${bytes} bytes)`);
  t.equal(v?.result, 'mismatch');
  t.end();
});

void t.test('compareInline gives a costly small pair to a worker; the worker\'s verdict is the one it would have made inline', async (t) => {
  const pool = new ComparePool({ size: 1 });
  t.teardown(() => pool.close());
  const unordered = rulesWith({ unordered: ['$..a'] });
  const plain = rulesWith();
  const cases: [name: string, live: unknown, dark: unknown, rules: ReturnType<typeof rulesWith>, inline: boolean][] = [
    ['one unordered array of 500 records, all changed', { a: ints(500, (i) => i).map((i) => record(i, 0)) }, { a: ints(500, (i) => i).map((i) => record(i, 100_001)) }, unordered, false],
    ['unordered arrays nested 4 deep', tree(4, 6, 1), tree(4, 6, 2), unordered, false],
    ['unordered arrays nested 3 deep, 10 wide', tree(3, 10, 1), tree(3, 10, 2), unordered, false],
    ['16,000 numbers, every one different', ints(16_000, (i) => i % 10), ints(16_000, (i) => (i + 1) % 10), plain, false],
    ['500 records, one field changed', ints(500, (i) => i).map((i) => record(i, 0)), ints(500, (i) => i).map((i) => (i === 300 ? record(i, 1) : record(i, 0))), plain, true],
    ['500 unordered records, reversed, one changed', { a: ints(500, (i) => i).map((i) => record(i, 0)) }, { a: ints(500, (i) => 499 - i).map((i) => (i === 300 ? record(i, 1) : record(i, 0))) }, unordered, true],
  ];
  for (const [name, lv, dv, rules, inline] of cases) {
    const l = json(lv);
    const d = json(dv);
    t.ok(Math.max(l.body.length, d.body.length) < pool.inlineBelowBytes, `${name}: ${l.body.length}/${d.body.length} bytes, under the inline bound`);
    const reference = compareReady(json(lv), json(dv), 'plain', rules, { method: 'GET' });
    const here = pool.compareHere(json(lv), json(dv), null, rules, new NoiseLearner(), { method: 'GET' });
    if (inline) {
      t.not(here, null, `${name}: compared inline`);
      t.same(here, reference, `${name}: the inline verdict`);
    } else {
      t.equal(here, null, `${name}: past ${INLINE_WORK_STEPS} steps, handed to a worker`);
      t.same(await pool.compare(l, d, rules, { method: 'GET' }), reference, `${name}: the worker's verdict is the full comparison's`);
    }
  }
});

void t.test('through umbra: a 15 KiB pair with nested unordered arrays is compared in a worker, and still found to differ', async (t) => {
  const liveBody = Buffer.from(JSON.stringify(tree(3, 10, 1)));
  const darkBody = Buffer.from(JSON.stringify(tree(3, 10, 2)));
  t.ok(liveBody.length < 16 * 1024 && darkBody.length < 16 * 1024, `small bodies: ${liveBody.length} and ${darkBody.length} bytes, far below the 64 KiB inline bound`);
  const tiny = Buffer.from('{"a":[1]}');
  const live = await startBackend((q, s) => sendBody(q.url === '/warm' ? tiny : liveBody, {})(q, s));
  const dark = await startBackend((q, s) => sendBody(q.url === '/warm' ? tiny : darkBody, {})(q, s));
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }
dark: { url: "${dark.url}" }
mirror: { sample: 1.0 }
compare: { unordered: ["$..a"] }`,
    { level: 'info' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close()]);
  });
  await request(`${umbra.proxyUrl}/warm`);
  await comparisons(umbra, 1, 'warm-up');
  const before = jobsPosted;
  const r = await request(`${umbra.proxyUrl}/x`);
  t.equal(r.body.length, liveBody.length, 'the client gets the live answer');
  const m = await comparisons(umbra, 2, 'the comparison');
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'mismatch' }), 1, 'the pair was compared: a mismatch');
  t.equal(jobsPosted - before, 1, 'in a worker, not on the event loop that serves live traffic');
});
