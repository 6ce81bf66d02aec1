// The few bytes of protobuf and gRPC framing the gRPC demo needs, by hand (no
// runtime dependency for a demo): messages of string and unsigned varint fields
// (wire types 2 and 0), and gRPC's length-prefixed framing (1 byte compressed
// flag, 4 bytes big-endian length, the message). The demo's wire is checked
// against @grpc/grpc-js in test/demo/grpc-wire.test.ts. Frames are read as the
// comparison engine reads them (compare/grpc.ts).
import { FRAME_HEADER_BYTES, unframe as unframeBody } from '../compare/grpc.js';

/** A field value the demo writes: a string (wire type 2) or a non-negative integer (wire type 0). */
export type FieldValue = string | number;

/** A decoded field: varints as numbers, length-delimited fields as their bytes. */
export interface Field {
  readonly no: number;
  readonly value: number | Buffer;
}

function pushVarint(out: number[], n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`a varint must be a non-negative safe integer, not ${n}`);
  let v = n;
  while (v > 0x7f) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/**
 * A protobuf message from fields by number, in that order. As proto3 writes
 * them, a field at its default (0, "") is left out.
 */
export function encodeMessage(fields: ReadonlyArray<readonly [number, FieldValue]>): Buffer {
  const out: number[] = [];
  for (const [no, value] of fields) {
    if (value === 0 || value === '') continue;
    if (typeof value === 'number') {
      pushVarint(out, no * 8);
      pushVarint(out, value);
    } else {
      const bytes = Buffer.from(value, 'utf8');
      pushVarint(out, no * 8 + 2);
      pushVarint(out, bytes.length);
      for (const b of bytes) out.push(b);
    }
  }
  return Buffer.from(out);
}

/** Reads a varint at `at`: its value and the offset after it. */
function readVarint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length && i < at + 8; i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, i + 1];
    scale *= 0x80;
  }
  // Past 7 bytes (2^49) the demo has no such numbers: a longer or unterminated varint is damage.
  throw new RangeError(`bad varint at byte ${at}`);
}

/**
 * The fields of a protobuf message, in wire order. Fixed 64- and 32-bit fields
 * (wire types 1 and 5) are skipped; groups and malformed input throw.
 */
export function decodeMessage(buf: Buffer): Field[] {
  const fields: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [tag, next] = readVarint(buf, at);
    const no = Math.floor(tag / 8);
    const wire = tag % 8;
    at = next;
    if (no === 0) throw new RangeError('field number 0');
    if (wire === 0) {
      const [value, after] = readVarint(buf, at);
      fields.push({ no, value });
      at = after;
    } else if (wire === 2) {
      const [len, start] = readVarint(buf, at);
      if (start + len > buf.length) throw new RangeError(`field ${no} runs past the end of the message`);
      fields.push({ no, value: buf.subarray(start, start + len) });
      at = start + len;
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
      if (at > buf.length) throw new RangeError(`field ${no} runs past the end of the message`);
    } else {
      throw new RangeError(`wire type ${wire} (field ${no}) is not read here`);
    }
  }
  return fields;
}

/** Field `no` as a string ("" when absent, as proto3 reads it; the last one wins). */
export function stringField(fields: readonly Field[], no: number): string {
  const f = fields.findLast((x) => x.no === no);
  if (f === undefined) return '';
  if (typeof f.value === 'number') throw new RangeError(`field ${no} is a varint, not a string`);
  return f.value.toString('utf8');
}

/** Field `no` as a number (0 when absent, as proto3 reads it; the last one wins). */
export function numberField(fields: readonly Field[], no: number): number {
  const f = fields.findLast((x) => x.no === no);
  if (f === undefined) return 0;
  if (typeof f.value !== 'number') throw new RangeError(`field ${no} is length-delimited, not a varint`);
  return f.value;
}

/** One uncompressed gRPC message, length-prefixed. */
export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The messages of a gRPC body (compare's reading of the frames); throws on a cut frame or a compressed message. */
export function unframe(body: Buffer): Buffer[] {
  const frames = unframeBody(body);
  if (frames === null) throw new RangeError('not a whole sequence of gRPC frames (a prefix or a message cut short)');
  if (frames.some((f) => f.compressed)) throw new RangeError('a compressed gRPC message (the demo never asks for compression)');
  return frames.map((f) => f.data);
}

/** grpc-message as sent: percent-encoded outside printable ASCII, and `%` itself (PROTOCOL-HTTP2.md). */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
