// The capture writer (DESIGN §10): captured exchanges go into a bounded queue
// and from there, a batch at a time, to one worker thread of its own that
// redacts, serialises and writes them (capture-worker.ts). The live path only
// ever pushes onto the queue: a full queue, a full memory budget, a failing
// disk or a dead worker drop records and count them
// (umbra_capture_records_total{result="dropped"}), with a rate-capped warn line.
//
// Every body in the queue or in the worker counts against the shared memory
// budget (DESIGN §2.8) until the worker says its batch is done: the caller
// reserved those bytes and hands the reservation over with the record.
import { Worker } from 'node:worker_threads';
import type { CaptureConfig, RedactConfig } from '../config/types.js';
import type { CaptureFilesOptions } from './capture-files.js';
import type { CaptureInput } from './capture-record.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { workerEntry } from '../compare/index.js';

export type { CaptureInput } from './capture-record.js';

/** Why a record was not written (for the warn line; the metric has only written|dropped). */
export type CaptureDrop = 'too_large' | 'over_memory' | 'queue_full' | 'write_error' | 'over_total' | 'worker_failed' | 'closed';

/** What the writer lets go of once a record is written or dropped (a mirror/copy.ts Reservation). */
export interface HeldBytes {
  releaseAll(): void;
}

export interface CaptureWorkerData {
  readonly files: CaptureFilesOptions;
  readonly redact: RedactConfig;
}

export type ToWorker = { readonly kind: 'batch'; readonly id: number; readonly records: readonly CaptureInput[] } | { readonly kind: 'close' };

export interface FromWorker {
  readonly id: number;
  readonly written: number;
  readonly failed: number;
  readonly tooLarge: number;
  readonly error: string | null;
}

export interface CaptureWriterOptions {
  readonly config: CaptureConfig;
  readonly redact: RedactConfig;
  readonly metrics: Pick<Metrics, 'captureRecords'>;
  readonly log: Logger;
  /** Records waiting for the worker beyond the batch it has; more are dropped. Default 1000. */
  readonly maxQueued?: number;
  /** ms after a write error (or a worker failure) before trying again. Default 1000. */
  readonly retryMs?: number;
  /** ms between two warn lines about dropped records. Default 10 000. */
  readonly logEveryMs?: number;
}

/** The worker's heap (MiB): room to parse and redact two bodies of capture.maxBodyBytes. */
const WORKER_HEAP_MB = 96;

interface Queued {
  readonly record: CaptureInput;
  readonly held: HeldBytes;
}

/** Buffers whose memory can move to the worker (never one shared with anything else: the caller's contract). */
function transferable(record: CaptureInput, out: ArrayBuffer[]): void {
  for (const b of [record.requestBody, record.liveBody]) {
    const buf = b.buffer;
    if (b.byteLength > 0 && b.byteOffset === 0 && b.byteLength === buf.byteLength && buf instanceof ArrayBuffer && !out.includes(buf)) out.push(buf);
  }
}

export class CaptureWriter {
  readonly config: CaptureConfig;
  readonly redact: RedactConfig;
  private readonly maxQueued: number;
  private readonly retryMs: number;
  private readonly logEveryMs: number;
  private queue: Queued[] = [];
  private batch: { readonly id: number; readonly items: readonly Queued[] } | null = null;
  private nextId = 1;
  private worker: Worker | null = null;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  private exitWaiters: (() => void)[] = [];
  private dropped: Partial<Record<CaptureDrop, number>> = {};
  private lastError: string | null = null;
  private nextLogAt = 0;

  constructor(private readonly opts: CaptureWriterOptions) {
    this.config = opts.config;
    this.redact = opts.redact;
    this.maxQueued = Math.max(1, Math.floor(opts.maxQueued ?? 1000));
    this.retryMs = Math.max(1, opts.retryMs ?? 1000);
    this.logEveryMs = Math.max(0, opts.logEveryMs ?? 10_000);
    // Started now, not at the first record: its start-up is paid before traffic.
    this.spawn();
  }

  /** Records waiting for the worker (not counting the batch it has). */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Queue one exchange. Its bodies must be buffers umbra owns outright (they are
   * moved to the worker); `held` is released once the record is written or dropped.
   */
  submit(record: CaptureInput, held: HeldBytes): void {
    if (this.closing) {
      held.releaseAll();
      this.drop('closed');
      return;
    }
    if (this.queue.length >= this.maxQueued) {
      held.releaseAll();
      this.drop('queue_full');
      return;
    }
    this.queue.push({ record, held });
    this.pump();
  }

  /** Count records not written (the caller already let go of their bytes). */
  drop(reason: CaptureDrop, n = 1, error: string | null = null): void {
    if (n <= 0) return;
    this.opts.metrics.captureRecords.inc({ result: 'dropped' }, n);
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
    if (error !== null) this.lastError = error;
    const now = performance.now();
    if (now >= this.nextLogAt) this.logDrops(now);
  }

  /** Write what is queued (waiting at most `waitMs`), then close the file and end the worker. Idempotent. */
  async close(waitMs: number): Promise<void> {
    this.closing = true;
    const deadline = performance.now() + waitMs;
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    // A worker that failed may be due for a retry: the queue gets one more chance.
    if (this.batch === null && this.queue.length > 0 && this.worker === null) this.spawn();
    let timer: NodeJS.Timeout | undefined;
    const within = (p: Promise<void>, ms: number): Promise<void> =>
      Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, ms))))]).finally(() => clearTimeout(timer));
    await within(new Promise<void>((r) => (this.isIdle ? r() : this.idleWaiters.push(r))), waitMs);
    for (const q of this.queue.splice(0)) {
      q.held.releaseAll();
      this.drop('closed');
    }
    const worker = this.worker;
    if (worker !== null) {
      const exited = new Promise<void>((r) => this.exitWaiters.push(r));
      worker.postMessage({ kind: 'close' } satisfies ToWorker);
      await within(exited, Math.max(200, deadline - performance.now()));
      if (this.worker === worker) await worker.terminate();
    }
    if (Object.keys(this.dropped).length > 0) this.logDrops(performance.now());
  }

  private get isIdle(): boolean {
    return this.batch === null && (this.queue.length === 0 || this.worker === null);
  }

  /** Hand the queue to the worker as one batch when it has none. */
  private pump(): void {
    if (this.batch !== null || this.queue.length === 0) return;
    if (this.worker === null) {
      const wait = this.retryAt - performance.now();
      if (wait > 0) {
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = null;
          this.pump();
        }, wait).unref();
        return;
      }
      this.spawn();
    }
    const items = this.queue;
    this.queue = [];
    const transfer: ArrayBuffer[] = [];
    const records = items.map((q) => {
      transferable(q.record, transfer);
      return q.record;
    });
    const batch = { id: this.nextId++, items };
    this.batch = batch;
    const worker = this.worker as Worker;
    // A worker with work keeps the process alive; an idle one does not.
    worker.ref();
    worker.postMessage({ kind: 'batch', id: batch.id, records } satisfies ToWorker, transfer);
  }

  private spawn(): void {
    const { url, execArgv } = workerEntry(import.meta.url, 'capture-worker');
    const { config } = this;
    const workerData: CaptureWorkerData = {
      files: { dir: config.dir, maxFileBytes: config.maxFileBytes, maxTotalBytes: config.maxTotalBytes, gzip: config.gzip, retryMs: this.retryMs },
      redact: { headers: [...this.redact.headers], fields: [...this.redact.fields] },
    };
    const worker = new Worker(url, {
      ...(execArgv === undefined ? {} : { execArgv }),
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 8 },
    });
    worker.on('message', (msg: FromWorker) => this.finished(msg));
    worker.on('error', (err) => {
      this.lastError = (err as { code?: string }).code ?? err.message;
    });
    worker.on('exit', () => this.gone(worker));
    worker.unref();
    this.worker = worker;
  }

  private finished(msg: FromWorker): void {
    const batch = this.batch;
    if (batch === null || batch.id !== msg.id) return;
    this.batch = null;
    this.worker?.unref();
    for (const q of batch.items) q.held.releaseAll();
    if (msg.written > 0) this.opts.metrics.captureRecords.inc({ result: 'written' }, msg.written);
    this.drop('write_error', msg.failed, msg.error);
    this.drop('over_total', msg.tooLarge);
    this.settled();
  }

  /** The worker ended: asked to (close), or it failed (its batch is lost; a new one is tried after retryMs). */
  private gone(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = null;
    const batch = this.batch;
    this.batch = null;
    if (batch !== null) {
      for (const q of batch.items) q.held.releaseAll();
      this.drop('worker_failed', batch.items.length);
    }
    this.retryAt = performance.now() + this.retryMs;
    for (const w of this.exitWaiters.splice(0)) w();
    this.settled();
  }

  private settled(): void {
    if (!this.closing) this.pump();
    else if (this.batch === null && this.queue.length > 0 && this.worker !== null) this.pump();
    if (this.isIdle) for (const w of this.idleWaiters.splice(0)) w();
  }

  private logDrops(now: number): void {
    const error = this.lastError;
    // Counts by reason since the last line; never a record's content.
    this.opts.log.warn({ dir: this.config.dir, dropped: this.dropped, ...(error !== null ? { error } : {}) }, 'capture records dropped');
    this.dropped = {};
    this.lastError = null;
    this.nextLogAt = now + this.logEveryMs;
  }
}
