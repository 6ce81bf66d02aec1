// The schemaless protobuf reader (src/compare/protobuf.ts): each wire type's one
// reading, repeated fields, exact big integers, the fallbacks of a
// length-delimited value, and nesting bounded without the call stack.
import t from 'tap';
import protobuf from 'protobufjs';
import { BigNum, Bytes } from '../../src/compare/json-parse.js';
import type { TreeValue } from '../../src/compare/json-parse.js';
import { MAX_MESSAGE_DEPTH, WireReader, decodeSchemaless, signed64, unsigned64, zigzag64 } from '../../src/compare/protobuf.js';

/** A plain JSON picture of a tree: BigNum as {big}, Bytes as {bytes}. */
function show(v: TreeValue | string): unknown {
  if (v instanceof BigNum) return { big: v.raw };
  if (v instanceof Bytes) return { bytes: v.base64 };
  if (Array.isArray(v)) return v.map(show);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, show(x)]));
  return v;
}

const w = (): protobuf.Writer => protobuf.Writer.create();
const decode = (b: Uint8Array): unknown => show(decodeSchemaless(Buffer.from(b)));

void t.test('every wire type has one reading', async (t) => {
  const bytes = w()
    .uint32((1 << 3) | 0).uint32(150) // varint
    .uint32((2 << 3) | 1).fixed64('18446744073709551615') // fixed64, all bits
    .uint32((3 << 3) | 5).fixed32(4294967295) // fixed32, all bits
    .uint32((4 << 3) | 2).string('héllo, world') // printable text
    .uint32((5 << 3) | 2).fork().uint32((1 << 3) | 0).uint32(7).ldelim() // a nested message
    .uint32((6 << 3) | 2).bytes(Buffer.from([0xff, 0xfe, 0x00])) // not UTF-8: bytes
    .uint32((7 << 3) | 2).bytes(Buffer.alloc(0)) // empty: an empty message
    .uint32((8 << 3) | 3).uint32((1 << 3) | 0).uint32(9).uint32((8 << 3) | 4) // a group
    .uint32((9 << 3) | 2).string('tab\tand\nnew line\r') // text with whitespace controls
    .uint32((10 << 3) | 2).string('bell\u0007') // a control character: bytes
    .finish();
  t.strictSame(decode(bytes), {
    1: 150,
    2: { big: '18446744073709551615' },
    3: 4294967295,
    4: 'héllo, world',
    5: { 1: 7 },
    6: { bytes: '//4A' },
    7: {},
    8: { 1: 9 },
    9: 'tab\tand\nnew line\r',
    10: { bytes: Buffer.from('bell\u0007').toString('base64') },
  });
  t.strictSame(decode(new Uint8Array(0)), {}, 'an empty message');
});

void t.test('integers: unsigned 64-bit, exact past 2^53; negative and zigzag ones as their codes', async (t) => {
  const one = (write: (x: protobuf.Writer) => protobuf.Writer): unknown => (decode(write(w().uint32(8)).finish()) as Record<string, unknown>)['1'];
  t.equal(one((x) => x.uint64(2 ** 53 - 1)), 2 ** 53 - 1);
  t.strictSame(one((x) => x.uint64('9007199254740993')), { big: '9007199254740993' }, '2^53 + 1, not rounded');
  t.strictSame(one((x) => x.uint64('18446744073709551615')), { big: '18446744073709551615' });
  t.strictSame(one((x) => x.int32(-1)), { big: '18446744073709551615' }, 'int32 -1 is ten bytes of ones');
  t.equal(one((x) => x.sint32(-1)), 1, 'sint32 -1 is its zigzag code');
  t.equal(one((x) => x.bool(true)), 1);
  const fixed = (decode(w().uint32((1 << 3) | 1).double(1.5).finish()) as Record<string, unknown>)['1'];
  t.strictSame(fixed, { big: '4609434218613702656' }, 'a double reads as its 64 bits');

  // The helpers the typed reader uses, against BigInt.
  const cases = [0n, 1n, 150n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 0x123456789abcdefn];
  for (const u of cases) {
    const lo = Number(u & 0xffffffffn);
    const hi = Number(u >> 32n);
    const asText = (v: number | BigNum): string => (v instanceof BigNum ? v.raw : String(v));
    t.equal(asText(unsigned64(lo, hi)), u.toString(), `unsigned ${u}`);
    t.equal(asText(signed64(lo, hi)), BigInt.asIntN(64, u).toString(), `signed ${u}`);
    const z = (u >> 1n) ^ -(u & 1n);
    t.equal(asText(zigzag64(lo, hi)), z.toString(), `zigzag ${u}`);
  }
  t.type(unsigned64(0xffffffff, 0x1fffff), 'number', '2^53 - 1 is a number');
  t.type(signed64(1, 0xffe00000), 'number', '-(2^53 - 1) is a number');
});

void t.test('a field seen more than once is an array; packed repeated fields are bytes', async (t) => {
  const rep = w().uint32(8).uint32(1).uint32(16).uint32(5).uint32(8).uint32(2).uint32(8).uint32(3).finish();
  t.strictSame(decode(rep), { 1: [1, 2, 3], 2: 5 });
  const msgs = w().uint32(10).fork().uint32(8).uint32(1).ldelim().uint32(10).fork().uint32(8).uint32(2).ldelim().finish();
  t.strictSame(decode(msgs), { 1: [{ 1: 1 }, { 1: 2 }] });
  const packed = w().uint32(10).fork().uint32(1).uint32(2).uint32(3).ldelim().finish();
  t.strictSame(decode(packed), { 1: { bytes: 'AQID' } }, 'packed [1, 2, 3]: not a message (field 0), not printable');
  const ambiguous = w().uint32(10).fork().uint32(8).uint32(5).ldelim().finish();
  t.strictSame(decode(ambiguous), { 1: { 1: 5 } }, 'packed [8, 5] parses as a message: the documented ambiguity');
  const text = w().uint32(10).string('hi').finish();
  t.strictSame(decode(text), { 1: { 13: 105 } }, '"hi" parses as a message too (0x68 is field 13, varint)');
  t.strictSame(decode(w().uint32(10).string('hello').finish()), { 1: 'hello' }, 'most text does not');
});

void t.test('bytes that are not a message are refused', async (t) => {
  const bad: [string, number[]][] = [
    ['wire type 6', [0x0e]],
    ['wire type 7', [0x0f]],
    ['field 0', [0x00, 0x01]],
    ['a varint cut short', [0x08, 0x80]],
    ['a tag cut short', [0x80]],
    ['an eleven-byte varint', [0x08, ...Array<number>(10).fill(0x80), 0x01]],
    ['a length past the end', [0x0a, 0x05, 0x61]],
    ['a fixed64 cut short', [0x09, 1, 2, 3]],
    ['a fixed32 cut short', [0x0d, 1, 2, 3]],
    ['an end group with no start', [0x0c]],
    ['a group that does not end', [0x0b, 0x08, 0x01]],
    ['a group ended by another number', [0x0b, 0x08, 0x01, 0x14]],
    ['a field number past 2^29 - 1', [0x80, 0x80, 0x80, 0x80, 0x10, 0x00]],
  ];
  for (const [name, b] of bad) t.equal(decodeSchemaless(Buffer.from(b)), 'invalid', name);
  // Inside a length-delimited value, the same bytes are not a message: they fall back.
  t.strictSame(decode(Uint8Array.from([0x0a, 0x02, 0x0e, 0x01])), { 1: { bytes: 'DgE=' } });
});

void t.test('nesting is bounded: deeper bytes stay bytes, deeper groups are too_deep, no stack overflow', async (t) => {
  // 1000 messages each inside the next (field 1), the innermost {1: 1}.
  let inner: Uint8Array = w().uint32(8).uint32(1).finish();
  for (let i = 0; i < 1000; i++) inner = w().uint32(10).bytes(inner).finish();
  const tree = decodeSchemaless(Buffer.from(inner));
  let depth = 0;
  let v: TreeValue = tree;
  while (v !== null && typeof v === 'object' && !(v instanceof Bytes) && !Array.isArray(v) && '1' in v) {
    v = (v as Record<string, TreeValue>)['1'] as TreeValue;
    depth++;
  }
  t.equal(depth, MAX_MESSAGE_DEPTH, `read ${MAX_MESSAGE_DEPTH} levels`);
  t.ok(v instanceof Bytes, 'the rest stays bytes');

  // 100,000 nested groups: refused as too deep, at once.
  const groups = Buffer.concat([Buffer.alloc(100_000, 0x0b), Buffer.alloc(100_000, 0x0c)]);
  t.equal(decodeSchemaless(groups), 'too_deep');
  const shallow = Buffer.concat([Buffer.alloc(MAX_MESSAGE_DEPTH - 1, 0x0b), Buffer.alloc(MAX_MESSAGE_DEPTH - 1, 0x0c)]);
  t.type(decodeSchemaless(shallow), 'object', `${MAX_MESSAGE_DEPTH - 1} nested groups in a message read`);

  // WireReader.skip bounds groups the same way.
  const r = new WireReader(groups, 1);
  t.notOk(r.skip(3, 1, groups.length, 1));
  t.ok(r.tooDeep);
});
