// gRPC framing (DESIGN §5 gRPC): 5-byte prefixes, compressed messages undone
// under grpc-encoding, bounded like every decoded body.
import t from 'tap';
import zlib from 'node:zlib';
import { MemoryBudget, RATIO_FLOOR_BYTES } from '../../src/compare/index.js';
import { grpcCodec, grpcEncoding, grpcMessages, hasCompressedFrame, unframe } from '../../src/compare/grpc.js';
import { parseMediaType } from '../../src/compare/body.js';
import { frame } from './fixtures/grpc.js';


const limits = { maxDecodedBytes: 1 << 20 };

void t.test('unframe: one, several, empty, broken', async (t) => {
  const one = unframe(frame(Buffer.from([8, 1])));
  t.strictSame(one?.map((f) => [f.compressed, [...f.data]]), [[false, [8, 1]]]);
  const several = unframe(Buffer.concat([frame(Buffer.from('a')), frame(Buffer.alloc(0)), frame(Buffer.from('bc'), true)]));
  t.strictSame(several?.map((f) => [f.compressed, f.data.toString()]), [
    [false, 'a'],
    [false, ''],
    [true, 'bc'],
  ]);
  t.strictSame(unframe(Buffer.alloc(0)), [], 'an empty body has no message');
  const whole = frame(Buffer.from('hello'));
  for (let cut = 1; cut < whole.length; cut++) t.equal(unframe(whole.subarray(0, cut)), null, `cut at ${cut} bytes`);
  t.equal(unframe(Buffer.concat([whole, Buffer.from([0, 0, 0])])), null, 'a prefix cut short after a whole message');
  const flagged = Buffer.from(whole);
  flagged[0] = 2;
  t.equal(unframe(flagged), null, 'a flag other than 0 or 1');
  const huge = Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 1, 2]);
  t.equal(unframe(huge), null, 'a length past the end');
});

void t.test('grpcCodec and grpcEncoding', async (t) => {
  const codec = (ct: string): string | null => grpcCodec(parseMediaType(ct));
  t.equal(codec('application/grpc'), 'proto');
  t.equal(codec('Application/GRPC+proto; charset=x'), 'proto');
  t.equal(codec('application/grpc;foo=bar'), 'proto');
  t.equal(codec('application/grpc+json'), 'other');
  t.equal(codec('application/grpc-web'), null, 'gRPC-Web is another framing');
  t.equal(codec('application/json'), null);
  t.equal(grpcCodec(null), null);
  t.equal(grpcEncoding(undefined), 'identity');
  t.equal(grpcEncoding(' GZIP '), 'gzip');
  t.equal(grpcEncoding('deflate'), 'deflate');
  t.equal(grpcEncoding('identity'), 'identity');
  t.equal(grpcEncoding('snappy'), 'unknown');
});

void t.test('compressed messages: gzip and deflate undone, one by one', async (t) => {
  const a = Buffer.from('first message');
  const b = Buffer.from('second');
  const body = Buffer.concat([frame(zlib.gzipSync(a), true), frame(b), frame(zlib.gzipSync(Buffer.alloc(0)), true)]);
  t.ok(hasCompressedFrame(body));
  t.notOk(hasCompressedFrame(frame(a)));
  const r = grpcMessages(body, 'gzip', limits);
  t.ok(r.ok);
  if (r.ok) {
    t.strictSame(r.messages.map((m) => m.toString()), ['first message', 'second', '']);
    t.equal(r.reserved, a.length, 'the decompressed bytes are counted (the plain one is a view)');
  }
  const z = grpcMessages(frame(zlib.deflateSync(a), true), 'deflate', limits);
  t.strictSame(z.ok && z.messages.map(String), ['first message'], 'deflate: zlib-wrapped');
  const raw = grpcMessages(frame(zlib.deflateRawSync(a), true), 'deflate', limits);
  t.strictSame(raw.ok && raw.messages.map(String), ['first message'], 'deflate: raw accepted');
  const plain = grpcMessages(frame(a), undefined, limits);
  t.strictSame(plain.ok && plain.messages.map(String), ['first message'], 'no compression');
});

void t.test('what cannot be decoded is decode_error', async (t) => {
  const gz = frame(zlib.gzipSync(Buffer.from('x')), true);
  t.strictSame(grpcMessages(gz, undefined, limits), { ok: false, reason: 'decode_error' }, 'compressed flag under identity');
  t.strictSame(grpcMessages(gz, 'snappy', limits), { ok: false, reason: 'decode_error' }, 'an encoding umbra does not know');
  t.strictSame(grpcMessages(frame(Buffer.from('not gzip'), true), 'gzip', limits), { ok: false, reason: 'decode_error' }, 'corrupt data');
  t.strictSame(grpcMessages(gz.subarray(0, gz.length - 1), 'gzip', limits), { ok: false, reason: 'decode_error' }, 'a truncated frame');
  const full = zlib.gzipSync(Buffer.from('a longer message that compresses'));
  t.strictSame(grpcMessages(frame(full.subarray(0, full.length - 6), true), 'gzip', limits), { ok: false, reason: 'decode_error' }, 'a truncated gzip stream');
  t.ok(grpcMessages(frame(Buffer.from('plain')), 'snappy', limits).ok, 'an unknown encoding with no compressed message is fine');
});

void t.test('bounded: maxDecodedBytes over all messages, the ratio, the budget; a gzip bomb stops at the cap', async (t) => {
  const kib = (n: number): Buffer => Buffer.alloc(n * 1024, 'a');
  const cap = { maxDecodedBytes: 64 * 1024 };
  t.ok(grpcMessages(frame(zlib.gzipSync(kib(64)), true), 'gzip', cap).ok, 'exactly the cap');
  t.strictSame(grpcMessages(frame(zlib.gzipSync(kib(65)), true), 'gzip', cap), { ok: false, reason: 'decode_too_large' }, 'one message over the cap');
  const two = Buffer.concat([frame(zlib.gzipSync(kib(40)), true), frame(zlib.gzipSync(kib(40)), true)]);
  t.strictSame(grpcMessages(two, 'gzip', cap), { ok: false, reason: 'decode_too_large' }, 'two messages over the cap together');

  // Past 1 MiB, at most maxDecodeRatio times the compressed size.
  const big = zlib.gzipSync(Buffer.alloc(RATIO_FLOOR_BYTES * 2));
  t.strictSame(grpcMessages(frame(big, true), 'gzip', { maxDecodedBytes: 64 << 20, maxDecodeRatio: 100 }), { ok: false, reason: 'decode_too_large' }, 'over the ratio');
  t.ok(grpcMessages(frame(big, true), 'gzip', { maxDecodedBytes: 64 << 20, maxDecodeRatio: 0 }).ok, 'ratio 0: no ratio limit');

  // A bomb: 1 GiB of zeros in about 1 MiB; it must stop at the cap, fast, holding no more.
  const budget = new MemoryBudget(256 << 20);
  const bomb = frame(zlib.gzipSync(Buffer.alloc(256 << 20), { level: 9 }), true);
  const started = process.hrtime.bigint();
  const r = grpcMessages(bomb, 'gzip', { maxDecodedBytes: 8 << 20, budget });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.strictSame(r, { ok: false, reason: 'decode_too_large' });
  t.ok(budget.peak <= (8 << 20) + 64 * 1024, `held at most the cap plus a chunk (peak ${budget.peak})`);
  t.equal(budget.bytes, 0, 'everything given back');
  t.ok(ms < 2000, `stopped early (${ms.toFixed(0)} ms)`);

  // A budget with less room than the cap: over_memory, nothing kept.
  const small = new MemoryBudget(128 * 1024);
  t.strictSame(grpcMessages(frame(zlib.gzipSync(kib(512)), true), 'gzip', { maxDecodedBytes: 1 << 20, budget: small }), { ok: false, reason: 'over_memory' });
  t.equal(small.bytes, 0);
  // Success: the messages stay counted until the caller releases them.
  const ok = new MemoryBudget(1 << 20);
  const held = grpcMessages(Buffer.concat([frame(zlib.gzipSync(kib(10)), true), frame(zlib.gzipSync(kib(20)), true)]), 'gzip', { maxDecodedBytes: 1 << 20, budget: ok });
  t.ok(held.ok);
  t.equal(ok.bytes, 30 * 1024);
  if (held.ok) t.equal(held.reserved, 30 * 1024);
  // A failure after a success gives back what the earlier messages held.
  const mixed = new MemoryBudget(1 << 20);
  t.notOk(grpcMessages(Buffer.concat([frame(zlib.gzipSync(kib(10)), true), frame(Buffer.from('bad'), true)]), 'gzip', { maxDecodedBytes: 1 << 20, budget: mixed }).ok);
  t.equal(mixed.bytes, 0);
});
