// gRPC answers (DESIGN §5 "gRPC"): the body is a sequence of length-prefixed
// messages (1 byte compressed flag, 4 bytes big-endian length, the message),
// each compressed one undone under the answer's grpc-encoding, bounded as every
// decoded body is (decode.ts). Pure functions, no I/O. Decompression happens
// only in the compare worker: a body with a compressed message is planned for
// decoding (compare.ts planBodies), like a content-encoded one.

import type { MediaType } from './body.js';
import { UNCOUNTED, type ByteBudget } from './budget.js';
import type { Coding, DecodeFailure, DecodeLimits, DecodeOptions } from './decode.js';
import { DEFAULT_MAX_DECODE_RATIO, allowedOutput, inflate } from './decode.js';
import type { Collector } from './differences.js';
import { diffJson, type JsonRules } from './json-diff.js';
import type { TreeValue } from './json-parse.js';
import type { Message, MessageFailure } from './protobuf.js';
import { bytesValue, decodeSchemaless } from './protobuf.js';

/** The 5-byte prefix of each message. */
export const FRAME_HEADER_BYTES = 5;

/**
 * How a gRPC answer's messages are encoded, by its content-type:
 * `application/grpc` and `application/grpc+proto` are protobuf; another
 * `application/grpc+<codec>` is framed the same way in a codec umbra does not
 * read; null when the answer is not gRPC.
 */
export function grpcCodec(mt: MediaType | null): 'proto' | 'other' | null {
  if (mt === null) return null;
  if (mt.type === 'application/grpc' || mt.type === 'application/grpc+proto') return 'proto';
  return mt.type.startsWith('application/grpc+') ? 'other' : null;
}

/** One message as framed: its flag and its bytes (a view on the body, not a copy). */
export interface GrpcFrame {
  readonly compressed: boolean;
  readonly data: Buffer;
}

/**
 * The messages of a body. Null when it is not a whole sequence of frames: a
 * prefix or a message cut short, or a flag byte other than 0 or 1.
 */
export function unframe(body: Buffer): GrpcFrame[] | null {
  const frames: GrpcFrame[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < FRAME_HEADER_BYTES) return null;
    const flag = body[at] as number;
    if (flag > 1) return null;
    const length = body.readUInt32BE(at + 1);
    const start = at + FRAME_HEADER_BYTES;
    if (length > body.length - start) return null;
    frames.push({ compressed: flag === 1, data: body.subarray(start, start + length) });
    at = start + length;
  }
  return frames;
}

/** True when some frame says it is compressed (a quick walk over the prefixes; a broken tail is left to unframe). */
export function hasCompressedFrame(body: Buffer): boolean {
  let at = 0;
  while (body.length - at >= FRAME_HEADER_BYTES) {
    if (body[at] === 1) return true;
    at += FRAME_HEADER_BYTES + body.readUInt32BE(at + 1);
  }
  return false;
}

/** The message compression an answer declares (`grpc-encoding`); absent is identity. */
export type GrpcEncoding = 'identity' | 'gzip' | 'deflate' | 'unknown';

export function grpcEncoding(header: string | string[] | undefined): GrpcEncoding {
  const v = (Array.isArray(header) ? header.join(',') : (header ?? '')).trim().toLowerCase();
  if (v === '' || v === 'identity') return 'identity';
  if (v === 'gzip') return 'gzip';
  if (v === 'deflate') return 'deflate';
  return 'unknown';
}

export type GrpcMessages =
  | {
      readonly ok: true;
      readonly messages: readonly Buffer[];
      /** Bytes counted in the budget for decompressed messages; the caller releases them. */
      readonly reserved: number;
    }
  | { readonly ok: false; readonly reason: DecodeFailure };

/**
 * The messages of a gRPC body, each compressed one decompressed under
 * `grpc-encoding` (gzip, or deflate: zlib-wrapped, raw deflate accepted). All
 * decompressed messages of one body together may be at most maxDecodedBytes,
 * and a message past RATIO_FLOOR_BYTES at most maxDecodeRatio times its
 * compressed size; each is reserved in the budget before zlib writes, as any
 * decoded body is. Never throws: a broken frame, a compressed message under
 * identity or an unknown encoding, or corrupt data is `decode_error`.
 */
export function grpcMessages(body: Buffer, encodingHeader: string | string[] | undefined, opts: DecodeOptions): GrpcMessages {
  const frames = unframe(body);
  if (frames === null) return { ok: false, reason: 'decode_error' };
  const encoding = grpcEncoding(encodingHeader);
  const budget = opts.budget ?? UNCOUNTED;
  const cap = Math.max(0, Math.floor(opts.maxDecodedBytes));
  const ratio = Math.max(0, opts.maxDecodeRatio ?? DEFAULT_MAX_DECODE_RATIO);
  const messages: Buffer[] = [];
  let reserved = 0;
  for (const f of frames) {
    if (!f.compressed) {
      messages.push(f.data);
      continue;
    }
    if (encoding !== 'gzip' && encoding !== 'deflate') {
      budget.release(reserved);
      return { ok: false, reason: 'decode_error' };
    }
    const left = cap - reserved;
    const r = left <= 0 ? ({ ok: false, reason: 'decode_too_large' } as const) : inflate(f.data, encoding satisfies Coding, Math.min(left, allowedOutput(f.data.length, cap, ratio)), budget);
    if (!r.ok) {
      budget.release(reserved);
      return r;
    }
    messages.push(r.body);
    reserved += r.reserved;
  }
  return { ok: true, messages, reserved };
}

// ---- comparing two gRPC bodies ------------------------------------------------

/** One side of a gRPC pair: its body (content codings undone) and how to read it. */
export interface GrpcSide {
  readonly body: Buffer;
  readonly codec: 'proto' | 'other';
  /** The answer's grpc-encoding header. */
  readonly encoding: string | string[] | undefined;
}

/** Reads one protobuf message into a tree; a schema (compare.protos) or none. */
export type MessageReader = (message: Buffer) => Message | MessageFailure;

const schemaless: MessageReader = (m) => decodeSchemaless(m);

/**
 * A body as compared: absent (no message: a trailers-only error), one message's
 * tree as the root, or several as an array. A message that is not protobuf, or
 * of a codec umbra does not read, is its Bytes: against a message it is a
 * `type` difference, against other bytes an exact comparison.
 */
function bodyTree(messages: readonly Buffer[], codec: GrpcSide['codec'], read: MessageReader): { readonly tree: TreeValue | undefined } | 'too_deep' {
  const trees: TreeValue[] = [];
  for (const m of messages) {
    if (codec !== 'proto') {
      trees.push(bytesValue(m));
      continue;
    }
    const tree = read(m);
    if (tree === 'too_deep') return tree;
    trees.push(tree === 'invalid' ? bytesValue(m) : tree);
  }
  return { tree: trees.length === 0 ? undefined : trees.length === 1 ? trees[0] : trees };
}

/**
 * Compares two gRPC bodies: messages unframed and decompressed (under the
 * decode limits and `budget`, held until the comparison is made), read as
 * protobuf by `read`, compared by the structural diff under `rules`. Returns
 * why the pair cannot be compared (decode_error, decode_too_large,
 * decode_too_deep, over_memory), or null when the differences are in `out`.
 */
export function diffGrpcBodies(live: GrpcSide, dark: GrpcSide, rules: JsonRules & DecodeLimits, read: MessageReader | null, budget: ByteBudget, out: Collector): DecodeFailure | null {
  const limits = { maxDecodedBytes: rules.maxDecodedBytes, maxDecodeRatio: rules.maxDecodeRatio ?? DEFAULT_MAX_DECODE_RATIO, budget };
  const l = grpcMessages(live.body, live.encoding, limits);
  if (!l.ok) return l.reason;
  try {
    const d = grpcMessages(dark.body, dark.encoding, limits);
    if (!d.ok) return d.reason;
    try {
      const reader = read ?? schemaless;
      const lb = bodyTree(l.messages, live.codec, reader);
      const db = bodyTree(d.messages, dark.codec, reader);
      if (lb === 'too_deep' || db === 'too_deep') return 'decode_too_deep';
      const lt = lb.tree;
      const dt = db.tree;
      if (lt === undefined && dt === undefined) return null;
      if (lt !== undefined && dt !== undefined) diffJson(lt, dt, rules, out);
      else if (!rules.ignore.matched(rules.ignore.start())) {
        // A message on one side only (the other a trailers-only answer).
        if (lt === undefined) out.add('body', '$', 'added', undefined, dt);
        else out.add('body', '$', 'removed', lt, undefined);
      }
      return null;
    } finally {
      budget.release(d.reserved);
    }
  } finally {
    budget.release(l.reserved);
  }
}
