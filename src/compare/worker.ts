// Worker entry of the compare pool: decodes and compares off the event loop.
// Messages in: Job; out: JobResult (see job.ts). workerData carries the shared
// memory budget and this worker's slot in it.
//
// After a job that moved a lot of bytes (a large body, a compression bomb
// decoded up to its cap) the worker collects its young garbage at once: V8
// frees dead buffers only when it collects, and by its own measure that may be
// after tens of MiB of them, memory the process would hold for nothing.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { MemoryBudget, type ByteBudget } from './budget.js';
import type { Job } from './job.js';
import { runJob } from './job.js';

/** Bytes a job may move before the worker collects right after it. */
const COLLECT_AFTER_BYTES = 1024 * 1024;

const data = workerData as { budget: SharedArrayBuffer; slot: number };
const shared = new MemoryBudget(0, 0, data.budget).forSlot(data.slot);

// The budget as this worker uses it, also adding up what the current job reserved.
let moved = 0;
const budget: ByteBudget = {
  tryReserve: (n) => {
    if (!shared.tryReserve(n)) return false;
    moved += n;
    return true;
  },
  release: (n) => shared.release(n),
  room: () => shared.room(),
};

// The same way test runners reach V8's collector without a command-line flag.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as (opts?: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

function bodyBytes(job: Job): number {
  return job.live.body.byteLength + job.dark.body.byteLength + (job.secondary?.body.byteLength ?? 0);
}

parentPort?.on('message', (job: Job) => {
  moved = bodyBytes(job);
  parentPort?.postMessage(runJob(job, budget));
  if (moved >= COLLECT_AFTER_BYTES) collect({ type: 'minor', execution: 'sync' });
});
