// Worker entry of the compare pool: runs compareAnswers off the event loop.
// Messages in: Job; out: JobResult (see job.ts).

import { parentPort } from 'node:worker_threads';
import type { Job } from './job.js';
import { runJob } from './job.js';

parentPort?.on('message', (job: Job) => {
  parentPort?.postMessage(runJob(job));
});
