// Shapes shared by the comparison engine, its worker and its callers.
import type { EngineSkipReason } from '../errors.js';
import type { SampleValue } from './sample-value.js';

export interface Answer {
  status: number;
  /** Lower-case names, as node's IncomingHttpHeaders. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Captured bytes, still content-encoded as received. */
  body: Buffer;
  /**
   * Trailers (lower-case names), when the answer had any: gRPC's grpc-status and
   * grpc-message arrive here. Compared like headers, as `trailer:<name>`.
   */
  trailers?: Readonly<Record<string, string | string[] | undefined>>;
  /** true = the body was over maxBodyBytes and capture stopped. */
  truncated: boolean;
  /**
   * `body` is a buffer umbra allocated for this answer alone (the whole of its
   * ArrayBuffer, referenced nowhere else): the pool may move it to a worker
   * instead of copying it. Never set for bytes the live stream may still write.
   */
  owned?: boolean;
}

export type Part = 'status' | 'header' | 'trailer' | 'body';
export type Kind = 'changed' | 'added' | 'removed' | 'type' | 'order';

/** One occurrence's values; a side without a value (`added`: live, `removed`: dark) is left out. */
export interface Example {
  live?: SampleValue;
  dark?: SampleValue;
}

/**
 * One difference: a (part, field, kind) found once or more in a comparison.
 * `added` = only dark has it, `removed` = only live has it. Values are sample
 * values (sample-value.ts): bounded, never a whole body.
 */
export interface Difference {
  part: Part;
  field: string;
  kind: Kind;
  /** The first occurrence's values. */
  live?: SampleValue;
  dark?: SampleValue;
  /** Occurrences in this comparison, when more than one (e.g. 3 changed `$.items[*].price`). */
  count?: number;
  /** With `count`: the first occurrences (at most MAX_EXAMPLES), the first being live/dark. */
  examples?: Example[];
}

/** Why the engine did not compare a pair (one closed set, in errors.ts). */
export type SkipReason = EngineSkipReason;

export interface Verdict {
  result: 'match' | 'mismatch' | 'noise' | 'skipped';
  /** Only for `skipped`. */
  reason?: SkipReason;
  /** The real (non-noise) differences. */
  differences: Difference[];
  /** Differences classified as noise. */
  noise: Difference[];
}

export interface CompareContext {
  /** Request method, upper case. HEAD bodies are not compared. */
  method: string;
  /**
   * The request's path (a query string is ignored). For a gRPC call it is
   * `/package.Service/Method`, which names the answer's message type in
   * `compare.protos`; without it (or for a method the protos do not know) gRPC
   * messages are compared by field number.
   */
  path?: string;
}
