// Content-encoding decoding, bounded: zlib stops at maxOutputLength, so a gzip
// bomb costs at most maxDecodedBytes of memory and ends as a decode_too_large skip.

import zlib from 'node:zlib';

export type DecodeResult =
  | { readonly ok: true; readonly body: Buffer }
  | { readonly ok: false; readonly reason: 'decode_error' | 'decode_too_large' };

type Coding = 'gzip' | 'deflate' | 'br' | 'identity' | 'unknown';

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

function isTooLarge(err: unknown): boolean {
  return err instanceof RangeError || (err as { code?: unknown } | null)?.code === 'ERR_BUFFER_TOO_LARGE';
}

/**
 * Decodes a body synchronously (for the worker, or small bodies inline).
 * An unknown coding anywhere leaves the bytes as received (compared raw).
 */
export function decodeBody(body: Buffer, contentEncoding: string | string[] | undefined, maxDecodedBytes: number): DecodeResult {
  const codings = parseEncodings(contentEncoding);
  if (codings.length === 0 || codings.includes('unknown')) return { ok: true, body };
  const opts = { maxOutputLength: Math.max(1, maxDecodedBytes) };
  let out = body;
  try {
    for (let i = codings.length - 1; i >= 0; i--) {
      if (out.length === 0) break; // some servers label empty bodies
      switch (codings[i]) {
        case 'gzip':
          out = zlib.gunzipSync(out, opts);
          break;
        case 'br':
          out = zlib.brotliDecompressSync(out, opts);
          break;
        case 'deflate':
          out = inflateEitherSync(out, opts);
          break;
        default:
          break;
      }
    }
  } catch (err) {
    return { ok: false, reason: isTooLarge(err) ? 'decode_too_large' : 'decode_error' };
  }
  if (out.length > maxDecodedBytes) return { ok: false, reason: 'decode_too_large' };
  return { ok: true, body: out };
}

/** "deflate" is zlib-wrapped by the RFC but raw deflate from some servers. */
function inflateEitherSync(buf: Buffer, opts: zlib.ZlibOptions): Buffer {
  const first = buf[0];
  // A zlib header: CM=8 in the low nibble and (CMF*256+FLG) % 31 === 0.
  if (first !== undefined && (first & 0x0f) === 8 && buf.length >= 2 && ((first << 8) | (buf[1] ?? 0)) % 31 === 0) {
    try {
      return zlib.inflateSync(buf, opts);
    } catch (err) {
      if (isTooLarge(err)) throw err;
    }
  }
  return zlib.inflateRawSync(buf, opts);
}
