import t from 'tap';
import zlib from 'node:zlib';
import type { Answer } from '../../src/compare/index.js';
import { CompareBusyError, ComparePool, NoiseLearner, compareAnswers, compileRules } from '../../src/compare/index.js';

const rules = compileRules(
  { ignoreHeaders: [], ignore: ['$.items[*].updatedAt'], unordered: ['$.tags'], tolerance: 0 },
  { maxDecodedBytes: 16 * 1024 * 1024 },
);
const ctx = { method: 'GET' };

function bigBody(n: number, tweak: number): Buffer {
  const items = Array.from({ length: n }, (_, i) => ({ id: i, price: i === tweak ? 999 : i * 1.5, updatedAt: Math.random(), name: `item ${i}` }));
  return Buffer.from(JSON.stringify({ tags: ['b', 'a'], total: 12345678901234567890n.toString(), items }));
}

function answer(body: Buffer, headers: Record<string, string> = {}): Answer {
  return { status: 200, headers: { 'content-type': 'application/json', ...headers }, body, truncated: false };
}

void t.test('a big pair goes through the worker and gives the inline verdict', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 64 * 1024 });
  t.teardown(() => pool.close());
  const live = answer(bigBody(20_000, -1));
  const dark = answer(zlib.gzipSync(bigBody(20_000, 7)), { 'content-encoding': 'gzip' });
  t.ok(live.body.length > 1024 * 1024, 'over 1 MiB');
  t.notOk(pool.isInline(live, dark), 'goes to the worker');
  const viaPool = await pool.compare(live, dark, rules, ctx);
  t.equal(pool.stats.workers, 1, 'a worker was started');
  const inline = compareAnswers(live, dark, rules, ctx);
  t.strictSame(viaPool, inline);
  t.equal(viaPool.result, 'mismatch');
  t.strictSame(viaPool.differences.map((d) => `${d.field} ${d.kind}`), ['$.items[*].price changed']);

  // With a baseline: the learner stays on this thread.
  const learner = new NoiseLearner();
  const v = await pool.compareWithBaseline(live, dark, answer(bigBody(20_000, 7)), rules, learner, ctx);
  t.equal(v.result, 'noise');
  t.equal(learner.size, 1);
});

void t.test('small pairs compare inline without starting a worker', async (t) => {
  const pool = new ComparePool();
  t.teardown(() => pool.close());
  const v = await pool.compare(answer(Buffer.from('{"a":1}')), answer(Buffer.from('{"a":2}')), rules, ctx);
  t.equal(v.result, 'mismatch');
  t.equal(pool.stats.workers, 0);
});

void t.test('the queue bound rejects with busy', async (t) => {
  const pool = new ComparePool({ size: 1, maxQueue: 2, inlineBelowBytes: 0 });
  t.teardown(() => pool.close());
  const a = answer(bigBody(2000, -1));
  const b = answer(bigBody(2000, 3));
  const jobs = Array.from({ length: 5 }, () => pool.compare(a, b, rules, ctx));
  const results = await Promise.allSettled(jobs);
  const busy = results.filter((r) => r.status === 'rejected' && r.reason instanceof CompareBusyError);
  const ok = results.filter((r) => r.status === 'fulfilled');
  t.equal(ok.length, 3, 'one running + two queued');
  t.equal(busy.length, 2, 'the rest rejected as busy');
  t.equal((busy[0] as PromiseRejectedResult).reason.code, 'UMBRA_COMPARE_BUSY');
  // After the burst, the pool accepts again.
  t.equal((await pool.compare(a, b, rules, ctx)).result, 'mismatch');
});

void t.test('close rejects waiting jobs and ends workers; later calls reject', async (t) => {
  const pool = new ComparePool({ size: 1, maxQueue: 10, inlineBelowBytes: 0 });
  const a = answer(bigBody(5000, -1));
  const settled = Promise.allSettled(Array.from({ length: 3 }, () => pool.compare(a, a, rules, ctx)));
  await pool.close();
  const results = await settled;
  t.ok(results.every((r) => r.status === 'rejected' && r.reason.code === 'UMBRA_COMPARE_CLOSED'));
  t.equal(pool.stats.workers, 0);
  await t.rejects(pool.compare(a, a, rules, ctx), { code: 'UMBRA_COMPARE_CLOSED' });
  await pool.close(); // idempotent
});

void t.test('a stuck job times out and its worker is ended', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 0, jobTimeoutMs: 1 });
  t.teardown(() => pool.close());
  const a = answer(bigBody(20_000, -1));
  await t.rejects(pool.compare(a, answer(bigBody(20_000, 5)), rules, ctx), { code: 'UMBRA_COMPARE_TIMEOUT' });
  t.equal(pool.stats.workers, 0, 'the stuck worker is gone');
});
