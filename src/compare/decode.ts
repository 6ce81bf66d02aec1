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
/** Output is produced in chunks of this size (zlib reuses memory better than with one large buffer). */
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
  const cap = Math.max(0, Math.floor(opts.maxDecodedBytes));
  const ratio = Math.max(0, opts.maxDecodeRatio ?? DEFAULT_MAX_DECODE_RATIO);
  let out = body;
  let held = 0;
  for (let i = codings.length - 1; i >= 0; i--) {
    if (out.length === 0) break; // some servers label empty bodies
    const r = inflate(out, codings[i] as Coding, allowedOutput(out.length, cap, ratio), budget);
    // The layer just undone is no longer needed.
    budget.release(held);
    if (!r.ok) return r;
    out = r.body;
    held = r.reserved;
  }
  return { ok: true, body: out, reserved: held };
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

type Decoder = (buf: Buffer, opts: zlib.ZlibOptions & zlib.BrotliOptions) => Buffer;

function decoderFor(coding: Coding, input: Buffer): Decoder[] {
  if (coding === 'gzip') return [zlib.gunzipSync];
  if (coding === 'br') return [zlib.brotliDecompressSync];
  // zlib-wrapped first when the header says so, raw deflate when that fails.
  return hasZlibHeader(input) ? [zlib.inflateSync, zlib.inflateRawSync] : [zlib.inflateRawSync];
}

/**
 * One layer, output in chunks, stopped by zlib as soon as it passes `allowed`
 * (maxDecodedBytes, or the ratio bound) or what the budget has room for. The
 * bound plus one chunk is reserved first; the result is then counted at its size.
 * (Also what undoes a compressed gRPC message, grpc.ts.)
 */
export function inflate(input: Buffer, coding: Coding, allowed: number, budget: ByteBudget): DecodeResult {
  // Brotli fills its window (up to 16 MiB) before its first output byte, so a bomb
  // costs that much CPU whatever the limit; its first meta-block says how long it is.
  if (coding === 'br' && (brotliFirstBlockLength(input) ?? 0) > allowed) return { ok: false, reason: 'decode_too_large' };
  // A gzip member ends with its uncompressed length (mod 2^32): a body whose last member alone says more than allowed is too large undecoded.
  if (coding === 'gzip' && gzipLastMemberLength(input) > allowed) return { ok: false, reason: 'decode_too_large' };
  const limit = Math.min(allowed, budget.room() - CHUNK);
  const reserved = limit + CHUNK;
  if (limit < 0 || !budget.tryReserve(reserved)) return { ok: false, reason: 'over_memory' };
  let failure: DecodeFailure = 'decode_error';
  for (const decode of decoderFor(coding, input)) {
    try {
      const body = decode(input, { maxOutputLength: Math.max(1, limit), chunkSize: CHUNK });
      budget.release(reserved - body.length);
      return { ok: true, body, reserved: body.length };
    } catch (err) {
      if (isTooLarge(err)) {
        failure = limit < allowed ? 'over_memory' : 'decode_too_large';
        break;
      }
    }
  }
  budget.release(reserved);
  return { ok: false, reason: failure };
}

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
