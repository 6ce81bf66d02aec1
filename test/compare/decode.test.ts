// The two decode engines (decode.ts): the scratch engine, which writes into one
// resident area per thread, must answer exactly as node:zlib's one-shot
// functions do (the public engine) on any input, count the same bytes in the
// budget, and hand back memory of the body's own.
import t from 'tap';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { DECODE_ENGINE, inflate, type DecodeEngine } from '../../src/compare/decode.js';
import { MemoryBudget, decodeBody } from '../../src/compare/index.js';

const MiB = 1024 * 1024;
const ENGINES: DecodeEngine[] = ['scratch', 'public'];

const ENCODERS: Record<string, (b: Buffer) => Buffer> = {
  gzip: (b) => zlib.gzipSync(b),
  deflate: (b) => zlib.deflateSync(b),
  'deflate (raw)': (b) => zlib.deflateRawSync(b),
  br: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }),
};
const HEADER: Record<string, string> = { gzip: 'gzip', deflate: 'deflate', 'deflate (raw)': 'deflate', br: 'br' };

void t.test('this Node.js runs the scratch engine', (t) => {
  // If a Node.js upgrade moves zlib's internals, umbra still decodes (public engine), but
  // bombs cost fresh memory again: this test says so rather than letting it pass unseen.
  t.equal(DECODE_ENGINE, 'scratch');
  t.end();
});

void t.test('both engines give the same answer, bytes and budget on any input', (t) => {
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    // Repetitive: expands far past its encoded size, so limits and ratios are reached.
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 40_000 })).map(([unit, times]) => {
      const b = Buffer.alloc(unit.length * times);
      for (let i = 0; i < b.length; i += unit.length) b.set(unit, i);
      return b;
    }),
  );
  const damage = fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }) }),
  );
  const layers = fc.array(fc.constantFrom(...Object.keys(ENCODERS)), { minLength: 1, maxLength: 2 });
  fc.assert(
    fc.property(payload, layers, damage, fc.integer({ min: 0, max: 300_000 }), fc.constantFrom(0, 2, 1000), (raw, codings, dmg, maxDecodedBytes, maxDecodeRatio) => {
      let body: Buffer = Buffer.from(raw);
      for (const c of codings) body = (ENCODERS[c] as (b: Buffer) => Buffer)(body);
      if (dmg.kind === 'truncate') body = body.subarray(0, dmg.at % (body.length + 1));
      if (dmg.kind === 'flip' && body.length > 0) {
        body = Buffer.from(body);
        const i = dmg.at % body.length;
        body[i] = (body[i] as number) ^ (1 << dmg.bit);
      }
      if (dmg.kind === 'append') body = Buffer.concat([body, dmg.bytes]);
      // Content-Encoding lists codings in the order they were applied.
      const header = codings.map((c) => HEADER[c]).join(', ');
      const answers = ENGINES.map((engine) => {
        const budget = new MemoryBudget(64 * MiB);
        const r = decodeBody(body, header, { maxDecodedBytes, maxDecodeRatio, budget, engine });
        const counted = budget.bytes;
        if (r.ok) budget.release(r.reserved);
        return { r, counted, after: budget.bytes };
      });
      const [scratch, pub] = answers as [(typeof answers)[0], (typeof answers)[0]];
      if (scratch.r.ok !== pub.r.ok) return false;
      if (scratch.r.ok && pub.r.ok) {
        if (!scratch.r.body.equals(pub.r.body)) return false;
        // What is counted is the body handed back, in both.
        if (scratch.r.reserved !== pub.r.reserved || scratch.counted !== pub.counted) return false;
        if (scratch.counted !== (scratch.r.body === body ? 0 : scratch.r.body.length)) return false;
      } else if (!scratch.r.ok && !pub.r.ok && scratch.r.reason !== pub.r.reason) return false;
      return scratch.after === 0 && pub.after === 0;
    }),
    { numRuns: 400 },
  );
  t.pass('400 inputs answered alike');
  t.end();
});

void t.test('a decoded body is memory of its own, not a view of the scratch', (t) => {
  const a = Buffer.from('{"first":"answer"}'.repeat(100));
  const b = Buffer.from('{"second":"answer, longer than the first"}'.repeat(200));
  const ra = decodeBody(zlib.gzipSync(a), 'gzip', { maxDecodedBytes: MiB });
  const rb = decodeBody(zlib.deflateSync(b), 'deflate', { maxDecodedBytes: MiB });
  const rc = inflate(zlib.brotliCompressSync(a), 'br', MiB, new MemoryBudget(MiB));
  t.ok(ra.ok && rb.ok && rc.ok);
  if (ra.ok && rb.ok && rc.ok) {
    t.ok(ra.body.equals(a), 'the first body is intact after the second decode');
    t.ok(rb.body.equals(b));
    t.ok(rc.body.equals(a));
    // Small copies may share Buffer's pool, never the same bytes.
    const overlap = ra.body.buffer === rb.body.buffer && ra.body.byteOffset < rb.body.byteOffset + rb.body.length && rb.body.byteOffset < ra.body.byteOffset + ra.body.length;
    t.notOk(overlap, 'separate memory');
    t.equal(ra.body.byteLength, a.length, 'exactly the decoded size');
  }
  t.end();
});

void t.test('a bomb stopped at the limit allocates nothing new once the scratch has grown', (t) => {
  // 64 MiB of zeros in 64 KiB of deflate: no declared length, so it is decoded until the limit stops it.
  const bomb = zlib.deflateSync(Buffer.alloc(64 * MiB), { level: 9 });
  const limits = { maxDecodedBytes: 8 * MiB, maxDecodeRatio: 0 };
  const grown = (engine: DecodeEngine): number => {
    const r = decodeBody(bomb, 'deflate', { ...limits, engine });
    t.strictSame(r, { ok: false, reason: 'decode_too_large' }, `${engine}: stopped at the limit`);
    const before = process.memoryUsage().arrayBuffers;
    decodeBody(bomb, 'deflate', { ...limits, engine });
    return process.memoryUsage().arrayBuffers - before;
  };
  const scratch = grown('scratch');
  const pub = grown('public');
  t.ok(scratch < MiB, `scratch engine: ${scratch} bytes of new buffers for the second bomb`);
  t.ok(pub >= 4 * MiB, `public engine: ${pub} bytes of new buffers (each 64 KiB of output its own)`);
  t.end();
});

void t.test('the budget bounds the scratch engine as it bounds the public one', (t) => {
  const big = zlib.gzipSync(Buffer.alloc(2 * MiB, 'a'));
  for (const engine of ENGINES) {
    // No room for the 2 MiB this body decodes to.
    const budget = new MemoryBudget(MiB);
    t.strictSame(decodeBody(big, 'gzip', { maxDecodedBytes: 3 * MiB, maxDecodeRatio: 0, budget, engine }), { ok: false, reason: 'over_memory' }, engine);
    t.equal(budget.bytes, 0, `${engine}: nothing left counted`);
    const roomy = new MemoryBudget(8 * MiB);
    const r = decodeBody(big, 'gzip', { maxDecodedBytes: 3 * MiB, maxDecodeRatio: 0, budget: roomy, engine });
    t.ok(r.ok, `${engine}: decoded with room`);
    if (r.ok) {
      t.equal(roomy.bytes, 2 * MiB, `${engine}: the body is counted at its size`);
      roomy.release(r.reserved);
    }
    t.equal(roomy.bytes, 0);
  }
  t.end();
});
