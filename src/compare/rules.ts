// Per-route comparison rules, compiled once at start-up (and on reload).

import { DEFAULT_MAX_DECODE_RATIO, type DecodeLimits } from './decode.js';
import type { CompareConfig } from '../config/types.js';
import { InternalError } from '../errors.js';
import { HOP_BY_HOP } from '../http/headers.js';
import { PathSet } from './paths.js';
import type { MessageReader } from './grpc.js';
import { protoIndex } from './protos.js';

/** Headers that differ by nature between two healthy backends (DESIGN §5). */
export const BUILT_IN_IGNORED_HEADERS: readonly string[] = Object.freeze([
  'date',
  'server',
  'age',
  'etag',
  'last-modified',
  'expires',
  'content-length',
  'transfer-encoding',
  'content-encoding',
  'connection',
  'keep-alive',
  'via',
  'x-powered-by',
  'set-cookie',
  'x-request-id',
]);

/**
 * gRPC's message codings, not compared for the reason content-encoding is not:
 * messages are compared decompressed, so gzip against plain is no difference.
 */
export const GRPC_CODING_HEADERS: readonly string[] = Object.freeze(['grpc-encoding', 'grpc-accept-encoding']);

/**
 * gRPC's status trailers. A trailers-only answer (an error with no message) sends
 * them as headers; wherever they arrive they are compared as trailers
 * (`trailer:grpc-status`), so such an answer and a normal one compare field by field.
 */
export const GRPC_STATUS_TRAILERS: readonly string[] = Object.freeze(['grpc-status', 'grpc-message', 'grpc-status-details-bin']);

/** Trailers no ignore list hides: like the status code, the call's outcome is always compared. */
export const ALWAYS_COMPARED_TRAILERS: readonly string[] = Object.freeze(['grpc-status', 'grpc-message']);

export interface CompiledRules {
  /** What the rules were compiled from: the worker recompiles from this. */
  readonly source: { readonly compare: CompareConfig; readonly decode: Required<DecodeLimits> };
  /** Unique per compilation, so the worker can cache its own copy. */
  readonly id: number;
  /** Header names not compared as headers (the gRPC status trailers among them: they are compared as trailers). */
  readonly ignoredHeaders: ReadonlySet<string>;
  /** Trailer names not compared: the same lists as headers, less ALWAYS_COMPARED_TRAILERS. */
  readonly ignoredTrailers: ReadonlySet<string>;
  readonly ignore: PathSet;
  readonly unordered: PathSet;
  readonly tolerance: number;
  /** `compare.keyed` array paths; the member of pattern i is keyedMembers[i]. */
  readonly keyed: PathSet;
  readonly keyedMembers: readonly string[];
  readonly allowAdded: PathSet;
  /** `compare.tolerances` paths; the tolerance of pattern i is fieldTolerances[i]. */
  readonly tolerances: PathSet;
  readonly fieldTolerances: readonly { readonly absolute: number; readonly relative: number }[];
  readonly maxDecodedBytes: number;
  /** 0 = no ratio limit. */
  readonly maxDecodeRatio: number;
  /**
   * How a gRPC answer's messages are read for the call at `path`
   * (`/pkg.Service/Method`): by its output type in compare.protos, or null
   * (by field number, without a schema).
   */
  messageReader(path: string | undefined): MessageReader | null;
  /** compare.protos declares the call at `path` as streaming (client, server or both): it is never mirrored. */
  isStreaming(path: string): boolean;
}

let nextId = 1;

/**
 * Compiles a route's compare config. Throws PathSyntaxError on a bad field path
 * (config validation should have caught it; this names the path).
 */
export function compileRules(compare: CompareConfig, opts: DecodeLimits): CompiledRules {
  const decode = { maxDecodedBytes: opts.maxDecodedBytes, maxDecodeRatio: opts.maxDecodeRatio ?? DEFAULT_MAX_DECODE_RATIO };
  const ignoredHeaders = new Set<string>([...BUILT_IN_IGNORED_HEADERS, ...HOP_BY_HOP, ...GRPC_CODING_HEADERS]);
  for (const h of compare.ignoreHeaders) ignoredHeaders.add(h.trim().toLowerCase());
  const ignoredTrailers = new Set(ignoredHeaders);
  for (const h of ALWAYS_COMPARED_TRAILERS) ignoredTrailers.delete(h);
  for (const h of GRPC_STATUS_TRAILERS) ignoredHeaders.add(h);
  if (!(compare.tolerance >= 0)) throw new InternalError(`compare.tolerance must be >= 0, got ${compare.tolerance}`);
  for (const x of compare.tolerances) {
    if (!(x.absolute >= 0 && x.relative >= 0)) throw new InternalError(`compare.tolerances["${x.path}"] must be >= 0`);
  }
  const protos = compare.protos === undefined ? null : protoIndex(compare.protos);
  return Object.freeze({
    source: Object.freeze({ compare, decode: Object.freeze(decode) }),
    id: nextId++,
    ignoredHeaders,
    ignoredTrailers,
    ignore: new PathSet(compare.ignore),
    unordered: new PathSet(compare.unordered),
    tolerance: compare.tolerance,
    keyed: new PathSet(compare.keyed.map((k) => k.path)),
    keyedMembers: Object.freeze(compare.keyed.map((k) => k.member)),
    allowAdded: new PathSet(compare.allowAdded),
    tolerances: new PathSet(compare.tolerances.map((x) => x.path)),
    fieldTolerances: Object.freeze(compare.tolerances.map((x) => Object.freeze({ absolute: x.absolute, relative: x.relative }))),
    maxDecodedBytes: decode.maxDecodedBytes,
    maxDecodeRatio: decode.maxDecodeRatio,
    messageReader: protos === null ? () => null : (path: string | undefined) => protos.readerFor(path),
    isStreaming: protos === null ? () => false : (path: string) => protos.isStreaming(path),
  });
}
