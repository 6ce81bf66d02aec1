// Protobuf messages without a schema (gRPC answers when compare.protos does not
// name the method): the wire format read into a tree keyed by field number,
// `{"1": ..., "2": {...}}`, that the structural diff compares like JSON
// (`$["2"]["1"]`). Pure functions, no I/O.
//
// The wire format does not say what a value means, so each wire type has one
// reading, the same on both sides (docs/compare.md "gRPC" lists them):
// - varint: an unsigned 64-bit integer (a negative int32/int64 reads as 2^64-|x|,
//   a sint as its zigzag code);
// - fixed64 / fixed32: unsigned integers (a double or a float reads as its bits);
// - length-delimited: a nested message when the bytes parse as one completely
//   (an empty one is `{}`), else a string when they are valid, printable UTF-8,
//   else Bytes (base64); a packed repeated field is such bytes;
// - a group (wire types 3 and 4): a nested message;
// - a field number seen more than once: an array of its values, in order.
// Integers past 2^53 stay exact (BigNum, as JSON's). Nesting is bounded by
// MAX_MESSAGE_DEPTH, protobuf's own default recursion limit: deeper bytes are
// not tried as a message, and a group deeper than that is `too_deep`.

import { isUtf8 } from 'node:buffer';
import { BigNum, Bytes } from './json-parse.js';
import type { TreeValue } from './json-parse.js';

/** Nested messages read at most this deep (protobuf's default recursion limit). */
export const MAX_MESSAGE_DEPTH = 100;

/** The largest field number protobuf allows (2^29 - 1). */
export const MAX_FIELD_NUMBER = 536_870_911;

export type Message = { [field: string]: TreeValue };

/** Why a message could not be read: not protobuf, or nested past MAX_MESSAGE_DEPTH. */
export type MessageFailure = 'invalid' | 'too_deep';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

const TWO32 = 4294967296;
/** hi below this: hi * 2^32 + lo is a safe integer. */
const SAFE_HI = 0x200000;

/**
 * A cursor over one buffer. Reads return false (or -1) instead of throwing: a
 * length-delimited value that is not a message is the common case, not an error.
 */
export class WireReader {
  pos: number;
  /** The last varint or fixed64 read, as two unsigned 32-bit halves. */
  lo = 0;
  hi = 0;
  /** Set when a read failed because of depth (else the failure is 'invalid'). */
  tooDeep = false;

  constructor(
    readonly buf: Buffer,
    start = 0,
  ) {
    this.pos = start;
  }

  /** A varint of at most 10 bytes, ending before `end`, into lo/hi (bits past 64 dropped). */
  varint(end: number): boolean {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    let p = this.pos;
    for (let i = 0; i < 10; i++) {
      if (p >= end) return false;
      const byte = b[p++] as number;
      const bits = byte & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (byte < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        this.pos = p;
        return true;
      }
    }
    return false;
  }

  fixed32(end: number): boolean {
    if (end - this.pos < 4) return false;
    const b = this.buf;
    const p = this.pos;
    this.lo = ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24)) >>> 0;
    this.hi = 0;
    this.pos = p + 4;
    return true;
  }

  fixed64(end: number): boolean {
    if (end - this.pos < 8) return false;
    this.fixed32(end);
    const lo = this.lo;
    this.fixed32(end);
    this.hi = this.lo;
    this.lo = lo;
    return true;
  }

  /** The length of a length-delimited value, checked against `end`; -1 when it does not fit. */
  length(end: number): number {
    if (!this.varint(end) || this.hi !== 0) return -1;
    return this.lo <= end - this.pos ? this.lo : -1;
  }

  /** Skips a value of `wire` type (a group up to its end tag); false when it does not parse. */
  skip(wire: number, field: number, end: number, depth: number): boolean {
    switch (wire) {
      case WIRE_VARINT:
        return this.varint(end);
      case WIRE_FIXED64:
        return this.fixed64(end);
      case WIRE_FIXED32:
        return this.fixed32(end);
      case WIRE_LEN: {
        const n = this.length(end);
        if (n < 0) return false;
        this.pos += n;
        return true;
      }
      case WIRE_START_GROUP:
        if (depth >= MAX_MESSAGE_DEPTH) {
          this.tooDeep = true;
          return false;
        }
        for (;;) {
          if (!this.varint(end) || this.hi !== 0) return false;
          const t = this.lo;
          if ((t & 7) === WIRE_END_GROUP) return t >>> 3 === field;
          if (!this.skip(t & 7, t >>> 3, end, depth + 1)) return false;
        }
      default:
        return false;
    }
  }
}

/** lo/hi as an unsigned 64-bit integer: a number when exact, else BigNum. */
export function unsigned64(lo: number, hi: number): number | BigNum {
  if (hi < SAFE_HI) return hi * TWO32 + lo;
  return new BigNum(((BigInt(hi) << 32n) | BigInt(lo)).toString());
}

/** lo/hi as a signed (two's complement) 64-bit integer. */
export function signed64(lo: number, hi: number): number | BigNum {
  if (hi < 0x80000000) return unsigned64(lo, hi);
  // Negative: -(2^64 - value).
  const nlo = (~lo + 1) >>> 0;
  const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
  const magnitude = unsigned64(nlo, nhi);
  return typeof magnitude === 'number' ? -magnitude : new BigNum(`-${magnitude.raw}`);
}

/** lo/hi as a zigzag-encoded (sint64) integer. */
export function zigzag64(lo: number, hi: number): number | BigNum {
  const negative = (lo & 1) === 1;
  // value >>> 1 over 64 bits.
  const ulo = ((lo >>> 1) | (hi << 31)) >>> 0;
  const uhi = hi >>> 1;
  if (!negative) return unsigned64(ulo, uhi);
  // -(u + 1)
  const plus = unsigned64((ulo + 1) >>> 0, ulo === 0xffffffff ? uhi + 1 : uhi);
  return typeof plus === 'number' ? -plus : new BigNum(`-${plus.raw}`);
}

/**
 * The bytes from `start` to `end` as text when they are valid UTF-8 and
 * printable (no C0 control but tab, line feed and carriage return, no DEL, no
 * C1 control), else null. One pass, no exception, no copy for a failure: most
 * length-delimited values that are not text fail in their first bytes.
 */
export function printableText(buf: Buffer, start: number, end: number): string | null {
  let ascii = true;
  let i = start;
  while (i < end) {
    const c = buf[i] as number;
    if (c < 0x80) {
      if (c < 0x20 ? c !== 0x09 && c !== 0x0a && c !== 0x0d : c === 0x7f) return null;
      i++;
      continue;
    }
    ascii = false;
    // The well-formed sequences of the Unicode standard (Table 3-7): no overlong
    // form, no surrogate, nothing past U+10FFFF.
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      if (c === 0xc2) lo = 0xa0; // U+0080..U+009F: C1 controls
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return null;
    if (end - i <= n) return null;
    const second = buf[i + 1] as number;
    if (second < lo || second > hi) return null;
    for (let k = 2; k <= n; k++) {
      const b = buf[i + k] as number;
      if (b < 0x80 || b > 0xbf) return null;
    }
    i += n + 1;
  }
  return buf.toString(ascii ? 'latin1' : 'utf8', start, end);
}

/** Valid UTF-8 decoded (a BOM kept as U+FEFF), or null; checked first, so a failure costs no exception. */
export function utf8(buf: Buffer, start = 0, end = buf.length): string | null {
  return isUtf8(buf.subarray(start, end)) ? buf.toString('utf8', start, end) : null;
}

export function bytesValue(buf: Buffer, start = 0, end = buf.length): Bytes {
  return new Bytes(buf.toString('base64', start, end));
}

/**
 * Adds a field's value: the first one as is, the next ones make an array (a
 * repeated field). A field number is an array index to V8: the message keeps it
 * as an element, which is fast, and lists its keys in ascending order.
 */
export function addField(m: Message, key: number | string, v: TreeValue): void {
  const had = m[key];
  if (had === undefined) m[key] = v;
  else if (Array.isArray(had)) had.push(v);
  else m[key] = [had, v];
}

/**
 * Reads one message (its bytes from `start` to `end`) without a schema. Returns
 * the tree, or why it is not a message.
 */
export function decodeSchemaless(buf: Buffer, start = 0, end = buf.length): Message | MessageFailure {
  const r = new WireReader(buf, start);
  const m = readFields(r, end, 1, 0);
  if (m === null) return r.tooDeep ? 'too_deep' : 'invalid';
  return m;
}

/**
 * Fields up to `end`, or up to the end tag of group `group` (0: not a group).
 * `depth` is this message's nesting level (the top message is 1). Null when the
 * bytes are not a message.
 */
function readFields(r: WireReader, end: number, depth: number, group: number): Message | null {
  // Fields are gathered first and the message built once it parsed: most
  // failed attempts (text tried as a message) end within a few bytes, and
  // their objects would be garbage, with odd field numbers.
  const fields: number[] = [];
  const values: TreeValue[] = [];
  let ended = group === 0;
  while (r.pos < end) {
    if (!r.varint(end) || r.hi !== 0) return null;
    const tag = r.lo;
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_END_GROUP) {
      if (group === 0 || field !== group) return null;
      ended = true;
      break;
    }
    if (field === 0 || field > MAX_FIELD_NUMBER) return null;
    const v = readValue(r, wire, field, end, depth);
    if (v === null) return null;
    fields.push(field);
    values.push(v);
  }
  // A group must end with its end tag, a message with its bytes.
  if (!ended) return null;
  const m: Message = {};
  for (let i = 0; i < fields.length; i++) addField(m, fields[i] as number, values[i] as TreeValue);
  return m;
}

/**
 * One value of wire type `wire` (its tag read) in a message at nesting level
 * `depth`, read without a schema; null when it does not parse. (The typed
 * reader reads the fields its schema does not know with this.)
 */
export function readValue(r: WireReader, wire: number, field: number, end: number, depth: number): TreeValue | null {
  switch (wire) {
    case WIRE_VARINT:
      if (!r.varint(end)) return null;
      return r.hi === 0 ? r.lo : unsigned64(r.lo, r.hi);
    case WIRE_FIXED64:
      if (!r.fixed64(end)) return null;
      return unsigned64(r.lo, r.hi);
    case WIRE_FIXED32:
      if (!r.fixed32(end)) return null;
      return r.lo;
    case WIRE_LEN: {
      const n = r.length(end);
      if (n < 0) return null;
      const at = r.pos;
      r.pos += n;
      return lengthDelimited(r.buf, at, at + n, depth);
    }
    case WIRE_START_GROUP:
      if (depth >= MAX_MESSAGE_DEPTH) {
        r.tooDeep = true;
        return null;
      }
      return readFields(r, end, depth + 1, field);
    default:
      return null;
  }
}

/** A length-delimited value: a nested message when it parses as one, else text, else bytes. */
function lengthDelimited(buf: Buffer, start: number, end: number, depth: number): TreeValue {
  if (start === end) return {};
  if (depth < MAX_MESSAGE_DEPTH) {
    const nested = readFields(new WireReader(buf, start), end, depth + 1, 0);
    if (nested !== null) return nested;
  }
  return printableText(buf, start, end) ?? bytesValue(buf, start, end);
}
