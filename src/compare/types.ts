// Shapes shared by the comparison engine, its worker and its callers.
import type { EngineSkipReason } from '../errors.js';

export interface Answer {
  status: number;
  /** Lower-case names, as node's IncomingHttpHeaders. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Captured bytes, still content-encoded as received. */
  body: Buffer;
  /** true = the body was over maxBodyBytes and capture stopped. */
  truncated: boolean;
  /**
   * `body` is a buffer umbra allocated for this answer alone (the whole of its
   * ArrayBuffer, referenced nowhere else): the pool may move it to a worker
   * instead of copying it. Never set for bytes the live stream may still write.
   */
  owned?: boolean;
}

export type Part = 'status' | 'header' | 'body';
export type Kind = 'changed' | 'added' | 'removed' | 'type' | 'order';

/**
 * One difference. `added` = only dark has it, `removed` = only live has it.
 * `live`/`dark` are bounded summaries, never a whole body.
 */
export interface Difference {
  part: Part;
  field: string;
  kind: Kind;
  live?: unknown;
  dark?: unknown;
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
}
