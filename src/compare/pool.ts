// A small worker_threads pool: decoding and comparisons too big for the event
// loop run here. A pair compares inline only when no body needs decoding and
// the bodies to diff are small (a worker round trip costs more than they do);
// everything else queues for a worker. The queue is bounded: over it, compare()
// rejects with CompareBusyError and the caller counts the comparison skipped.
//
// Bodies cross to a worker by transfer: each is copied once into a buffer of
// its own (never one the live stream may still be writing), counted in the
// shared memory budget until the job ends, and moved, not cloned.

import { Worker } from 'node:worker_threads';
import { workerEntry } from './worker-entry.js';
import type { Answer, CompareContext, Verdict } from './types.js';
import type { CompiledRules } from './rules.js';
import { RulesAccount, WORKER_READY } from './job.js';
import type { Job, JobResult, WireAnswer } from './job.js';
import type { NoiseLearner } from './noise.js';
import { MAX_BUDGET_BYTES, MemoryBudget } from './budget.js';
import { compareInline, type PairVerdicts } from './compare.js';
import { applyNoise } from './noise.js';
import { CompareBusyError, ComparePoolError, type EngineSkipReason } from '../errors.js';

export interface ComparePoolOptions {
  /** Worker threads. Default 1. */
  readonly size?: number;
  /** Jobs waiting for a worker beyond those running. Default 32. */
  readonly maxQueue?: number;
  /** Plain pairs whose bodies are both below this compare inline. Default 64 KiB. */
  readonly inlineBelowBytes?: number;
  /** A job running longer than this ends its worker and rejects. Default 10 s. */
  readonly jobTimeoutMs?: number;
  /** Where copies handed to workers and decoded bodies are counted. Default: a budget of its own, 1 GiB. */
  readonly budget?: MemoryBudget;
  /** Heap cap of each worker (MiB, limits.compareHeap): a job that needs more ends its worker and fails (UMBRA_COMPARE_HEAP). Default 96. */
  readonly workerHeapMb?: number;
}

export { CompareBusyError, ComparePoolError };

/** Why the engine could not take a pair, from the error compare() rejected with. */
export function engineSkipReason(err: unknown): EngineSkipReason {
  const code = (err as { code?: string } | null)?.code;
  if (code === 'UMBRA_COMPARE_BUSY') return 'busy';
  if (code === 'UMBRA_COMPARE_OVER_MEMORY') return 'over_memory';
  if (code === 'UMBRA_COMPARE_HEAP') return 'compare_heap';
  return 'compare_error';
}

interface Pending {
  job: Job;
  /** Bytes of the job's own body copies, counted in the budget until it ends. */
  reserved: number;
  transfer: ArrayBuffer[];
  resolve: (r: PairVerdicts) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  /** This worker's cell in the shared budget. */
  index: number;
  running: Pending | null;
  timer: NodeJS.Timeout | null;
  /** Its modules are loaded: a job's time starts counting only then. */
  ready: boolean;
  /** The rules this worker has compiled: their source is sent once. */
  readonly rules: RulesAccount;
}

/**
 * limits.compareHeap advised per byte of the largest body compared (the defaults:
 * 96 MiB for 8 MiB): room for both bodies' text and what parsing them usually
 * makes. umbra warns at start and on reload when the cap is lower (app.ts).
 */
export const COMPARE_HEAP_PER_BODY = 12;

/** How long a new worker may take to load its modules before its job fails. */
const BOOT_TIMEOUT_MS = 60_000;


/** A plain copy: node's header and trailer objects have a null prototype and may carry symbols. */
function plain(h: Answer['headers']): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const k of Object.keys(h)) out[k] = h[k];
  return out;
}

/**
 * `a` ready to cross to a worker: its body moved as it is when umbra owns it
 * outright (a joined copy), else copied once into a buffer of its own. Either
 * way the caller must not read `a.body` afterwards.
 */
function wire(a: Answer, transfer: ArrayBuffer[]): WireAnswer {
  const headers = plain(a.headers);
  let body: Uint8Array = new Uint8Array(0);
  if (a.owned === true && a.body.byteOffset === 0 && a.body.byteLength === a.body.buffer.byteLength && !transfer.includes(a.body.buffer as ArrayBuffer)) {
    body = a.body;
    transfer.push(body.buffer as ArrayBuffer);
  } else if (a.body.length > 0) {
    body = Buffer.allocUnsafeSlow(a.body.length);
    a.body.copy(body);
    transfer.push(body.buffer as ArrayBuffer);
  }
  const out: WireAnswer = { status: a.status, headers, body, truncated: a.truncated };
  if (a.trailers !== undefined) out.trailers = plain(a.trailers);
  return out;
}

/** Extra cells for slots whose worker is still being stopped when its replacement starts. */
const SPARE_SLOTS = 2;

export class ComparePool {
  readonly size: number;
  /** Changeable on hot reload (limits.compareQueue); applies to the next job. */
  maxQueue: number;
  readonly inlineBelowBytes: number;
  /** Applies to the next job. */
  jobTimeoutMs: number;
  readonly budget: MemoryBudget;
  /** Changeable on hot reload (limits.compareHeap); applies to workers started afterwards. */
  workerHeapMb: number;
  private readonly slots: Slot[] = [];
  /** Budget cells free for a new worker (a stopped worker's cell is drained first). */
  private readonly freeCells: number[];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(opts: ComparePoolOptions = {}) {
    this.size = Math.max(1, Math.floor(opts.size ?? 1));
    this.maxQueue = Math.max(0, Math.floor(opts.maxQueue ?? 32));
    this.inlineBelowBytes = Math.max(0, opts.inlineBelowBytes ?? 64 * 1024);
    this.jobTimeoutMs = Math.max(1, opts.jobTimeoutMs ?? 10_000);
    this.workerHeapMb = Math.max(16, Math.floor(opts.workerHeapMb ?? 96));
    this.budget = opts.budget ?? new MemoryBudget(MAX_BUDGET_BYTES, this.size + SPARE_SLOTS);
    this.freeCells = Array.from({ length: Math.min(this.budget.slots, this.size + SPARE_SLOTS) }, (_, i) => i);
  }

  /** Jobs running in workers and waiting for one. */
  get stats(): { workers: number; running: number; queued: number } {
    return {
      workers: this.slots.length,
      running: this.slots.filter((s) => s.running !== null).length,
      queued: this.queue.length,
    };
  }

  /**
   * Starts the workers now rather than at the first job that needs one: their
   * start-up (and their memory) is paid before traffic, not on it. Idempotent.
   */
  warm(): void {
    while (!this.closed && this.slots.length < this.size && this.freeCells.length > 0) this.spawn(this.freeCells.shift() as number);
  }

  /** compareAnswers, inline or in a worker. Rejects CompareBusyError when the queue is full. */
  async compare(live: Answer, dark: Answer, rules: CompiledRules, ctx: CompareContext): Promise<Verdict> {
    const inline = compareInline(live, dark, null, rules, ctx, this.inlineBelowBytes);
    if (inline !== null) return inline.primary;
    return (await this.submit(live, dark, null, rules, ctx)).primary;
  }

  /**
   * compareWithBaseline, inline or in a worker; the learner stays on this
   * thread. Inline work is done before this returns: the caller may let go of
   * the answers' bodies at once (a worker has its own copies).
   */
  compareWithBaseline(
    live: Answer,
    dark: Answer,
    secondary: Answer | null,
    rules: CompiledRules,
    learner: NoiseLearner,
    ctx: CompareContext,
  ): Promise<Verdict> {
    const inline = this.compareHere(live, dark, secondary, rules, learner, ctx);
    if (inline !== null) return Promise.resolve(inline);
    return this.submit(live, dark, secondary, rules, ctx).then((r) => applyNoise(r.primary, r.baseline, learner));
  }

  /**
   * compareWithBaseline's verdict when it can be made on this thread (nothing
   * to decode, bodies under the inline bound), or null when the pair belongs in
   * a worker: the mirror's path for most pairs, with no promise in between.
   */
  compareHere(live: Answer, dark: Answer, secondary: Answer | null, rules: CompiledRules, learner: NoiseLearner, ctx: CompareContext): Verdict | null {
    const inline = compareInline(live, dark, secondary, rules, ctx, this.inlineBelowBytes);
    return inline === null ? null : applyNoise(inline.primary, inline.baseline, learner);
  }

  private submit(live: Answer, dark: Answer, secondary: Answer | null, rules: CompiledRules, ctx: CompareContext): Promise<PairVerdicts> {
    if (this.closed) return Promise.reject(new ComparePoolError('UMBRA_COMPARE_CLOSED', 'compare pool is closed'));
    const idle = this.slots.some((s) => s.running === null) || this.slots.length < this.size;
    if (!idle && this.queue.length >= this.maxQueue) return Promise.reject(new CompareBusyError());
    const reserved = live.body.length + dark.body.length + (secondary?.body.length ?? 0);
    if (!this.budget.tryReserve(reserved)) {
      return Promise.reject(new ComparePoolError('UMBRA_COMPARE_OVER_MEMORY', 'memory budget full: no room to hand the bodies to a worker'));
    }
    const transfer: ArrayBuffer[] = [];
    const job: Job = {
      id: this.nextId++,
      rules: { id: rules.id, compare: rules.source.compare, decode: rules.source.decode },
      live: wire(live, transfer),
      dark: wire(dark, transfer),
      secondary: secondary === null ? null : wire(secondary, transfer),
      ctx: ctx.path === undefined ? { method: ctx.method } : { method: ctx.method, path: ctx.path },
    };
    return new Promise((resolve, reject) => {
      this.queue.push({ job, reserved, transfer, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.running === null);
      if (slot === undefined) {
        if (this.slots.length >= this.size || this.freeCells.length === 0) return;
        slot = this.spawn(this.freeCells.shift() as number);
      }
      const p = this.queue.shift() as Pending;
      this.run(slot, p);
    }
  }

  private spawn(index: number): Slot {
    const { url, execArgv } = workerEntry(import.meta.url, 'worker');
    const worker = new Worker(url, {
      ...(execArgv === undefined ? {} : { execArgv }),
      workerData: { budget: this.budget.shared, slot: index },
      resourceLimits: { maxOldGenerationSizeMb: Math.max(16, Math.floor(this.workerHeapMb)), maxYoungGenerationSizeMb: 4 },
    });
    const slot: Slot = { worker, index, running: null, timer: null, ready: false, rules: new RulesAccount() };
    worker.on('message', (msg: JobResult | typeof WORKER_READY) => {
      if (msg !== WORKER_READY) this.finish(slot, msg);
      else {
        slot.ready = true;
        if (slot.running !== null) this.startTimer(slot);
      }
    });
    worker.on('error', (err) => {
      const heap = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.fail(
        slot,
        heap
          ? new ComparePoolError('UMBRA_COMPARE_HEAP', `compare worker ran out of its ${this.workerHeapMb} MiB heap (limits.compareHeap)`, { cause: err })
          : new ComparePoolError('UMBRA_COMPARE_WORKER', `compare worker failed: ${err.message}`, { cause: err }),
      );
    });
    worker.on('exit', (code) => this.fail(slot, new ComparePoolError('UMBRA_COMPARE_WORKER', `compare worker exited with code ${code}`)));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private run(slot: Slot, p: Pending): void {
    slot.running = p;
    // A busy worker keeps the process alive; an idle one does not.
    slot.worker.ref();
    const { rules } = p.job;
    const job: Job = slot.rules.has(rules.id) ? { ...p.job, rules: { id: rules.id, decode: rules.decode } } : p.job;
    slot.worker.postMessage(job, p.transfer);
    this.startTimer(slot);
  }

  /**
   * The job's time limit, counted once the worker is ready: loading a fresh
   * worker's modules (slow on a starved CPU, or under a TypeScript loader in
   * tests) has its own, longer limit.
   */
  private startTimer(slot: Slot): void {
    if (slot.timer !== null) clearTimeout(slot.timer);
    const ms = slot.ready ? this.jobTimeoutMs : Math.max(this.jobTimeoutMs, BOOT_TIMEOUT_MS);
    slot.timer = setTimeout(() => {
      const what = slot.ready ? `compare job took over ${ms} ms` : `compare worker did not start within ${ms} ms`;
      this.fail(slot, new ComparePoolError('UMBRA_COMPARE_TIMEOUT', what));
    }, ms);
    slot.timer.unref();
  }

  private release(slot: Slot): Pending | null {
    const p = slot.running;
    slot.running = null;
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
    slot.worker.unref();
    if (p !== null) this.budget.release(p.reserved);
    return p;
  }

  private finish(slot: Slot, msg: JobResult): void {
    if (slot.running?.job.id !== msg.id) return;
    const p = this.release(slot);
    if (p !== null) {
      if (msg.ok) p.resolve({ primary: msg.primary, baseline: msg.baseline });
      else p.reject(new ComparePoolError('UMBRA_COMPARE_WORKER', `compare failed in worker: ${msg.error}`));
    }
    this.dispatch();
  }

  /** The worker is gone or stuck: fail its job, stop it, give back what it held, and let the next job spawn a fresh one. */
  private fail(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    const p = this.release(slot);
    void slot.worker.terminate().then(() => {
      this.budget.drainSlot(slot.index);
      this.freeCells.push(slot.index);
      if (!this.closed) this.dispatch();
    });
    p?.reject(err);
  }

  /** Rejects waiting jobs, ends the workers. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const err = new ComparePoolError('UMBRA_COMPARE_CLOSED', 'compare pool closed');
    for (const p of this.queue.splice(0)) {
      this.budget.release(p.reserved);
      p.reject(err);
    }
    const slots = this.slots.splice(0);
    for (const s of slots) this.release(s)?.reject(err);
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const s of slots) this.budget.drainSlot(s.index);
  }
}
