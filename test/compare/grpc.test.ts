// gRPC answers through the engine (DESIGN §5 gRPC), without protos: messages
// unframed (and gzip-decoded), compared by field number with every JSON rule,
// trailers and the trailers-only form, and the same verdict in a worker.
import t from 'tap';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import type { CompareConfig } from '../../src/config/types.js';
import type { Answer, Verdict } from '../../src/compare/index.js';
import { ComparePool, MemoryBudget, compareAnswers, compileRules, exactText, isExactNumber, planBodies } from '../../src/compare/index.js';
import { frame, grpcAnswer } from './fixtures/grpc.js';

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
const limits = { maxDecodedBytes: 1 << 20 };
const rules = compileRules(base, limits);
const ctx = { method: 'POST', path: '/shop.v1.Shop/GetItem' };

const w = (): protobuf.Writer => protobuf.Writer.create();
/** An Item-like message: 1 name, 2 price (varint), 3 nested {1 id, 2 note}, 4 tags (repeated). */
function item(name: string, price: number, id = 7, tags: string[] = ['a', 'b']): Uint8Array {
  const x = w().uint32(10).string(name).uint32(16).uint64(price).uint32(26).fork().uint32(8).uint32(id).uint32(18).string('note').ldelim();
  for (const tag of tags) x.uint32(34).string(tag);
  return x.finish();
}

const list = (v: Verdict): string[] => v.differences.map((d) => `${d.field} ${d.kind}`);

void t.test('one message: fields by number, at their paths', async (t) => {
  const live = grpcAnswer(frame(item('pen', 150)));
  t.equal(compareAnswers(live, grpcAnswer(frame(item('pen', 150))), rules, ctx).result, 'match');
  const v = compareAnswers(live, grpcAnswer(frame(item('pen', 175, 8))), rules, ctx);
  t.strictSame(v.differences, [
    { part: 'body', field: '$["2"]', kind: 'changed', live: 150, dark: 175 },
    { part: 'body', field: '$["3"]["1"]', kind: 'changed', live: 7, dark: 8 },
  ]);
  t.strictSame(list(compareAnswers(live, grpcAnswer(frame(item('pen', 150, 7, ['b', 'a']))), rules, ctx)), ['$["4"] order']);
  t.strictSame(list(compareAnswers(live, grpcAnswer(frame(item('pen', 150, 7, ['a']))), rules, ctx)), ['$["4"] type'], 'one tag is a value, two an array: the documented ambiguity');
  t.strictSame(list(compareAnswers(live, grpcAnswer(frame(item('pen', 150, 7, ['a', 'b', 'c']))), rules, ctx)), ['$["4"][*] added']);
  // A field only dark has.
  const more = Buffer.concat([Buffer.from(item('pen', 150)), w().uint32(40).uint32(1).finish()]);
  t.strictSame(compareAnswers(live, grpcAnswer(frame(more)), rules, ctx).differences, [{ part: 'body', field: '$["5"]', kind: 'added', dark: 1 }]);
});

void t.test('every rule works on field-number paths', async (t) => {
  const live = grpcAnswer(frame(item('pen', 150, 7, ['a', 'b'])));
  const dark = grpcAnswer(frame(item('pen', 151, 8, ['b', 'a'])));
  const r = compileRules({ ...base, ignore: ['$["3"]["1"]'], unordered: ['$["4"]'], tolerances: [{ path: '$["2"]', absolute: 1, relative: 0 }] }, limits);
  t.equal(compareAnswers(live, dark, r, ctx).result, 'match');
  const added = grpcAnswer(frame(Buffer.concat([Buffer.from(item('pen', 150)), w().uint32(40).uint32(1).finish()])));
  t.equal(compareAnswers(live, added, compileRules({ ...base, allowAdded: ['$'] }, limits), ctx).result, 'match', 'allowAdded');
  t.equal(compareAnswers(live, grpcAnswer(frame(item('ink', 150))), compileRules({ ...base, ignore: ['$'] }, limits), ctx).result, 'match', 'ignore $');
  // keyed: a repeated message field paired by its field 1.
  const keyed = (ids: number[], bump: number): Answer => {
    const x = w();
    for (const id of ids) x.uint32(10).fork().uint32(8).uint32(id).uint32(16).uint32(id === bump ? 99 : 1).ldelim();
    return grpcAnswer(frame(x.finish()));
  };
  const kr = compileRules({ ...base, keyed: [{ path: '$["1"]', member: '1' }] }, limits);
  t.strictSame(list(compareAnswers(keyed([1, 2, 3], 0), keyed([3, 1, 2], 2), kr, ctx)), ['$["1"][*]["2"] changed']);
});

void t.test('compressed messages compare by content; several messages are an array', async (t) => {
  const plain = grpcAnswer(frame(item('pen', 150)));
  const gz = grpcAnswer(frame(zlib.gzipSync(item('pen', 150)), true), undefined, { 'grpc-encoding': 'gzip' });
  t.equal(planBodies(plain, gz, 'POST'), 'decode', 'a compressed message is decoded, never inline');
  t.equal(planBodies(plain, plain, 'POST'), 'equal');
  t.equal(planBodies(plain, grpcAnswer(frame(item('pen', 1))), 'POST'), 'plain');
  t.equal(compareAnswers(plain, gz, rules, ctx).result, 'match');
  t.strictSame(list(compareAnswers(plain, grpcAnswer(frame(zlib.gzipSync(item('pen', 1)), true), undefined, { 'grpc-encoding': 'gzip' }), rules, ctx)), ['$["2"] changed']);
  // The same bytes under another grpc-encoding are another content.
  const dfl = grpcAnswer(gz.body, undefined, { 'grpc-encoding': 'deflate' });
  t.equal(planBodies(gz, dfl, 'POST'), 'decode');
  t.strictSame(compareAnswers(gz, dfl, rules, ctx), { result: 'skipped', reason: 'decode_error', differences: [], noise: [] });

  const two = (second: number): Answer => grpcAnswer(Buffer.concat([frame(item('a', 1)), frame(item('b', second))]));
  t.strictSame(list(compareAnswers(two(2), two(3), rules, ctx)), ['$[*]["2"] changed']);
  t.strictSame(list(compareAnswers(two(2), plain, rules, ctx)), ['$ type'], 'two messages against one');
});

void t.test('a trailers-only error against a normal answer', async (t) => {
  const ok = grpcAnswer(frame(item('pen', 150)));
  const notFound: Answer = { status: 200, headers: { 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no such item' }, body: Buffer.alloc(0), truncated: false };
  const v = compareAnswers(ok, notFound, rules, ctx);
  t.strictSame(
    v.differences.map((d) => `${d.part} ${d.field} ${d.kind}`),
    ['trailer trailer:grpc-message added', 'trailer trailer:grpc-status changed', 'body $ removed'],
  );
  t.strictSame(v.differences[1], { part: 'trailer', field: 'trailer:grpc-status', kind: 'changed', live: '0', dark: '5' });
  t.strictSame(v.differences[2]?.live, { 1: 'pen', 2: 150, 3: { 1: 7, 2: 'note' }, 4: ['a', 'b'] }, 'the message live sent, as its tree');
  t.strictSame(list(compareAnswers(notFound, ok, rules, ctx)), ['trailer:grpc-message removed', 'trailer:grpc-status changed', '$ added']);
  t.equal(compareAnswers(notFound, notFound, rules, ctx).result, 'match');
  const sameError = grpcAnswer(Buffer.alloc(0), { 'grpc-status': '5', 'grpc-message': 'no such item' });
  t.equal(compareAnswers(notFound, sameError, rules, ctx).result, 'match', 'the same error, trailers-only or not');
});

void t.test('values: exact big integers, bytes never equal to text, bytes shown as base64', async (t) => {
  const big = (v: string): Answer => grpcAnswer(frame(w().uint32(8).uint64(v).finish()));
  const d = compareAnswers(big('18446744073709551614'), big('18446744073709551615'), rules, ctx).differences[0];
  t.equal(d?.field, '$["1"]');
  t.ok(isExactNumber(d?.live) && exactText(d.live) === '18446744073709551614', 'exact');
  t.equal(compareAnswers(big('9007199254740993'), big('9007199254740992'), rules, ctx).result, 'mismatch', '2^53 + 1 is not 2^53');

  const raw = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00]);
  const asBytes = grpcAnswer(frame(w().uint32(10).bytes(raw).finish()));
  const asText = grpcAnswer(frame(w().uint32(10).string(raw.toString('base64')).finish()));
  const v = compareAnswers(asBytes, asText, rules, ctx);
  t.strictSame(v.differences, [{ part: 'body', field: '$["1"]', kind: 'type', live: raw.toString('base64'), dark: raw.toString('base64') }], 'raw bytes against their base64 as text: a type difference');
  const other = grpcAnswer(frame(w().uint32(10).bytes(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x01])).finish()));
  t.strictSame(compareAnswers(asBytes, other, rules, ctx).differences, [{ part: 'body', field: '$["1"]', kind: 'changed', live: 'iVBORwA=', dark: 'iVBORwE=' }]);
});

void t.test('what is not protobuf, or not gRPC on both sides', async (t) => {
  const ok = grpcAnswer(frame(item('pen', 150)));
  const junk = grpcAnswer(frame(Buffer.from([0x0f, 0x01])));
  t.strictSame(compareAnswers(ok, junk, rules, ctx).differences, [{ part: 'body', field: '$', kind: 'type', live: { 1: 'pen', 2: 150, 3: { 1: 7, 2: 'note' }, 4: ['a', 'b'] }, dark: 'DwE=' }], 'a message that does not parse is its bytes');
  t.strictSame(list(compareAnswers(junk, grpcAnswer(frame(Buffer.from([0x0f, 0x02]))), rules, ctx)), ['$ changed'], 'two such messages compare as bytes');
  t.strictSame(compareAnswers(ok, grpcAnswer(frame(item('pen', 150)).subarray(0, 9)), rules, ctx), { result: 'skipped', reason: 'decode_error', differences: [], noise: [] }, 'a truncated frame');
  const groups = grpcAnswer(frame(Buffer.concat([Buffer.alloc(200, 0x0b), Buffer.alloc(200, 0x0c)])));
  t.strictSame(compareAnswers(ok, groups, rules, ctx).reason, 'decode_too_deep');

  // Dark answers with a page instead of gRPC: the content-type and the bytes differ.
  const html: Answer = { status: 200, headers: { 'content-type': 'text/html' }, body: Buffer.from('<h1>oops</h1>'), trailers: { 'grpc-status': '0' }, truncated: false };
  t.strictSame(list(compareAnswers(ok, html, rules, ctx)), ['header:content-type changed', '$ changed']);
  // Another codec (application/grpc+json): unframed, each message compared as bytes.
  const json = (s: string): Answer => ({ ...grpcAnswer(frame(Buffer.from(s))), headers: { 'content-type': 'application/grpc+json' } });
  t.equal(compareAnswers(json('{"a":1}'), json('{"a":1}'), rules, ctx).result, 'match');
  t.strictSame(list(compareAnswers(json('{"a":1}'), json('{"a":2}'), rules, ctx)), ['$ changed']);
});

void t.test('through the pool: decoding in a worker gives the inline verdict', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 64 * 1024, budget: new MemoryBudget(64 << 20) });
  t.teardown(() => pool.close());
  const live = grpcAnswer(frame(item('pen', 150)));
  const dark = grpcAnswer(frame(zlib.gzipSync(item('pen', 175, 8)), true), { 'grpc-status': '0', 'x-cost': '3' }, { 'grpc-encoding': 'gzip' });
  const viaPool = await pool.compare(live, dark, rules, ctx);
  t.equal(pool.stats.workers, 1, 'a compressed message went to a worker');
  t.strictSame(viaPool, compareAnswers(live, dark, rules, ctx));
  t.strictSame(list(viaPool), ['trailer:x-cost added', '$["2"] changed', '$["3"]["1"] changed']);
  t.equal(pool.budget.bytes, 0, 'the decompressed message was given back');
  // A small plain pair is compared inline, a larger one in the worker: the same verdicts.
  const small = await pool.compare(live, grpcAnswer(frame(item('pen', 151))), rules, ctx);
  t.strictSame(list(small), ['$["2"] changed']);
  const many = (last: number): Answer => {
    const x = w();
    for (let i = 0; i < 2000; i++) x.uint32(10).fork().uint32(8).uint32(i).uint32(16).uint32(i === 1999 ? last : 0).ldelim();
    return grpcAnswer(frame(x.finish()));
  };
  t.ok(many(1).body.length > (64 * 1024) / 8, 'over the gRPC inline bound');
  t.strictSame(list(await pool.compare(many(1), many(2), rules, ctx)), ['$["1"][*]["2"] changed']);
  t.strictSame(await pool.compare(many(1), many(2), rules, ctx), compareAnswers(many(1), many(2), rules, ctx));
});
