// Worker entry of the compare pool: decodes and compares off the event loop.
// Messages in: Job; out: JobResult (see job.ts). workerData carries the shared
// memory budget and this worker's slot in it.
//
// Once it holds over 16 MiB of buffers, live or dead (large bodies and the
// copies of their decoded output; compression bombs are decoded into the
// resident scratch of decode.ts and leave none), the worker collects its young garbage: V8
// frees dead buffers only when it collects, and by its own measure that may be
// after 64 MiB of them, memory the process would hold for nothing. Collecting
// after every large job instead lengthened the live p99 (the collector's helper
// threads are shared with the main thread's).

import { memoryUsage } from 'node:process';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { MemoryBudget } from './budget.js';
import type { Job } from './job.js';
import { WORKER_READY, runJob } from './job.js';
import { setHeapRoomCheck } from './compare.js';
import { heapNeeded } from './heap-room.js';
import { lowerThreadPriority } from './thread-priority.js';

/** Buffers this worker may hold, live and dead, before it asks for a collection. */
const COLLECT_ABOVE_BYTES = 16 * 1024 * 1024;

const data = workerData as { budget: SharedArrayBuffer; slot: number };
const budget = new MemoryBudget(0, 0, data.budget).forSlot(data.slot);

// The same way test runners reach V8's collector without a command-line flag.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as (opts?: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

const heapLeft = (): number => {
  const h = getHeapStatistics();
  return h.heap_size_limit - h.used_heap_size;
};
setHeapRoomCheck((a, b, grpc) => {
  const need = heapNeeded(a, b, grpc);
  if (heapLeft() >= need) return true;
  // What the heap holds may be garbage of earlier jobs.
  collect({ type: 'major', execution: 'sync' });
  return heapLeft() >= need;
});

// Behind the event loop that serves live traffic (thread-priority.ts).
lowerThreadPriority();

parentPort?.postMessage(WORKER_READY);
parentPort?.on('message', (job: Job) => {
  parentPort?.postMessage(runJob(job, budget));
  if (memoryUsage().arrayBuffers > COLLECT_ABOVE_BYTES) collect({ type: 'minor', execution: 'sync' });
});
