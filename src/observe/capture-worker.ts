// Worker entry of the capture writer (capture.ts): redaction, JSON, base64,
// gzip and every file-system call run here, off the event loop that serves
// live traffic. Messages in: a batch of records, or close; out: one result per
// batch.
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import type { CaptureWorkerData, ToWorker, FromWorker } from './capture.js';
import { CaptureFiles } from './capture-files.js';
import { captureLine } from './capture-record.js';
import { compileRedactor } from './redact.js';
import { lowerThreadPriority } from '../compare/thread-priority.js';

const data = workerData as CaptureWorkerData;
const redactor = compileRedactor(data.redact);
const redactFields = data.redact.fields.length > 0;
const files = new CaptureFiles(fs, data.files);

// Behind the event loop that serves live traffic (compare/thread-priority.ts).
lowerThreadPriority();

parentPort?.on('message', (msg: ToWorker) => {
  if (msg.kind === 'close') {
    files.close();
    parentPort?.close();
    return;
  }
  const lines: Buffer[] = [];
  let unwritable = 0;
  for (const r of msg.records) {
    try {
      lines.push(Buffer.from(`${captureLine(r, randomBytes(8).toString('hex'), redactor, redactFields)}\n`, 'utf8'));
    } catch {
      unwritable++;
    }
  }
  const out = files.write(lines);
  const result: FromWorker = { id: msg.id, written: out.written, failed: out.failed + unwritable, tooLarge: out.tooLarge, error: out.error };
  parentPort?.postMessage(result);
});
