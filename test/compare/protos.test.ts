// gRPC answers read with compare.protos (DESIGN §4, §5): the method's output
// type names the fields as written in the .proto; absent and default compare
// equal where the field has no presence; fields the .proto does not know stay
// visible by number; the same verdict in a compare worker.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import type { CompareConfig, ProtoSchemas } from '../../src/config/types.js';
import type { Answer, Verdict } from '../../src/compare/index.js';
import { BigNum, Bytes } from '../../src/compare/json-parse.js';
import type { TreeValue } from '../../src/compare/json-parse.js';
import { ComparePool, compareAnswers, compileRules, exactText, isExactNumber } from '../../src/compare/index.js';
import { ProtoIndex } from '../../src/compare/protos.js';
import { ProtoLoader } from '../../src/config/protos.js';
import { frame, grpcAnswer } from './fixtures/grpc.js';

const dir = fileURLToPath(new URL('./fixtures/proto/', import.meta.url));
const loader = new ProtoLoader(dir);
const loaded = loader.load([loader.resolve('shop/v1/shop.proto'), loader.resolve('legacy.proto')]);
if (!('descriptors' in loaded)) throw new Error(loaded.message);
const schemas: ProtoSchemas = loaded;

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
const limits = { maxDecodedBytes: 1 << 20 };
const rules = compileRules({ ...base, protos: schemas }, limits);
const GET = { method: 'POST', path: '/shop.v1.Shop/GetItem' };

// The test side encodes with protobufjs, an encoder umbra does not use.
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : `${dir}${target}`);
root.loadSync(['shop/v1/shop.proto', 'legacy.proto'], { keepCase: true });
const Item = root.lookupType('shop.v1.Item');
const List = root.lookupType('shop.v1.ListItemsResponse');
const Order = root.lookupType('legacy.Order');

const encode = (type: protobuf.Type, obj: Record<string, unknown>): Buffer => Buffer.from(type.encode(type.fromObject(obj)).finish());
const item = (obj: Record<string, unknown>): Answer => grpcAnswer(frame(encode(Item, obj)));
const list = (v: Verdict): string[] => v.differences.map((d) => `${d.field} ${d.kind}`);

/** A plain JSON picture of a tree: BigNum as {big}, Bytes as {bytes}, no null prototypes. */
function show(v: TreeValue | string): unknown {
  if (v instanceof BigNum) return { big: v.raw };
  if (v instanceof Bytes) return { bytes: v.base64 };
  if (Array.isArray(v)) return v.map(show);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, show(x)]));
  return v;
}

const index = new ProtoIndex(schemas);
const readItem = (b: Buffer): unknown => show(index.readerOfType('shop.v1.Item')(b));

void t.test('the method path finds the output type; others fall back to field numbers', async (t) => {
  t.strictSame(index.methods.sort(), ['/legacy.Orders/Get', '/shop.v1.Shop/GetItem', '/shop.v1.Shop/ListItems', '/shop.v1.Shop/WatchItems']);
  t.ok(index.readerFor('/shop.v1.Shop/GetItem'));
  t.ok(index.readerFor('/shop.v1.Shop/GetItem?x=1'), 'a query string is ignored');
  t.equal(index.readerFor('/shop.v1.Shop/Nope'), null);
  t.equal(index.readerFor(undefined), null);
  const live = item({ name: 'pen', price: 150 });
  const dark = item({ name: 'pen', price: 175 });
  t.strictSame(list(compareAnswers(live, dark, rules, GET)), ['$.price changed']);
  t.strictSame(list(compareAnswers(live, dark, rules, { method: 'POST', path: '/other.Svc/Call' })), ['$["2"] changed'], 'a method the protos do not know');
  t.strictSame(list(compareAnswers(live, dark, rules, { method: 'POST' })), ['$["2"] changed'], 'no path');
  t.strictSame(list(compareAnswers(live, dark, compileRules(base, limits), GET)), ['$["2"] changed'], 'no protos');
});

void t.test('every field kind, by name', async (t) => {
  const full = {
    name: 'pen',
    price: '-9007199254740993',
    stock: 0,
    color: 'BLUE',
    tags: ['a'],
    counts: { x: 1, y: 0 },
    blob: Buffer.from([0, 1, 2]),
    number: 7,
    child: { name: 'refill' },
    updated_at: { seconds: 1700000000, nanos: 5 },
    weight: 1.25,
    big: '18446744073709551615',
    delta: -3,
    sizes: [1, 2, 3],
    cost: { units: 3, nanos: 500000000 },
    history: [{ units: 1 }, {}],
    ratio: 0.5,
    f64: '18446744073709551614',
    sf32: -2,
    active: true,
    s64: '-5',
    prices: { '-1': { units: 2 } },
  };
  t.strictSame(readItem(encode(Item, full)), {
    name: 'pen',
    price: { big: '-9007199254740993' },
    stock: 0,
    color: 'BLUE',
    tags: ['a'],
    counts: { x: 1, y: 0 },
    blob: { bytes: 'AAEC' },
    number: 7,
    child: { name: 'refill' },
    updated_at: { seconds: 1700000000, nanos: 5 },
    weight: 1.25,
    big: { big: '18446744073709551615' },
    delta: -3,
    sizes: [1, 2, 3],
    cost: { units: 3, nanos: 500000000 },
    history: [{ units: 1 }, {}],
    ratio: 0.5,
    f64: { big: '18446744073709551614' },
    sf32: -2,
    active: true,
    s64: -5,
    prices: { '-1': { units: 2 } },
  });
  // Non-finite doubles by name, so NaN equals NaN.
  t.strictSame(readItem(encode(Item, { weight: NaN, ratio: -Infinity })), { weight: 'NaN', ratio: '-Infinity' });
  t.equal(compareAnswers(item({ weight: NaN }), item({ weight: NaN }), rules, GET).result, 'match');
  // An enum value the .proto does not list stays a number.
  t.strictSame(readItem(Buffer.from([0x20, 0x09])), { color: 9 });
});

void t.test('absent and default are equal without presence, different with it', async (t) => {
  const w = (): protobuf.Writer => protobuf.Writer.create();
  // proto3 singular scalars, enums, strings, bytes: sent at their default or not sent, the same.
  const explicitDefaults = w().uint32(10).string('').uint32(16).int64(0).uint32(32).int32(0).uint32(58).bytes(Buffer.alloc(0)).uint32(97).double(0).uint32(168).bool(false).finish();
  t.strictSame(readItem(Buffer.from(explicitDefaults)), {}, 'all left out');
  t.equal(compareAnswers(grpcAnswer(frame(Buffer.from(explicitDefaults))), item({}), rules, GET).result, 'match');
  t.equal(compareAnswers(item({ name: 'pen', price: 0 }), item({ name: 'pen' }), rules, GET).result, 'match', 'price 0 sent by one side only');
  t.equal(compareAnswers(item({ color: 'COLOR_UNSPECIFIED' }), item({}), rules, GET).result, 'match', 'the zero enum value');
  // With presence: optional, oneof members, messages.
  t.strictSame(list(compareAnswers(item({ stock: 0 }), item({}), rules, GET)), ['$.stock removed'], 'proto3 optional keeps presence');
  t.strictSame(list(compareAnswers(item({ number: 0 }), item({}), rules, GET)), ['$.number removed'], 'a oneof member too');
  t.strictSame(list(compareAnswers(item({ cost: {} }), item({}), rules, GET)), ['$.cost removed'], 'an empty message is not an absent one');
  t.strictSame(list(compareAnswers(item({ cost: { units: 0 } }), item({ cost: {} }), rules, GET)), [], 'inside it, defaults again');
  // proto2: presence everywhere, [default = 1] does not make absent equal to 1.
  const order = (obj: Record<string, unknown>): Answer => grpcAnswer(frame(encode(Order, { id: 'o1', ...obj })));
  const GETORDER = { method: 'POST', path: '/legacy.Orders/Get' };
  t.strictSame(list(compareAnswers(order({ qty: 1 }), order({}), rules, GETORDER)), ['$.qty removed']);
  t.strictSame(list(compareAnswers(order({ qty: 0 }), order({}), rules, GETORDER)), ['$.qty removed']);
});

void t.test('differences at named paths, rules on them', async (t) => {
  const live = item({ name: 'pen', price: 150, color: 'RED', tags: ['a', 'b'], cost: { units: 3 }, history: [{ units: 1 }, { units: 2 }], counts: { x: 1 } });
  const dark = item({ name: 'pen', price: 175, color: 'BLUE', tags: ['b', 'a'], cost: { units: 4 }, history: [{ units: 1 }, { units: 3 }], counts: { x: 2, z: 1 } });
  const v = compareAnswers(live, dark, rules, GET);
  t.strictSame(
    v.differences.map((d) => [d.field, d.kind, d.live, d.dark]),
    [
      ['$.price', 'changed', 150, 175],
      ['$.color', 'changed', 'RED', 'BLUE'],
      ['$.tags', 'order', ['a', 'b'], ['b', 'a']],
      ['$.counts.x', 'changed', 1, 2],
      ['$.counts.z', 'added', undefined, 1],
      ['$.cost.units', 'changed', 3, 4],
      ['$.history[*].units', 'changed', 2, 3],
    ],
  );
  const r = compileRules({ ...base, protos: schemas, ignore: ['$.counts', '$.cost'], unordered: ['$.tags'], keyed: [{ path: '$.history', member: 'units' }], tolerances: [{ path: '$.price', absolute: 25, relative: 0 }] }, limits);
  t.strictSame(list(compareAnswers(live, dark, r, GET)), ['$.color changed', '$.history[*] removed', '$.history[*] added']);
  // A repeated field of one element is still an array (the schema says so).
  t.strictSame(list(compareAnswers(item({ tags: ['a'] }), item({ tags: ['a', 'b'] }), rules, GET)), ['$.tags[*] added']);
  // Big integers exact.
  const big = compareAnswers(item({ big: '18446744073709551614' }), item({ big: '18446744073709551615' }), rules, GET).differences[0];
  t.ok(isExactNumber(big?.live) && exactText(big.live) === '18446744073709551614');
  // Bytes by base64, oneof by its member.
  t.strictSame(list(compareAnswers(item({ blob: Buffer.from('a') }), item({ blob: Buffer.from('b') }), rules, GET)), ['$.blob changed']);
  t.strictSame(list(compareAnswers(item({ code: 'x' }), item({ number: 1 }), rules, GET)), ['$.code removed', '$.number added']);
});

void t.test('fields the .proto does not know stay visible by number', async (t) => {
  const w = (): protobuf.Writer => protobuf.Writer.create();
  const plus = Buffer.concat([encode(Item, { name: 'pen' }), Buffer.from(w().uint32((99 << 3) | 0).uint32(5).finish())]);
  t.strictSame(readItem(plus), { name: 'pen', 99: 5 });
  t.strictSame(compareAnswers(item({ name: 'pen' }), grpcAnswer(frame(plus)), rules, GET).differences, [{ part: 'body', field: '$["99"]', kind: 'added', dark: 5 }], 'a field dark added');
  t.strictSame(list(compareAnswers(grpcAnswer(frame(plus)), item({ name: 'pen' }), rules, GET)), ['$["99"] removed'], 'a field dark stopped sending');
  // A wire type that does not fit the declaration: an unknown field under its number.
  const wrong = Buffer.from(w().uint32((2 << 3) | 2).string('not a number').finish());
  t.strictSame(readItem(wrong), { 2: 'not a number' });
});

void t.test('the wire format: packed or not, merged messages, last oneof member, groups', async (t) => {
  const w = (): protobuf.Writer => protobuf.Writer.create();
  const unpacked = w().uint32(120).int32(1).uint32(120).int32(2).finish();
  const packed = w().uint32(122).fork().int32(1).int32(2).ldelim().finish();
  t.strictSame(readItem(Buffer.from(unpacked)), { sizes: [1, 2] });
  t.strictSame(readItem(Buffer.from(packed)), { sizes: [1, 2] });
  t.equal(compareAnswers(grpcAnswer(frame(Buffer.from(unpacked))), grpcAnswer(frame(Buffer.from(packed))), rules, GET).result, 'match');
  const merged = Buffer.concat([encode(Item, { cost: { units: 1 } }), encode(Item, { cost: { nanos: 2 } })]);
  t.strictSame(readItem(merged), { cost: { units: 1, nanos: 2 } }, 'a singular message sent twice is merged');
  const twice = Buffer.concat([encode(Item, { name: 'a' }), encode(Item, { name: 'b' })]);
  t.strictSame(readItem(twice), { name: 'b' }, 'a singular scalar: the last one');
  const oneofs = Buffer.concat([encode(Item, { number: 1 }), encode(Item, { code: 'c' })]);
  t.strictSame(readItem(oneofs), { code: 'c' }, 'of a oneof, the member sent last');
  const order = encode(Order, { id: 'o1', lines: [1, 2], extra: { note: 'n' }, loose: [3] });
  const readOrder = (b: Buffer): unknown => show(index.readerOfType('legacy.Order')(b));
  t.strictSame(readOrder(order), { id: 'o1', lines: [1, 2], extra: { note: 'n' }, loose: [3] }, 'a proto2 group, by its field name');
  t.equal(readOrder(Buffer.from([0x23, 0x2c])), 'invalid', 'a group ended by another number');
});

void t.test('nesting is bounded: a message nested past 100 levels is too deep', async (t) => {
  // Item.child (field 10) inside Item.child, built by hand: protobufjs itself stops at 100 levels.
  const nest = (levels: number): Buffer => {
    let b: Uint8Array = protobuf.Writer.create().uint32(10).string('leaf').finish();
    for (let i = 0; i < levels; i++) b = protobuf.Writer.create().uint32(82).bytes(b).finish();
    return Buffer.from(b);
  };
  const deep = nest(150);
  t.equal(index.readerOfType('shop.v1.Item')(deep), 'too_deep');
  t.equal(compareAnswers(grpcAnswer(frame(deep)), item({}), rules, GET).reason, 'decode_too_deep');
  t.equal(index.readerOfType('shop.v1.Item')(nest(10_000)), 'too_deep', '10,000 levels: no stack overflow');
  t.type(index.readerOfType('shop.v1.Item')(nest(99)), 'object', '100 levels read (the top one and 99 inside)');
  t.equal(index.readerOfType('shop.v1.Item')(nest(100)), 'too_deep', '101 are too many');
});

void t.test('streaming answers and lists: several messages, each by name', async (t) => {
  const WATCH = { method: 'POST', path: '/shop.v1.Shop/WatchItems' };
  const stream = (p: number): Answer => grpcAnswer(Buffer.concat([frame(encode(Item, { name: 'a', price: 1 })), frame(encode(Item, { name: 'b', price: p }))]));
  t.strictSame(list(compareAnswers(stream(2), stream(3), rules, WATCH)), ['$[*].price changed']);
  const LIST = { method: 'POST', path: '/shop.v1.Shop/ListItems' };
  const items = (p: number): Answer => grpcAnswer(frame(Buffer.from(List.encode(List.fromObject({ items: [{ name: 'a' }, { name: 'b', price: p }] })).finish())));
  t.strictSame(list(compareAnswers(items(2), items(3), rules, LIST)), ['$.items[*].price changed']);
});

void t.test('in a worker: the descriptors cross with the rules, the verdict is the same', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 0 });
  t.teardown(() => pool.close());
  const live = item({ name: 'pen', price: 150, color: 'RED' });
  const dark = grpcAnswer(frame(zlib.gzipSync(encode(Item, { name: 'pen', price: 175, color: 'RED', stock: 1 })), true), { 'grpc-status': '0' }, { 'grpc-encoding': 'gzip' });
  const v = await pool.compare(live, dark, rules, GET);
  t.equal(pool.stats.workers, 1);
  t.strictSame(list(v), ['$.price changed', '$.stock added']);
  t.strictSame(v, compareAnswers(live, dark, rules, GET));
  const plain = await pool.compare(item({ price: 0 }), item({}), rules, GET);
  t.equal(plain.result, 'match', 'absent and default, in the worker too');
});
