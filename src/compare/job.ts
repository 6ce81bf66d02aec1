// A compare job as it crosses to a worker, and how a worker runs it. Kept apart
// from worker.ts so importing these types never attaches a message listener.
// Rules are recompiled in the worker from their source and cached by the main
// thread's rules id.

import type { CompareConfig } from '../config/types.js';
import type { Answer, CompareContext, Verdict } from './types.js';
import type { CompiledRules } from './rules.js';
import { compileRules } from './rules.js';
import type { ByteBudget } from './budget.js';
import type { DecodeLimits } from './decode.js';
import { compareBoth } from './compare.js';

export interface WireAnswer {
  status: number;
  headers: Answer['headers'];
  /** A view on a buffer of its own, transferred (not copied) to the worker. */
  body: Uint8Array;
  trailers?: Answer['trailers'];
  truncated: boolean;
}

export interface Job {
  id: number;
  /**
   * The rules by id, with what they were compiled from; `compare` is left out
   * when this worker already has them (the pool keeps the same account of each
   * worker's cache): .proto descriptors can be tens of KiB, cloned for nothing
   * on every job.
   */
  rules: { id: number; compare?: CompareConfig; decode: Required<DecodeLimits> };
  live: WireAnswer;
  dark: WireAnswer;
  secondary: WireAnswer | null;
  ctx: CompareContext;
}

export type JobResult =
  | { id: number; ok: true; primary: Verdict; baseline: Verdict | null }
  | { id: number; ok: false; error: string };

/** What a worker posts once its modules are loaded, before any result. */
export const WORKER_READY = 'ready';

/** Rules a worker keeps compiled, the oldest first out (RulesAccount mirrors it). */
export const MAX_CACHED_RULES = 64;
const cache = new Map<number, CompiledRules>();

function rulesFor(r: Job['rules']): CompiledRules {
  let compiled = cache.get(r.id);
  if (compiled === undefined) {
    if (r.compare === undefined) throw new Error(`rules ${r.id} were not sent to this worker`);
    compiled = compileRules(r.compare, r.decode);
    if (cache.size >= MAX_CACHED_RULES) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    cache.set(r.id, compiled);
  }
  return compiled;
}

/**
 * The pool's account of the rules one worker has compiled: the same ids the
 * worker's cache holds, as it adds (on a job that carries the source) and
 * evicts (the oldest, past MAX_CACHED_RULES).
 */
export class RulesAccount {
  private readonly ids = new Set<number>();

  /** True when the worker has rules `id`; otherwise notes that the next job carries them. */
  has(id: number): boolean {
    if (this.ids.has(id)) return true;
    if (this.ids.size >= MAX_CACHED_RULES) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    this.ids.add(id);
    return false;
  }
}

function toAnswer(w: WireAnswer): Answer {
  const a: Answer = {
    status: w.status,
    headers: w.headers,
    body: Buffer.from(w.body.buffer, w.body.byteOffset, w.body.byteLength),
    truncated: w.truncated,
  };
  if (w.trailers !== undefined) a.trailers = w.trailers;
  return a;
}

/** Runs one job; decoded bodies count in `budget` (the shared one, as this worker's slot). */
export function runJob(job: Job, budget: ByteBudget): JobResult {
  try {
    const rules = rulesFor(job.rules);
    const r = compareBoth(toAnswer(job.live), toAnswer(job.dark), job.secondary === null ? null : toAnswer(job.secondary), rules, job.ctx, budget);
    return { id: job.id, ok: true, primary: r.primary, baseline: r.baseline };
  } catch (err) {
    return { id: job.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
