// Properties of the protobuf readers over random messages that protobufjs
// encodes (an encoder umbra does not use):
// 1. a message compares equal to itself with its fields sent in another order,
//    without a schema and with one;
// 2. one top-level field changed gives exactly one difference, at `$["N"]`
//    without a schema and at `$.name` with one;
// 3. oracle: with the schema, umbra's reader reads what protobufjs's own decoder
//    reads (toObject, put in umbra's conventions: exact integers, enums by name,
//    bytes as base64, non-finite doubles by name, no default without presence).
// Properties throw (node:assert) so that fast-check sees a failure and shrinks it.
import t from 'tap';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import type { CompareConfig, ProtoSchemas } from '../../src/config/types.js';
import type { Answer } from '../../src/compare/index.js';
import { compareAnswers, compileRules } from '../../src/compare/index.js';
import { BigNum, Bytes } from '../../src/compare/json-parse.js';
import type { TreeValue } from '../../src/compare/json-parse.js';
import { ProtoIndex } from '../../src/compare/protos.js';
import { ProtoLoader } from '../../src/config/protos.js';
import { frame, grpcAnswer } from './fixtures/grpc.js';

const dir = fileURLToPath(new URL('./fixtures/proto/', import.meta.url));
const loader = new ProtoLoader(dir);
const loaded = loader.load([loader.resolve('shop/v1/shop.proto')]);
if (!('descriptors' in loaded)) throw new Error(loaded.message);
const schemas: ProtoSchemas = loaded;

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
const schemaless = compileRules(base, { maxDecodedBytes: 1 << 20 });
const typed = compileRules({ ...base, protos: schemas }, { maxDecodedBytes: 1 << 20 });
const GET = { method: 'POST', path: '/shop.v1.Shop/GetItem' };
const index = new ProtoIndex(schemas);
const readItem = index.readerOfType('shop.v1.Item');

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : `${dir}${target}`);
root.loadSync('shop/v1/shop.proto', { keepCase: true });
const Item = root.lookupType('shop.v1.Item');
const encode = (obj: Record<string, unknown>): Buffer => Buffer.from(Item.encode(Item.fromObject(obj)).finish());

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
const money = fc.record({ units: int64, nanos: fc.integer(INT32) }, { requiredKeys: [] });

/** Values of the top-level singular fields a change is made to, by name and number. */
const SCALARS = {
  name: { id: 1, arb: fc.string() },
  price: { id: 2, arb: int64 },
  color: { id: 4, arb: fc.constantFrom('COLOR_UNSPECIFIED', 'RED', 'BLUE') },
  weight: { id: 12, arb: fc.double() },
  big: { id: 13, arb: uint64 },
  delta: { id: 14, arb: fc.integer(INT32) },
  ratio: { id: 18, arb: fc.float() },
  f64: { id: 19, arb: uint64 },
  sf32: { id: 20, arb: fc.integer(INT32) },
  active: { id: 21, arb: fc.boolean() },
  s64: { id: 22, arb: int64 },
} as const;
type ScalarName = keyof typeof SCALARS;

const item = fc.record(
  {
    name: SCALARS.name.arb,
    price: SCALARS.price.arb,
    stock: fc.integer(INT32),
    color: SCALARS.color.arb,
    tags: fc.array(fc.string(), { maxLength: 3 }),
    counts: fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(INT32), { maxKeys: 3 }),
    blob: fc.uint8Array({ maxLength: 8 }),
    code: fc.string(),
    child: fc.record({ name: fc.string(), price: int64 }, { requiredKeys: [] }),
    updated_at: fc.record({ seconds: int64, nanos: fc.integer(INT32) }, { requiredKeys: [] }),
    weight: SCALARS.weight.arb,
    big: SCALARS.big.arb,
    delta: SCALARS.delta.arb,
    sizes: fc.array(fc.integer(INT32), { maxLength: 4 }),
    cost: money,
    history: fc.array(money, { maxLength: 3 }),
    ratio: SCALARS.ratio.arb,
    f64: SCALARS.f64.arb,
    sf32: SCALARS.sf32.arb,
    active: SCALARS.active.arb,
    s64: SCALARS.s64.arb,
  },
  { requiredKeys: [] },
);

/** The message's top-level fields, each occurrence as its bytes (protobufjs's reader finds the ends). */
function chunks(bytes: Buffer): { field: number; bytes: Buffer }[] {
  const r = protobuf.Reader.create(bytes);
  const out: { field: number; bytes: Buffer }[] = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    r.skipType(tag & 7);
    out.push({ field: tag >>> 3, bytes: bytes.subarray(start, r.pos) });
  }
  return out;
}

/** The same fields in another order: fields by number in the order `order` picks; a field's own occurrences keep theirs. */
function reorder(bytes: Buffer, order: readonly number[]): Buffer {
  const byField = new Map<number, Buffer[]>();
  for (const c of chunks(bytes)) byField.set(c.field, [...(byField.get(c.field) ?? []), c.bytes]);
  const fields = [...byField.keys()];
  const picked: number[] = [];
  for (const k of order) {
    if (fields.length === 0) break;
    picked.push(...fields.splice(k % fields.length, 1));
  }
  picked.push(...fields);
  return Buffer.concat(picked.flatMap((f) => byField.get(f) ?? []));
}

const answer = (b: Buffer): Answer => grpcAnswer(frame(b));

void t.test('a message equals itself with its fields in another order', async (t) => {
  fc.assert(
    fc.property(item, fc.array(fc.nat(), { maxLength: 30 }), (obj, order) => {
      const bytes = encode(obj);
      const moved = reorder(bytes, order);
      assert.equal(moved.length, bytes.length);
      for (const rules of [schemaless, typed]) {
        const v = compareAnswers(answer(bytes), answer(moved), rules, GET);
        assert.deepEqual(v.differences, [], JSON.stringify(v.differences));
        assert.equal(v.result, 'match');
      }
    }),
    { numRuns: 300 },
  );
  t.pass('300 messages');
});

/** Two values a field may hold that mean different things (not NaN and NaN, not 0 and -0). */
function differ(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return !(a === b || (Number.isNaN(a) && Number.isNaN(b)));
  return a !== b;
}

void t.test('one field changed: exactly one difference, at its number or its name', async (t) => {
  const names = Object.keys(SCALARS) as ScalarName[];
  const change = fc
    .constantFrom(...names)
    .chain((name) => fc.tuple(fc.constant(name), SCALARS[name].arb as fc.Arbitrary<unknown>, SCALARS[name].arb as fc.Arbitrary<unknown>));
  fc.assert(
    fc.property(item, change, (obj, [name, before, after]) => {
      fc.pre(differ(before, after));
      const live = answer(encode({ ...obj, [name]: before }));
      const dark = answer(encode({ ...obj, [name]: after }));
      const withSchema = compareAnswers(live, dark, typed, GET).differences;
      assert.deepEqual(
        withSchema.map((d) => d.field),
        [`$.${name}`],
        JSON.stringify(withSchema),
      );
      // Without a schema a string may read as a message (the documented ambiguity): then its
      // differences are under the field. Every other kind has exactly one, at `$["N"]`.
      const without = compareAnswers(live, dark, schemaless, GET).differences;
      const at = `$["${SCALARS[name].id}"]`;
      assert.ok(without.length >= 1, 'a difference');
      if (name === 'name') assert.ok(without.every((d) => d.field === at || d.field.startsWith(`${at}[`)), JSON.stringify(without));
      else assert.deepEqual(without.map((d) => d.field), [at], JSON.stringify(without));
    }),
    { numRuns: 300 },
  );
  t.pass('300 changes');
});

// ---- the oracle: protobufjs's own decoder, in umbra's conventions ----------------

const LONGS = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** A long's decimal text as umbra keeps it: a number when exact, else {big}. */
function exact(text: string): unknown {
  const n = BigInt(text);
  return n >= -(2n ** 53n - 1n) && n <= 2n ** 53n - 1n ? Number(n) : { big: n.toString() };
}

/** protobufjs's toObject value of `field`, in umbra's conventions. */
function conventional(field: protobuf.Field, v: unknown): unknown {
  if (field.resolvedType instanceof protobuf.Type) return oracleObject(field.resolvedType, v as Record<string, unknown>);
  if (LONGS.has(field.type)) return exact(v as string);
  if (field.type === 'bytes') return { bytes: v };
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

/** What umbra's reader should give for `decoded`, as protobufjs reads it. */
function oracleObject(type: protobuf.Type, decoded: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const v = decoded[field.name];
    if (v === undefined || v === null) continue;
    if (field instanceof protobuf.MapField) {
      const m = v as Record<string, unknown>;
      if (Object.keys(m).length > 0) out[field.name] = Object.fromEntries(Object.entries(m).map(([k, x]) => [k, conventional(field, x)]));
      continue;
    }
    if (field.repeated) {
      if ((v as unknown[]).length > 0) out[field.name] = (v as unknown[]).map((x) => conventional(field, x));
      continue;
    }
    const c = conventional(field, v);
    const presence = field.resolvedType instanceof protobuf.Type || field.hasPresence;
    const isDefault = c === 0 || c === false || c === '' || (field.resolvedType instanceof protobuf.Enum && c === Object.keys(field.resolvedType.values)[0]) || (field.type === 'bytes' && (c as { bytes: string }).bytes === '');
    if (!presence && isDefault) continue;
    out[field.name] = c;
  }
  return out;
}

/** umbra's tree as plain JSON: BigNum as {big}, Bytes as {bytes}, no null prototypes. */
function show(v: TreeValue | string): unknown {
  if (v instanceof BigNum) return { big: v.raw };
  if (v instanceof Bytes) return { bytes: v.base64 };
  if (Array.isArray(v)) return v.map(show);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, show(x)]));
  return v;
}

void t.test('oracle: the typed reader reads what protobufjs decodes', async (t) => {
  const options = { longs: String, enums: String, bytes: String, defaults: false, arrays: false, objects: false };
  fc.assert(
    fc.property(item, fc.array(fc.nat(), { maxLength: 30 }), (obj, order) => {
      // In any field order, the way other encoders may write it.
      const bytes = reorder(encode(obj), order);
      const expected = oracleObject(Item, Item.toObject(Item.decode(bytes), options));
      assert.deepEqual(show(readItem(bytes)), expected);
    }),
    { numRuns: 300 },
  );
  t.pass('300 messages');
});
