// Content-encoding decoding, bounded. Each layer may expand to at most
// limits.maxDecodedBytes, and past 1 MiB to at most limits.maxDecodeRatio times
// its encoded size (a 100-byte brotli bomb stops at 1 MiB of output, not at the
// cap; its CPU is set by the window it declares, which brotli fills first); less
// when the shared memory budget has less room. That bound is reserved in the
// budget before zlib writes, and zlib stops at the first chunk past it, so a
// compression bomb holds the bound and no more. At most MAX_NESTED_ENCODINGS
// codings are undone; a deeper stack is not decoded at all. Only the compare
// worker calls this: decoding never runs on the event loop that serves live
// traffic. It runs on the worker's own thread rather than the libuv pool, so
// the decoders' memory (brotli's window is up to 16 MiB) is allocated and freed
// by one thread only.

import zlib from 'node:zlib';
import { UNCOUNTED, type ByteBudget } from './budget.js';

/** Why a body could not be decoded: each one skips the comparison with that reason. */
export type DecodeFailure = 'decode_error' | 'decode_too_large' | 'decode_too_deep' | 'over_memory';

export type DecodeResult =
  | {
      readonly ok: true;
      readonly body: Buffer;
      /** Bytes counted in the budget for `body` (0 when it is the input itself); the caller releases them. */
      readonly reserved: number;
    }
  | { readonly ok: false; readonly reason: DecodeFailure };

export type Coding = 'gzip' | 'deflate' | 'br' | 'unknown';

/** What one layer may expand to: maxDecodedBytes, and past RATIO_FLOOR_BYTES at most `ratio` (0 = none) times its input. */
export function allowedOutput(inputBytes: number, cap: number, ratio: number): number {
  return ratio === 0 ? cap : Math.min(cap, Math.max(RATIO_FLOOR_BYTES, ratio * inputBytes));
}

/** Content codings undone one inside the other, at most (gzip inside gzip is two). */
export const MAX_NESTED_ENCODINGS = 2;

/** Codings listed in a Content-Encoding value, in the order they were applied. */
export function parseEncodings(header: string | string[] | undefined): Coding[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(',') : header;
  const out: Coding[] = [];
  for (const raw of text.split(',')) {
    const c = raw.trim().toLowerCase();
    if (c === '' || c === 'identity') continue;
    if (c === 'gzip' || c === 'x-gzip') out.push('gzip');
    else if (c === 'deflate') out.push('deflate');
    else if (c === 'br') out.push('br');
    else out.push('unknown');
  }
  return out;
}

/** True when the body is compared as received: no coding, or one umbra does not know (compared raw). */
export function isPlain(codings: readonly Coding[]): boolean {
  return codings.length === 0 || codings.includes('unknown');
}

/** limits.maxDecodeRatio's default: a body may expand to 1000 times its encoded size (and always to 1 MiB). */
export const DEFAULT_MAX_DECODE_RATIO = 1000;
/** What any body may expand to whatever the ratio: small bodies are not held to it. */
export const RATIO_FLOOR_BYTES = 1024 * 1024;
/** Output is produced in chunks of this size: the most the decoder writes past a limit before it is stopped. */
const CHUNK = 64 * 1024;

export interface DecodeLimits {
  /** limits.maxDecodedBytes: the most one layer may expand to. */
  readonly maxDecodedBytes: number;
  /** limits.maxDecodeRatio: past RATIO_FLOOR_BYTES, at most this many times the layer's input; 0 = no ratio limit. */
  readonly maxDecodeRatio?: number;
}

export interface DecodeOptions extends DecodeLimits {
  /** Where decoded bytes are counted; none = not counted (tests, tools). */
  readonly budget?: ByteBudget;
  /** How to decode; DECODE_ENGINE unless a test holds one engine to the other. */
  readonly engine?: DecodeEngine;
}

/**
 * Undoes the body's content codings, innermost last. An unknown coding anywhere
 * leaves the bytes as received (compared raw). Never throws.
 */
export function decodeBody(body: Buffer, contentEncoding: string | string[] | undefined, opts: DecodeOptions): DecodeResult {
  const codings = parseEncodings(contentEncoding);
  if (isPlain(codings)) return { ok: true, body, reserved: 0 };
  if (codings.length > MAX_NESTED_ENCODINGS) return { ok: false, reason: 'decode_too_deep' };
  const budget = opts.budget ?? UNCOUNTED;
  const engine = opts.engine ?? DECODE_ENGINE;
  const cap = Math.max(0, Math.floor(opts.maxDecodedBytes));
  const ratio = Math.max(0, opts.maxDecodeRatio ?? DEFAULT_MAX_DECODE_RATIO);
  let out = body;
  let held = 0;
  for (let i = codings.length - 1; i >= 0; i--) {
    if (out.length === 0) break; // some servers label empty bodies
    const coding = codings[i] as Coding;
    const allowed = allowedOutput(out.length, cap, ratio);
    const refused = refusedUndecoded(out, coding, allowed);
    if (refused !== null) {
      budget.release(held);
      return { ok: false, reason: refused };
    }
    // A layer left in the scratch gets its own copy first: the next one writes there.
    out = owned(out);
    const r = decodeLayer(out, coding, allowed, budget, engine);
    // The layer just undone is no longer needed.
    budget.release(held);
    if (!r.ok) return r;
    out = r.body;
    held = r.reserved;
  }
  return { ok: true, body: owned(out), reserved: held };
}

/**
 * `buf` itself, or when it lies in this thread's scratch, a copy in memory of
 * its own at its exact size. The copy takes over the view's count in the budget:
 * the scratch stays resident whether or not it holds anything (see below), so
 * what the copy adds to the process is its own size, no more.
 */
function owned(buf: Buffer): Buffer {
  return buf.buffer === scratch.buffer ? Buffer.from(buf) : buf;
}

/** "deflate" is zlib-wrapped by the RFC but raw deflate from some servers: a zlib header says which. */
function hasZlibHeader(buf: Buffer): boolean {
  const first = buf[0];
  // CM=8 in the low nibble and (CMF*256+FLG) % 31 === 0.
  return first !== undefined && (first & 0x0f) === 8 && buf.length >= 2 && ((first << 8) | (buf[1] ?? 0)) % 31 === 0;
}

function isTooLarge(err: unknown): boolean {
  return err instanceof RangeError || (err as { code?: unknown } | null)?.code === 'ERR_BUFFER_TOO_LARGE';
}

/** Which decoders to try, in order: zlib-wrapped first when the header says so, raw deflate when that fails. */
function formatsFor(coding: Coding, input: Buffer): Format[] {
  if (coding === 'gzip') return ['gunzip'];
  if (coding === 'br') return ['brotli'];
  return hasZlibHeader(input) ? ['inflate', 'inflateRaw'] : ['inflateRaw'];
}

type Format = 'gunzip' | 'brotli' | 'inflate' | 'inflateRaw';

/**
 * Why a layer is too large without decoding a byte of it, from what its own
 * header or trailer declares; null when it must be decoded to tell.
 */
function refusedUndecoded(input: Buffer, coding: Coding, allowed: number): DecodeFailure | null {
  // Brotli fills its window (up to 16 MiB) before its first output byte, so a bomb
  // costs that much CPU whatever the limit; its first meta-block says how long it is.
  if (coding === 'br' && (brotliFirstBlockLength(input) ?? 0) > allowed) return 'decode_too_large';
  // A gzip member ends with its uncompressed length (mod 2^32): a body whose last member alone says more than allowed is too large undecoded.
  if (coding === 'gzip' && gzipLastMemberLength(input) > allowed) return 'decode_too_large';
  return null;
}

/**
 * One layer, output in chunks, stopped by zlib as soon as it passes `allowed`
 * (maxDecodedBytes, or the ratio bound) or what the budget has room for. The
 * bound plus one chunk is reserved first; the result is then counted at its size.
 * The body returned is this layer's own memory. (Also what undoes a compressed
 * gRPC message, grpc.ts.)
 */
export function inflate(input: Buffer, coding: Coding, allowed: number, budget: ByteBudget, engine: DecodeEngine = DECODE_ENGINE): DecodeResult {
  const refused = refusedUndecoded(input, coding, allowed);
  if (refused !== null) return { ok: false, reason: refused };
  const r = decodeLayer(input, coding, allowed, budget, engine);
  return r.ok ? { ok: true, body: owned(r.body), reserved: r.reserved } : r;
}

/**
 * One layer, its header and trailer already checked. With the scratch engine the
 * body returned is a view of this thread's scratch, valid until the next decode.
 */
function decodeLayer(input: Buffer, coding: Coding, allowed: number, budget: ByteBudget, engine: DecodeEngine): DecodeResult {
  const limit = Math.min(allowed, budget.room() - CHUNK);
  const reserved = limit + CHUNK;
  if (limit < 0 || !budget.tryReserve(reserved)) return { ok: false, reason: 'over_memory' };
  const tooLarge: DecodeFailure = limit < allowed ? 'over_memory' : 'decode_too_large';
  let failure: DecodeFailure = 'decode_error';
  for (const format of formatsFor(coding, input)) {
    const r = engine === 'scratch' ? intoScratch(input, format, limit) : publicDecode(input, format, limit);
    if (r === 'too_large') {
      failure = tooLarge;
      break;
    }
    if (r !== 'error') {
      budget.release(reserved - r.length);
      return { ok: true, body: r, reserved: r.length };
    }
  }
  budget.release(reserved);
  return { ok: false, reason: failure };
}

const PUBLIC_DECODERS: Record<Format, (buf: Buffer, opts: zlib.ZlibOptions & zlib.BrotliOptions) => Buffer> = {
  gunzip: zlib.gunzipSync,
  brotli: zlib.brotliDecompressSync,
  inflate: zlib.inflateSync,
  inflateRaw: zlib.inflateRawSync,
};

/** node:zlib's own one-shot decoders: every 64 KiB of output in memory of its own, joined at the end. */
function publicDecode(input: Buffer, format: Format, limit: number): Buffer | 'too_large' | 'error' {
  try {
    return PUBLIC_DECODERS[format](input, { maxOutputLength: Math.max(1, limit), chunkSize: CHUNK });
  } catch (err) {
    return isTooLarge(err) ? 'too_large' : 'error';
  }
}

// ---- the scratch engine ---------------------------------------------------------
//
// zlib's one-shot decoders write every 64 KiB into a new buffer. Memory the
// process has not touched lately costs a page fault per 4 KiB on first write
// (about 12 µs each on the VMs the benchmarks ran on), so a deflate bomb
// stopped at 8 MiB cost 30-50 ms of the worker's CPU in umbra against 1.5 ms
// when the memory was warm. This engine drives the same native decoder that
// node:zlib's one-shot functions drive (the stream's handle, as they do), but
// writes into one scratch area per thread that stays resident: a bomb is
// stopped in memory already touched, and only output that is kept is copied
// out, at its exact size. The scratch grows to the largest bound a decode has
// had (limits.maxDecodedBytes plus 64 KiB at most) and is reused by every
// decode on its thread; its pages are touched only as far as output reaches.

/** What the one-shot functions use of a node:zlib stream: its native handle and the two counters it writes back. */
interface NativeHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  onerror: ((message: string, errno: number, code?: string) => void) | null;
}

interface NativeStream {
  readonly _handle: NativeHandle;
  readonly _writeState: Uint32Array;
  close(): void;
}

/** node:zlib's streams as the scratch engine sees them (checked once, by scratchWorks below). */
const OPEN: Record<Format, () => NativeStream> = {
  gunzip: () => zlib.createGunzip() as unknown as NativeStream,
  brotli: () => zlib.createBrotliDecompress() as unknown as NativeStream,
  inflate: () => zlib.createInflate() as unknown as NativeStream,
  inflateRaw: () => zlib.createInflateRaw() as unknown as NativeStream,
};

const FINISH: Record<Format, number> = {
  gunzip: zlib.constants.Z_FINISH,
  brotli: zlib.constants.BROTLI_OPERATION_FINISH,
  inflate: zlib.constants.Z_FINISH,
  inflateRaw: zlib.constants.Z_FINISH,
};

let scratch: Buffer = Buffer.alloc(0);

/** The first `length` bytes of the scratch, writable: grown (never shrunk) to hold them. */
function scratchOf(length: number): Buffer {
  // Not zeroed: pages are touched (and become resident) only as output is written.
  if (scratch.length < length) scratch = Buffer.allocUnsafeSlow(length);
  return scratch;
}

/** Decodes `input` into the scratch; the output is a view of it, or the limit was passed, or the data is corrupt. */
function intoScratch(input: Buffer, format: Format, limit: number): Buffer | 'too_large' | 'error' {
  const stream = OPEN[format]();
  const handle = stream._handle;
  const state = stream._writeState;
  let failed = false;
  handle.onerror = () => {
    failed = true;
  };
  const out = scratchOf(limit + CHUNK);
  let written = 0;
  let inOff = 0;
  let inLen = input.length;
  try {
    for (;;) {
      const room = Math.min(CHUNK, out.length - written);
      handle.writeSync(FINISH[format], input, inOff, inLen, out, written, room);
      if (failed) return 'error';
      const roomLeft = state[0] as number;
      const inLeft = state[1] as number;
      written += room - roomLeft;
      inOff += inLen - inLeft;
      inLen = inLeft;
      // Past the limit by at most one chunk: stop here, as maxOutputLength does (which is at least 1).
      if (written > Math.max(1, limit)) return 'too_large';
      // The decoder stopped short of filling the room: it has nothing more to write.
      if (roomLeft !== 0) break;
    }
  } finally {
    handle.onerror = null;
    stream.close();
  }
  return out.subarray(0, written);
}

/** Whether this Node.js's zlib streams expose what the scratch engine drives: checked once, on known answers. */
function scratchWorks(): boolean {
  const sample = Buffer.from('umbra decodes into scratch memory');
  const encoded: Record<Format, Buffer> = {
    gunzip: zlib.gzipSync(sample),
    brotli: zlib.brotliCompressSync(sample),
    inflate: zlib.deflateSync(sample),
    inflateRaw: zlib.deflateRawSync(sample),
  };
  try {
    return (Object.keys(encoded) as Format[]).every((f) => {
      const stream = OPEN[f]() as Partial<NativeStream>;
      const native = typeof stream._handle?.writeSync === 'function' && stream._writeState instanceof Uint32Array;
      stream.close?.();
      const r = native ? intoScratch(encoded[f], f, 1024) : null;
      return Buffer.isBuffer(r) && r.equals(sample);
    });
  } catch {
    return false;
  } finally {
    scratch = Buffer.alloc(0);
  }
}

/**
 * How bodies are decoded: 'scratch' (above) where node:zlib's streams have the
 * native handle the one-shot functions use, else 'public', node:zlib's
 * one-shot functions themselves. Both stop at the same limits with the same reasons.
 */
export type DecodeEngine = 'scratch' | 'public';

export const DECODE_ENGINE: DecodeEngine = scratchWorks() ? 'scratch' : 'public';

/**
 * The uncompressed length (mod 2^32) a gzip body's last member declares in its
 * trailer (RFC 1952 §2.3.1, ISIZE), or -1 when the body is too short to have
 * one or the length is more than deflate could expand the body to. The member really is at least that long, so a body that declares more
 * than allowed is skipped without decoding; one that declares less is decoded
 * and stopped by the limit as any other.
 */
export function gzipLastMemberLength(buf: Buffer): number {
  // The smallest member: a 10-byte header, an empty deflate block, CRC32 and ISIZE.
  if (buf.length < 18 || buf[0] !== 0x1f || buf[1] !== 0x8b) return -1;
  const declared = buf.readUInt32LE(buf.length - 4);
  // Deflate expands at most 1032 times: more than that is not a length (a truncated or corrupt body ends in other bytes).
  return declared <= buf.length * MAX_DEFLATE_RATIO ? declared : -1;
}

/** The most deflate can expand (RFC 1951: a 258-byte match in 2 bits, about 1032:1). */
const MAX_DEFLATE_RATIO = 1032;

/**
 * The uncompressed length of a brotli stream's first meta-block (RFC 7932 §9.1,
 * §9.2), read from its first bytes: the output is at least that long. Null when
 * the header cannot tell (a metadata block, a large-window stream, too few bytes).
 */
export function brotliFirstBlockLength(buf: Buffer): number | null {
  let pos = 0;
  const bits = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, pos++) {
      const byte = buf[pos >> 3];
      if (byte === undefined) throw new RangeError('short header');
      v += ((byte >> (pos & 7)) & 1) * 2 ** i;
    }
    return v;
  };
  try {
    // WBITS: 1 bit, then 3, then 3 more; the value 0b0010001 marks a large window.
    if (bits(1) === 1 && bits(3) === 0 && bits(3) === 1) return null;
    // ISLAST, and ISLASTEMPTY when it is set: an empty stream.
    if (bits(1) === 1 && bits(1) === 1) return 0;
    const nibbles = bits(2);
    if (nibbles === 3) return null; // a metadata block first
    return bits((nibbles + 4) * 4) + 1;
  } catch {
    return null;
  }
}
