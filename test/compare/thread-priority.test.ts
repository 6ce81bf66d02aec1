// Shadow work runs behind live: the compare and capture workers' threads are
// niced (compare/thread-priority.ts), the event loop's thread is not. Read from
// /proc, where the kernel keeps each thread's niceness.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { WORKER_NICENESS } from '../../src/compare/thread-priority.js';
import { captureYaml, liveBackend, start, tempDir } from '../helpers/capture.js';

/** Each thread of this process: its id and niceness (field 19 of /proc/PID/task/TID/stat). */
function threads(): { tid: number; nice: number }[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { tid: Number(tid), nice: Number(fields[16]) };
  });
}

const mainNice = (): number => threads().find((x) => x.tid === process.pid)?.nice ?? NaN;

void t.test('lowerThreadPriority lowers the calling thread only', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  const before = mainNice();
  // On a thread of its own, as the workers call it (the compiled module: npm test builds first).
  const mod = new URL('../../dist/compare/thread-priority.js', import.meta.url).href;
  // (It stays up until the test ends: the kernel shows it while it runs.)
  const helper = new Worker(`setInterval(() => {}, 1000); import(${JSON.stringify(mod)}).then((m) => require('node:worker_threads').parentPort.postMessage(m.lowerThreadPriority()))`, { eval: true });
  t.teardown(() => helper.terminate());
  const now = await new Promise((resolve) => helper.once('message', resolve));
  t.equal(now, Math.min(19, before + WORKER_NICENESS), 'the worker thread is niced by WORKER_NICENESS');
  t.equal(threads().filter((x) => x.nice === now).length >= 1, true, 'the kernel shows it');
  t.equal(mainNice(), before, 'the main thread is untouched');
});

void t.test('umbra\'s compare and capture workers run niced, its event loop does not', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  const before = mainNice();
  const live = await liveBackend(t);
  const dark = await liveBackend(t);
  const umbra = await start(t, `dark: { url: "${dark.url}" }\n` + captureYaml(live.url, tempDir(t)));
  t.ok(umbra.proxyUrl);
  let niced: { tid: number; nice: number }[] = [];
  for (let i = 0; i < 200; i++) {
    niced = threads().filter((x) => x.nice === Math.min(19, before + WORKER_NICENESS));
    if (niced.length >= 2) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(niced.length >= 2, `a compare worker and a capture worker at niceness ${before + WORKER_NICENESS} (found ${niced.length})`);
  t.equal(mainNice(), before, 'the event loop\'s thread keeps its priority');
});
