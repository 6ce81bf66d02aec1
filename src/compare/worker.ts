// Worker entry of the compare pool: decodes and compares off the event loop.
// Messages in: Job; out: JobResult (see job.ts). workerData carries the shared
// memory budget and this worker's slot in it.

import { parentPort, workerData } from 'node:worker_threads';
import { MemoryBudget } from './budget.js';
import type { Job } from './job.js';
import { runJob } from './job.js';

const data = workerData as { budget: SharedArrayBuffer; slot: number };
const budget = new MemoryBudget(0, 0, data.budget).forSlot(data.slot);

parentPort?.on('message', (job: Job) => {
  void runJob(job, budget).then((r) => parentPort?.postMessage(r));
});
