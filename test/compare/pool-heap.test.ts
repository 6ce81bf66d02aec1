// The compare worker's heap cap (limits.compareHeap): a job that fills it ends
// its worker; a pair that may need more than it has left is never parsed.
import t from 'tap';
import zlib from 'node:zlib';
import { ComparePool } from '../../src/compare/index.js';
import { answer, bigBody, ctx, heapCrasher, rules } from '../helpers/compare-pool.js';
import { metricValue, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra } from '../helpers/umbra.js';

/**
 * The pair's skip, end to end: `compare_heap`, or `compare_error` when the
 * compare job's fixed 10 s timeout ends it first (a worker runs niced, and on a
 * starved machine its 8 MiB decode and scan can take that long; the pool tests
 * above check the reason with a longer timeout). Either way the process lives.
 */
async function heapSkip(adminUrl: string): Promise<{ heap: number; timedOut: number }> {
  const skip = await until(async () => {
    const text = (await request(`${adminUrl}/metrics`)).body.toString();
    const heap = metricValue(text, 'umbra_comparison_skips_total', { route: 'default', reason: 'compare_heap' });
    const timedOut = metricValue(text, 'umbra_comparison_skips_total', { route: 'default', reason: 'compare_error' });
    return heap + timedOut >= 1 ? { heap, timedOut } : null;
  }, 90_000, 'the skip');
  return skip as { heap: number; timedOut: number };
}

void t.test('a job that needs more heap than limits.compareHeap ends its worker (compare_heap); the next job gets a fresh one', async (t) => {
  // The cap leaves the worker room to load and compile the engine before the job
  // fills its heap: V8 ends a worker that runs out while *compiling* code with a
  // fatal error for the whole process (BaselineBatchCompiler -> FatalProcessOutOfMemory)
  // instead of ERR_WORKER_OUT_OF_MEMORY, and a cap just above the engine's own size
  // made that the likely way to run out (the production default is 96 MiB).
  // The body is 200,000 arrays nested ten deep: 4 MB of text, so the pair passes
  // the check for heap room made before parsing (about 6 bytes per byte of body),
  // but 56 bytes of heap per two bytes of text once parsed.
  const pool = new ComparePool({ size: 1, workerHeapMb: 96, jobTimeoutMs: 120_000 });
  t.teardown(() => pool.close());
  const heavy = Buffer.from(`[${'[[[[[[[[[[]]]]]]]]]],'.repeat(200_000)}0]`);
  await t.rejects(pool.compare(answer(heavy), answer(Buffer.from('{}')), rules, ctx), { code: 'UMBRA_COMPARE_HEAP' });
  t.equal(pool.stats.workers, 0, 'the worker is gone');
  // A reload raises the cap: the next worker started has it.
  pool.workerHeapMb = 256;
  const v = await pool.compare(answer(Buffer.from('{"a":1}')), answer(zlib.gzipSync('{"a":1}'), { 'content-encoding': 'gzip' }), rules, ctx);
  t.equal(v.result, 'match', 'a fresh worker took the next job');
});

void t.test('a pair that may need more heap than the worker has left is skipped compare_heap before it is parsed: the process lives on', async (t) => {
  // 110 MB of JSON text holding one string: parsing it makes a 110 MB string,
  // one allocation past the worker's cap by more than the 16 MiB node lends a
  // worker to end cleanly, so V8 would stop the whole process (FATAL ERROR:
  // Reached heap limit), this test with it, and in production live traffic.
  const pool = new ComparePool({ size: 1, workerHeapMb: 96, jobTimeoutMs: 60_000 });
  t.teardown(() => pool.close());
  const huge = Buffer.alloc(110 * 1024 * 1024, 'x');
  huge.write('["\\n', 0);
  huge.write('"]', huge.length - 2);
  const v = await pool.compare(answer(Buffer.from('["x"]')), answer(huge), rules, ctx);
  t.equal(v.result, 'skipped');
  t.equal(v.reason, 'compare_heap');
  t.equal(pool.stats.workers, 1, 'the worker was not ended: nothing was parsed');
  // The same worker compares the next pair.
  const next = await pool.compare(answer(bigBody(20_000, -1)), answer(bigBody(20_000, 9)), rules, ctx);
  t.equal(next.result, 'mismatch', 'a pair that fits is compared');
  t.equal(pool.stats.workers, 1, 'by the same worker');
});

void t.test('at the default limits, 8 MiB of hostile JSON is skipped compare_heap before it is parsed, not a process abort', async (t) => {
  const pool = new ComparePool({ size: 1, workerHeapMb: 96, jobTimeoutMs: 60_000 });
  t.teardown(() => pool.close());
  const body = heapCrasher();
  t.ok(body.length <= 8 * 1024 * 1024, `${body.length} bytes`);
  const v = await pool.compare(answer(Buffer.from('[]')), answer(body), rules, ctx);
  t.equal(v.reason, 'compare_heap');
  t.equal(pool.stats.workers, 1, 'the worker goes on');
});

void t.test('end to end, default limits: a dark answer of hostile JSON (a few KiB gzipped) is a counted skip and umbra serves on', async (t) => {
  const gz = zlib.gzipSync(heapCrasher(), { level: 9 });
  t.ok(gz.length < 1024 * 1024, `${gz.length} bytes on the wire, under mirror.maxBodyBytes`);
  const live = await startBackend((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
  const dark = await startBackend((_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gz));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1.0 }`, { level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close()]);
  });
  t.equal((await request(`${umbra.proxyUrl}/x`)).body.toString(), '[]', 'live answered');
  const skip = await heapSkip(umbra.adminUrl);
  t.equal(skip.heap + skip.timedOut, 1, `one skip: compare_heap ${skip.heap}, job timeout ${skip.timedOut}`);
  t.equal((await request(`${umbra.proxyUrl}/y`)).status, 200, 'umbra still serves');
  t.equal(umbra.logs.filter((l) => String(l.msg).startsWith('limits.compareHeap')).length, 0, 'no heap advice at the defaults');
});

void t.test('end to end: limits raised for big bodies, the heap cap left alone, a dark answer of 110 MB of JSON text is a counted skip and umbra serves on', async (t) => {
  // 110 KB on the wire: gzip of one JSON string of 110 MB.
  const text = Buffer.alloc(110 * 1024 * 1024, 'x');
  text.write('["\\n', 0);
  text.write('"]', text.length - 2);
  const gz = zlib.gzipSync(text, { level: 9 });
  const live = await startBackend((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('["live"]'));
  const dark = await startBackend((_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gz));
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }
dark: { url: "${dark.url}" }
mirror: { sample: 1.0, maxBufferedBytes: 512MiB }
limits: { maxDecodedBytes: 128MiB, maxDecodeRatio: 0 }`,
    { level: 'info' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close()]);
  });
  const advice = umbra.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('limits.compareHeap'));
  t.equal(advice.length, 1, 'umbra warned at start that the heap cap is small for the bodies allowed');
  t.equal(advice[0]?.largestBody, 128 * 1024 * 1024);
  const first = await request(`${umbra.proxyUrl}/big`);
  t.equal(first.body.toString(), '["live"]', 'live answered');
  const skip = await heapSkip(umbra.adminUrl);
  t.equal(skip.heap + skip.timedOut, 1, `one skip: compare_heap ${skip.heap}, job timeout ${skip.timedOut}`);
  const second = await request(`${umbra.proxyUrl}/again`);
  t.equal(second.status, 200, 'umbra still serves');
  t.equal(second.body.toString(), '["live"]');
});

void t.test('no heap advice when the cap is 12 times the largest body, as the defaults are', async (t) => {
  const live = await startBackend((_req, res) => res.end('{}'));
  const at = async (extra: string): Promise<number> => {
    const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${live.url}" }\n${extra}`, { level: 'info' });
    await umbra.stop();
    return umbra.logs.filter((l) => String(l.msg).startsWith('limits.compareHeap')).length;
  };
  t.teardown(() => live.close());
  t.equal(await at(''), 0, 'the defaults');
  t.equal(await at('limits: { maxDecodedBytes: 16MiB, compareHeap: 192MiB }'), 0, 'raised together');
  t.equal(await at('limits: { maxDecodedBytes: 16MiB }'), 1, 'one raised alone');
  t.equal(await at('mirror: { maxBodyBytes: 9MiB }'), 1, 'a body limit over 8 MiB');
});
