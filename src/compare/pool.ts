// A small worker_threads pool for comparisons too big to run on the event loop.
// Small pairs compare inline (a worker round trip costs more than they do);
// big ones queue for a worker. The queue is bounded: over it, compare()
// rejects with CompareBusyError and the caller counts the comparison skipped.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Answer, CompareContext, Verdict } from './types.js';
import type { CompiledRules } from './rules.js';
import type { Job, JobResult, WireAnswer } from './job.js';
import type { NoiseLearner } from './noise.js';
import { compareAnswers } from './compare.js';
import { applyNoise, compareWithBaseline } from './noise.js';
import { CompareBusyError, ComparePoolError } from '../errors.js';

export interface ComparePoolOptions {
  /** Worker threads. Default 1. */
  readonly size?: number;
  /** Jobs waiting for a worker beyond those running. Default 32. */
  readonly maxQueue?: number;
  /** Pairs whose largest body (encoded bodies count 10x) is below this compare inline. Default 64 KiB. */
  readonly inlineBelowBytes?: number;
  /** A job running longer than this ends its worker and rejects. Default 10 s. */
  readonly jobTimeoutMs?: number;
}

export { CompareBusyError, ComparePoolError };

interface Pending {
  job: Job;
  resolve: (r: { primary: Verdict; baseline: Verdict | null }) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  running: Pending | null;
  timer: NodeJS.Timeout | null;
}

/**
 * From dist/ the worker is worker.js next to this file. Under tests, sources run
 * as .ts through a loader (tap's ts-node): then start worker.ts with the same
 * loader flags this process has.
 */
function workerEntry(): { url: URL; execArgv: string[] | undefined } {
  const js = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js, execArgv: undefined };
  return { url: new URL('./worker.ts', import.meta.url), execArgv: process.execArgv };
}

const ENCODED_WEIGHT = 10;

function weight(a: Answer): number {
  const ce = a.headers['content-encoding'];
  const encoded = ce !== undefined && String(ce).trim().toLowerCase() !== 'identity' && String(ce).trim() !== '';
  return a.body.length * (encoded ? ENCODED_WEIGHT : 1);
}

function wire(a: Answer): WireAnswer {
  // Plain copy of headers: node's header objects have a null prototype and may carry symbols.
  const headers: Record<string, string | string[] | undefined> = {};
  for (const k of Object.keys(a.headers)) headers[k] = a.headers[k];
  return { status: a.status, headers, body: a.body, truncated: a.truncated };
}

export class ComparePool {
  readonly size: number;
  /** Changeable on hot reload (limits.compareQueue); applies to the next job. */
  maxQueue: number;
  readonly inlineBelowBytes: number;
  readonly jobTimeoutMs: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(opts: ComparePoolOptions = {}) {
    this.size = Math.max(1, Math.floor(opts.size ?? 1));
    this.maxQueue = Math.max(0, Math.floor(opts.maxQueue ?? 32));
    this.inlineBelowBytes = Math.max(0, opts.inlineBelowBytes ?? 64 * 1024);
    this.jobTimeoutMs = Math.max(1, opts.jobTimeoutMs ?? 10_000);
  }

  /** Jobs running in workers and waiting for one. */
  get stats(): { workers: number; running: number; queued: number } {
    return {
      workers: this.slots.length,
      running: this.slots.filter((s) => s.running !== null).length,
      queued: this.queue.length,
    };
  }

  /** True when this pair would run inline rather than in a worker. */
  isInline(live: Answer, dark: Answer, secondary: Answer | null = null): boolean {
    const w = Math.max(weight(live), weight(dark), secondary === null ? 0 : weight(secondary));
    return w < this.inlineBelowBytes;
  }

  /** compareAnswers, inline or in a worker. Rejects CompareBusyError when the queue is full. */
  async compare(live: Answer, dark: Answer, rules: CompiledRules, ctx: CompareContext): Promise<Verdict> {
    if (this.isInline(live, dark)) return compareAnswers(live, dark, rules, ctx);
    const r = await this.submit(live, dark, null, rules, ctx);
    return r.primary;
  }

  /** compareWithBaseline, inline or in a worker; the learner stays on this thread. */
  async compareWithBaseline(
    live: Answer,
    dark: Answer,
    secondary: Answer | null,
    rules: CompiledRules,
    learner: NoiseLearner,
    ctx: CompareContext,
  ): Promise<Verdict> {
    if (this.isInline(live, dark, secondary)) return compareWithBaseline(live, dark, secondary, rules, learner, ctx);
    const r = await this.submit(live, dark, secondary, rules, ctx);
    return applyNoise(r.primary, r.baseline, learner);
  }

  private submit(
    live: Answer,
    dark: Answer,
    secondary: Answer | null,
    rules: CompiledRules,
    ctx: CompareContext,
  ): Promise<{ primary: Verdict; baseline: Verdict | null }> {
    if (this.closed) return Promise.reject(new ComparePoolError('UMBRA_COMPARE_CLOSED', 'compare pool is closed'));
    const idle = this.slots.some((s) => s.running === null) || this.slots.length < this.size;
    if (!idle && this.queue.length >= this.maxQueue) return Promise.reject(new CompareBusyError());
    const job: Job = {
      id: this.nextId++,
      rules: { id: rules.id, compare: rules.source.compare, maxDecodedBytes: rules.source.maxDecodedBytes },
      live: wire(live),
      dark: wire(dark),
      secondary: secondary === null ? null : wire(secondary),
      ctx: { method: ctx.method },
    };
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.running === null);
      if (slot === undefined) {
        if (this.slots.length >= this.size) return;
        slot = this.spawn();
      }
      const p = this.queue.shift() as Pending;
      this.run(slot, p);
    }
  }

  private spawn(): Slot {
    const { url, execArgv } = workerEntry();
    const worker = new Worker(url, execArgv === undefined ? {} : { execArgv });
    const slot: Slot = { worker, running: null, timer: null };
    worker.on('message', (msg: JobResult) => this.finish(slot, msg));
    worker.on('error', (err) => this.fail(slot, new ComparePoolError('UMBRA_COMPARE_WORKER', `compare worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => this.fail(slot, new ComparePoolError('UMBRA_COMPARE_WORKER', `compare worker exited with code ${code}`)));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private run(slot: Slot, p: Pending): void {
    slot.running = p;
    // A busy worker keeps the process alive; an idle one does not.
    slot.worker.ref();
    slot.timer = setTimeout(() => {
      this.fail(slot, new ComparePoolError('UMBRA_COMPARE_TIMEOUT', `compare job took over ${this.jobTimeoutMs} ms`));
    }, this.jobTimeoutMs);
    slot.timer.unref();
    slot.worker.postMessage(p.job);
  }

  private release(slot: Slot): Pending | null {
    const p = slot.running;
    slot.running = null;
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
    slot.worker.unref();
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

  /** The worker is gone or stuck: fail its job, drop it, and let the next job spawn a fresh one. */
  private fail(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    const p = this.release(slot);
    void slot.worker.terminate();
    p?.reject(err);
    if (!this.closed) this.dispatch();
  }

  /** Rejects waiting jobs, ends the workers. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const err = new ComparePoolError('UMBRA_COMPARE_CLOSED', 'compare pool closed');
    for (const p of this.queue.splice(0)) p.reject(err);
    const slots = this.slots.splice(0);
    for (const s of slots) this.release(s)?.reject(err);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
