// Content-encoding decoding, bounded and streaming. zlib works on the thread
// pool and hands its output back in chunks; every chunk is counted against
// maxDecodedBytes and the shared memory budget as it arrives, so a compression
// bomb stops at the first chunk over either, without ever holding more. At most
// MAX_NESTED_ENCODINGS codings are undone; a deeper stack is not decoded at all.
// Only the compare worker calls this: decoding never runs on the event loop
// that serves live traffic.

import zlib from 'node:zlib';
import type { ByteBudget } from './budget.js';

/** Why a body could not be decoded: each one skips the comparison with that reason. */
export type DecodeFailure = 'decode_error' | 'decode_too_large' | 'decode_too_deep' | 'over_memory';

export type DecodeResult =
  | {
      readonly ok: true;
      readonly body: Buffer;
      /** Bytes of `body` counted in the budget (0 when it is the input itself); the caller releases them. */
      readonly reserved: number;
    }
  | { readonly ok: false; readonly reason: DecodeFailure };

export type Coding = 'gzip' | 'deflate' | 'br' | 'unknown';

/** Content codings undone one inside the other, at most (gzip inside gzip is two). */
export const MAX_NESTED_ENCODINGS = 2;

/** Output chunk size of the decoders: fewer thread-pool round trips than zlib's 16 KiB. */
const CHUNK = 64 * 1024;

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

const UNLIMITED: ByteBudget = { tryReserve: () => true, release: () => {} };

export interface DecodeOptions {
  readonly maxDecodedBytes: number;
  /** Where decoded bytes are counted; none = not counted (tests, tools). */
  readonly budget?: ByteBudget;
}

/**
 * Undoes the body's content codings, innermost last. An unknown coding anywhere
 * leaves the bytes as received (compared raw). Never throws.
 */
export async function decodeBody(body: Buffer, contentEncoding: string | string[] | undefined, opts: DecodeOptions): Promise<DecodeResult> {
  const codings = parseEncodings(contentEncoding);
  if (isPlain(codings)) return { ok: true, body, reserved: 0 };
  if (codings.length > MAX_NESTED_ENCODINGS) return { ok: false, reason: 'decode_too_deep' };
  const budget = opts.budget ?? UNLIMITED;
  const cap = Math.max(0, opts.maxDecodedBytes);
  let out = body;
  let held = 0;
  for (let i = codings.length - 1; i >= 0; i--) {
    if (out.length === 0) break; // some servers label empty bodies
    const r = await inflate(out, codings[i] as Coding, cap, budget);
    // The layer just undone is no longer needed.
    budget.release(held);
    if (!r.ok) return r;
    out = r.body;
    held = r.reserved;
  }
  if (out.length > cap) {
    budget.release(held);
    return { ok: false, reason: 'decode_too_large' };
  }
  return { ok: true, body: out, reserved: held };
}

function decoder(coding: Coding, zlibWrapped: boolean): zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress {
  const opts = { chunkSize: CHUNK };
  if (coding === 'gzip') return zlib.createGunzip(opts);
  if (coding === 'br') return zlib.createBrotliDecompress(opts);
  return zlibWrapped ? zlib.createInflate(opts) : zlib.createInflateRaw(opts);
}

/** "deflate" is zlib-wrapped by the RFC but raw deflate from some servers: a zlib header says which. */
function hasZlibHeader(buf: Buffer): boolean {
  const first = buf[0];
  // CM=8 in the low nibble and (CMF*256+FLG) % 31 === 0.
  return first !== undefined && (first & 0x0f) === 8 && buf.length >= 2 && ((first << 8) | (buf[1] ?? 0)) % 31 === 0;
}

async function inflate(input: Buffer, coding: Coding, cap: number, budget: ByteBudget): Promise<DecodeResult> {
  if (coding !== 'deflate') return inflateWith(input, decoder(coding, false), cap, budget);
  if (hasZlibHeader(input)) {
    const r = await inflateWith(input, decoder(coding, true), cap, budget);
    if (r.ok || r.reason !== 'decode_error') return r;
  }
  return inflateWith(input, decoder(coding, false), cap, budget);
}

/** Streams `input` through one decoder, keeping its output up to `cap` and the budget. */
function inflateWith(input: Buffer, z: zlib.Zlib & NodeJS.ReadWriteStream, cap: number, budget: ByteBudget): Promise<DecodeResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (r: DecodeResult): void => {
      if (settled) return;
      settled = true;
      z.removeAllListeners('data');
      z.on('error', () => {}); // late errors after the stop are of no interest
      (z as unknown as { destroy(): void }).destroy();
      resolve(r);
    };
    const fail = (reason: DecodeFailure): void => {
      budget.release(size);
      chunks.length = 0;
      finish({ ok: false, reason });
    };
    z.on('data', (c: Buffer) => {
      if (size + c.length > cap) return fail('decode_too_large');
      if (!budget.tryReserve(c.length)) return fail('over_memory');
      size += c.length;
      chunks.push(c);
    });
    z.on('error', () => fail('decode_error'));
    z.on('end', () => {
      if (chunks.length <= 1) return finish({ ok: true, body: chunks[0] ?? Buffer.alloc(0), reserved: size });
      // The joined copy exists beside the chunks until they are let go: counted too.
      if (!budget.tryReserve(size)) return fail('over_memory');
      const body = Buffer.concat(chunks, size);
      chunks.length = 0;
      budget.release(size);
      finish({ ok: true, body, reserved: size });
    });
    z.end(input);
  });
}
