import t from 'tap';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { BigNum, DEFAULT_MAX_DECODE_RATIO, MemoryBudget, RATIO_FLOOR_BYTES, decodeBody, parseJson } from '../../src/compare/index.js';
import { brotliFirstBlockLength, gzipLastMemberLength } from '../../src/compare/decode.js';
import { maybeLossyBytes, maybeLossyBytesEach } from '../../src/compare/json-parse.js';

void t.test('plain numbers stay numbers, lossy ones become BigNum', (t) => {
  const v = parseJson('{"a":1,"b":1.5e3,"c":123456789012345,"d":12345678901234567890,"e":1e400,"f":0.1000000000000000000001,"g":-0}') as Record<string, unknown>;
  t.equal(v['a'], 1);
  t.equal(v['b'], 1500);
  t.equal(v['c'], 123456789012345);
  t.ok(v['d'] instanceof BigNum);
  t.equal((v['d'] as BigNum).raw, '12345678901234567890');
  t.ok(v['e'] instanceof BigNum, 'overflow kept');
  t.ok(v['f'] instanceof BigNum, 'long decimal kept');
  t.equal(v['g'], -0);
  t.end();
});

void t.test('digits inside strings are not numbers; escapes are decoded', (t) => {
  const v = parseJson('{"s":"12345678901234567890 \\" 98765432109876543210","n":12345678901234567891,"u":"\\u00e9"}') as Record<string, unknown>;
  t.equal(v['s'], '12345678901234567890 " 98765432109876543210');
  t.ok(v['n'] instanceof BigNum);
  t.equal(v['u'], 'é');
  t.end();
});

void t.test('the slow parser rejects what JSON.parse rejects', (t) => {
  const lossy = '12345678901234567890';
  for (const bad of [`[${lossy},]`, `{"a":${lossy}`, `[${lossy}] x`, `["a\u0001",${lossy}]`, `[01,${lossy}]`, `{a:1,"b":${lossy}}`, `["\\x",${lossy}]`]) {
    t.throws(() => parseJson(bad), bad);
  }
  t.strictSame(JSON.parse(JSON.stringify(parseJson(`{"__proto__":1,"a":[${lossy},true,null,"x"]}`))), { ['__proto__']: 1, a: [lossy, true, null, 'x'] });
  t.end();
});

void t.test('BOM is tolerated', (t) => {
  t.strictSame(parseJson('\ufeff{"a":1}'), { a: 1 });
  t.end();
});

void t.test('decoding is exact and bounded for every coding', async (t) => {
  const body = Buffer.from('x'.repeat(100_000));
  for (const [enc, data] of [
    ['gzip', zlib.gzipSync(body)],
    ['br', zlib.brotliCompressSync(body)],
    ['deflate', zlib.deflateSync(body)],
    ['deflate', zlib.deflateRawSync(body)],
    ['gzip, br', zlib.brotliCompressSync(zlib.gzipSync(body))],
  ] as const) {
    const s = decodeBody(data, enc, { maxDecodedBytes: 1 << 20 });
    t.ok(s.ok && s.body.equals(body), `decoded ${enc}`);
    t.strictSame(decodeBody(data, enc, { maxDecodedBytes: 1000 }), { ok: false, reason: 'decode_too_large' }, `bounded ${enc}`);
  }
  t.strictSame(decodeBody(Buffer.from('nope'), 'br', { maxDecodedBytes: 1000 }), { ok: false, reason: 'decode_error' });
});

void t.test('past 1 MiB a layer may expand to maxDecodeRatio times its size, no more', (t) => {
  const budget = new MemoryBudget(64 * 1024 * 1024);
  const zeros = Buffer.alloc(64 * 1024 * 1024);
  const bomb = zlib.brotliCompressSync(zeros, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9 } });
  t.ok(bomb.length < 1000, `a tiny brotli bomb (${bomb.length} bytes)`);
  t.strictSame(decodeBody(bomb, 'br', { maxDecodedBytes: 8 * 1024 * 1024, budget }), { ok: false, reason: 'decode_too_large' });
  t.ok(budget.peak <= RATIO_FLOOR_BYTES + 64 * 1024, `stopped at the 1 MiB floor, not the 8 MiB cap (held ${budget.peak})`);
  t.equal(budget.bytes, 0);
  // A real document that compresses well: 3 MiB of repeated JSON, a few hundred times smaller.
  const doc = Buffer.from(JSON.stringify(Array.from({ length: 40_000 }, (_, i) => ({ id: i % 7, ok: true, name: 'item' }))));
  const gz = zlib.gzipSync(doc, { level: 9 });
  const ratio = doc.length / gz.length;
  t.ok(doc.length > RATIO_FLOOR_BYTES && ratio < DEFAULT_MAX_DECODE_RATIO, `ratio ${ratio.toFixed(0)} under the default`);
  const ok = decodeBody(gz, 'gzip', { maxDecodedBytes: 8 * 1024 * 1024, budget });
  t.ok(ok.ok && ok.body.equals(doc), 'decoded whole under the default ratio');
  if (ok.ok) budget.release(ok.reserved);
  t.strictSame(decodeBody(gz, 'gzip', { maxDecodedBytes: 8 * 1024 * 1024, maxDecodeRatio: 10, budget }), { ok: false, reason: 'decode_too_large' }, 'a lower ratio stops it');
  const none = decodeBody(bomb, 'br', { maxDecodedBytes: 2 * 1024 * 1024, maxDecodeRatio: 0 });
  t.strictSame(none, { ok: false, reason: 'decode_too_large' }, 'ratio 0: only the cap');
  t.equal(budget.bytes, 0, 'everything given back');
  t.end();
});

void t.test("a brotli bomb is refused from its first meta-block's declared length, before any decoding", (t) => {
  const zeros = Buffer.alloc(64 * 1024 * 1024);
  for (const lgwin of [18, 22, 24]) {
    const bomb = zlib.brotliCompressSync(zeros, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9, [zlib.constants.BROTLI_PARAM_LGWIN]: lgwin } });
    const first = brotliFirstBlockLength(bomb) ?? 0;
    t.ok(first >= 2 ** lgwin, `window ${lgwin}: the first block declares ${first} bytes`);
    const budget = new MemoryBudget(64 * 1024 * 1024);
    t.strictSame(decodeBody(bomb, 'br', { maxDecodedBytes: 128 * 1024, maxDecodeRatio: 0, budget }), { ok: false, reason: 'decode_too_large' });
    t.equal(budget.peak, 0, 'refused before anything was reserved or decoded');
  }
  // Real documents: the first block is never longer than the document.
  for (const size of [0, 3, 5000, 2_000_000]) {
    const doc = Buffer.from('x'.repeat(size));
    const br = zlib.brotliCompressSync(doc);
    const first = brotliFirstBlockLength(br);
    t.ok(first !== null && first <= size, `${size} bytes: first block ${first}`);
    const r = decodeBody(br, 'br', { maxDecodedBytes: 8 * 1024 * 1024, maxDecodeRatio: 0 });
    t.ok(r.ok && r.body.equals(doc), `${size} bytes decode whole`);
  }
  t.equal(brotliFirstBlockLength(Buffer.alloc(0)), null, 'too short to tell');
  t.end();
});

void t.test("a gzip bomb is refused from its last member's declared length, before any decoding", (t) => {
  const member = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024));
  t.equal(gzipLastMemberLength(member), 16 * 1024 * 1024, 'ISIZE read from the trailer');
  for (const [name, body, encoding] of [
    ['one member', member, 'gzip'],
    ['four members', Buffer.concat([member, member, member, member]), 'gzip'],
    ['gzip inside gzip', zlib.gzipSync(Buffer.concat([member, member])), 'gzip, gzip'],
  ] as const) {
    const budget = new MemoryBudget(64 * 1024 * 1024);
    t.strictSame(decodeBody(body, encoding, { maxDecodedBytes: 1024 * 1024, maxDecodeRatio: 0, budget }), { ok: false, reason: 'decode_too_large' }, name);
    // gzip inside gzip: the outer layer (two members, about 32 KiB) is decoded, the inner one is refused unread.
    if (encoding === 'gzip') t.equal(budget.peak, 0, `${name}: refused before anything was reserved or decoded`);
    else t.ok(budget.peak < 2 * 1024 * 1024, `${name}: never near the 16 MiB a member declares (peak ${budget.peak})`);
    t.equal(budget.bytes, 0, `${name}: everything given back`);
  }
  // A trailer that says less than the truth (mod 2^32, or a lie) is decoded and stopped by the limit as before.
  const liar = Buffer.from(member);
  liar.writeUInt32LE(10, liar.length - 4);
  t.strictSame(decodeBody(liar, 'gzip', { maxDecodedBytes: 1024 * 1024, maxDecodeRatio: 0 }), { ok: false, reason: 'decode_too_large' }, 'a lying trailer still stops at the limit');
  // Real documents decode whole.
  for (const size of [0, 5, 70_000]) {
    const doc = Buffer.from('y'.repeat(size));
    const gz = zlib.gzipSync(doc);
    t.equal(gzipLastMemberLength(gz), size, `${size} bytes declared`);
    const r = decodeBody(gz, 'gzip', { maxDecodedBytes: 1024 * 1024, maxDecodeRatio: 0 });
    t.ok(r.ok && r.body.equals(doc), `${size} bytes decode whole`);
  }
  t.equal(gzipLastMemberLength(Buffer.from('not gzip at all, long enough')), -1, 'not gzip: no declared length');
  t.end();
});

void t.test('the strided pre-scan answers as the byte-by-byte one on any bytes', (t) => {
  // Bytes drawn mostly from digits, dots and exponent letters, so runs of every
  // length and letters after digits are common, with any byte in between.
  const byte = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...'0123456789.'.split('').map((c) => c.charCodeAt(0))) },
    { weight: 1, arbitrary: fc.constantFrom(0x45, 0x65) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
  const bytes = fc.array(byte, { maxLength: 200 }).map((a) => Uint8Array.from(a));
  t.doesNotThrow(() => fc.assert(fc.property(bytes, (b) => maybeLossyBytes(b) === maybeLossyBytesEach(b)), { numRuns: 5000 }));
  // Runs of exactly 15 and 16 at every offset of a 48-byte window, and a letter after each position.
  for (let at = 0; at < 48; at++) {
    for (const len of [15, 16]) {
      const b = Buffer.alloc(48 + len, 0x20);
      b.fill(0x31, at, at + len);
      t.equal(maybeLossyBytes(b), len === 16, `run of ${len} at ${at}`);
    }
    const e = Buffer.alloc(49, 0x20);
    e[at] = 0x37;
    e[at + 1] = 0x65;
    t.equal(maybeLossyBytes(e), true, `digit then e at ${at}`);
    t.equal(maybeLossyBytes(e.subarray(at + 1)), false, `e first at ${at}`);
  }
  t.end();
});
