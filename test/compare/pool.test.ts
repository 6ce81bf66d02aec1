import t from 'tap';
import zlib from 'node:zlib';
import { MAX_CACHED_RULES, RulesAccount } from '../../src/compare/job.js';
import { CUT, CompareBusyError, ComparePool, ComparePoolError, MemoryBudget, NoiseLearner, compareAnswers, compileRules, engineSkipReason, exactText, isExactNumber, writeJson } from '../../src/compare/index.js';
import { answer, bigBody, ctx, rules } from '../helpers/compare-pool.js';

// The pool's memory and heap limits are in pool-memory.test.ts.

void t.test('a big pair goes through the worker and gives the inline verdict', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 64 * 1024 });
  t.teardown(() => pool.close());
  const live = answer(bigBody(20_000, -1));
  const dark = answer(zlib.gzipSync(bigBody(20_000, 7)), { 'content-encoding': 'gzip' });
  t.ok(live.body.length > 1024 * 1024, 'over 1 MiB');
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

void t.test('values made in a worker arrive exact, shortened with markers, with every example', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 0 });
  t.teardown(() => pool.close());
  const side = (last: string, price: (i: number) => number) =>
    answer(
      Buffer.from(
        `{"id":1234567890123456789012${last},"note":${JSON.stringify('n'.repeat(3000) + last)},"ids":[${Array.from({ length: 400 }, (_, i) => i).join(',')},${last}],` +
          `"items":${JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ price: price(i) })))}}`,
      ),
    );
  const v = await pool.compare(side('3', (i) => i), side('4', (i) => (i < 3 ? i + 0.5 : i)), rules, ctx);
  t.equal(pool.stats.workers, 1, 'compared in a worker');
  const by = Object.fromEntries(v.differences.map((d) => [d.field, d]));
  const id = by['$.id'];
  t.ok(isExactNumber(id?.live), 'a big integer is still an exact number after postMessage');
  t.equal(exactText(id?.live as never), '12345678901234567890123');
  t.equal(writeJson(id), '{"part":"body","field":"$.id","kind":"changed","live":12345678901234567890123,"dark":12345678901234567890124}');
  t.strictSame(by['$.note']?.live, { [CUT]: { string: 3001, head: 'n'.repeat(200) } }, 'a long string keeps its head and length');
  t.strictSame(by['$.ids[*]'], { part: 'body', field: '$.ids[*]', kind: 'changed', live: 3, dark: 4 }, 'the one element of 401 that differs');
  t.strictSame(by['$.items[*].price'], {
    part: 'body',
    field: '$.items[*].price',
    kind: 'changed',
    live: 0,
    dark: 0.5,
    count: 3,
    examples: [
      { live: 0, dark: 0.5 },
      { live: 1, dark: 1.5 },
      { live: 2, dark: 2.5 },
    ],
  });
  t.strictSame(v, compareAnswers(side('3', (i) => i), side('4', (i) => (i < 3 ? i + 0.5 : i)), rules, ctx), 'the same verdict as inline');
  // An order difference shows both arrays, each cut with a marker.
  const order = await pool.compare(
    answer(Buffer.from(JSON.stringify({ tags: Array.from({ length: 300 }, (_, i) => `t${i}`) }))),
    answer(Buffer.from(JSON.stringify({ tags: Array.from({ length: 300 }, (_, i) => `t${299 - i}`) }))),
    compileRules({ ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 1 << 20 }),
    ctx,
  );
  const [d] = order.differences;
  t.equal(d?.kind, 'order');
  const live = d?.live as unknown[];
  t.equal(live[0], 't0');
  t.match(live[live.length - 1], { [CUT]: { items: Number } }, 'the marker closes the kept head');
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
  t.equal(engineSkipReason((busy[0] as PromiseRejectedResult).reason), 'busy', 'the skip reason a caller counts');
  // After the burst, the pool accepts again.
  t.equal((await pool.compare(a, b, rules, ctx)).result, 'mismatch');
});

void t.test('close rejects waiting jobs and ends workers; later calls reject', async (t) => {
  const pool = new ComparePool({ size: 1, maxQueue: 10, inlineBelowBytes: 0 });
  const a = answer(bigBody(5000, -1));
  const b = answer(bigBody(5000, 2));
  const settled = Promise.allSettled(Array.from({ length: 3 }, () => pool.compare(a, b, rules, ctx)));
  await pool.close();
  const results = await settled;
  t.ok(results.every((r) => r.status === 'rejected' && r.reason.code === 'UMBRA_COMPARE_CLOSED'));
  t.equal(pool.stats.workers, 0);
  await t.rejects(pool.compare(a, b, rules, ctx), { code: 'UMBRA_COMPARE_CLOSED' });
  await pool.close(); // idempotent
});

void t.test('a stuck job times out and its worker is ended', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 0, jobTimeoutMs: 1 });
  t.teardown(() => pool.close());
  const a = answer(bigBody(20_000, -1));
  await t.rejects(pool.compare(a, answer(bigBody(20_000, 5)), rules, ctx), { code: 'UMBRA_COMPARE_TIMEOUT' });
  t.equal(pool.stats.workers, 0, 'the stuck worker is gone');
});

void t.test('identical bytes under the same coding are equal without decoding or a worker', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 1024 });
  t.teardown(() => pool.close());
  const body = zlib.gzipSync(bigBody(2000, -1));
  const v = await pool.compare(answer(body, { 'content-encoding': 'gzip' }), answer(Buffer.from(body), { 'content-encoding': 'gzip' }), rules, ctx);
  t.equal(v.result, 'match');
  t.equal(pool.stats.workers, 0, 'no worker started');
  // The same bytes under other codings are other contents: decoded in a worker.
  const other = await pool.compare(answer(body, { 'content-encoding': 'gzip' }), answer(body, { 'content-encoding': 'gzip, gzip' }), rules, ctx);
  t.equal(other.result, 'skipped');
  t.equal(other.reason, 'decode_error', 'the second gzip layer is not there');
  t.equal(pool.stats.workers, 1);
});

void t.test('an encoded body, however small, is decoded in a worker, never inline', async (t) => {
  const budget = new MemoryBudget(64 * 1024 * 1024);
  const pool = new ComparePool({ size: 1, budget });
  t.teardown(() => pool.close());
  const live = answer(Buffer.from('{"a":1}'));
  const dark = answer(zlib.brotliCompressSync(Buffer.from('{"a":2}')), { 'content-encoding': 'br' });
  const pending = pool.compare(live, dark, rules, ctx);
  t.equal(pool.stats.running, 1, 'handed to a worker at once');
  t.equal(budget.bytes, live.body.length + dark.body.length, 'the copies handed over are counted');
  const v = await pending;
  t.strictSame(v.differences.map((d) => `${d.field} ${d.kind}`), ['$.a changed']);
  t.equal(budget.bytes, 0, 'all given back');
  t.equal(live.body.toString(), '{"a":1}', "the caller's buffer is copied, not transferred away");
});

void t.test('more than two nested codings are not decoded at all', async (t) => {
  const pool = new ComparePool({ size: 1 });
  t.teardown(() => pool.close());
  const body = zlib.gzipSync(zlib.gzipSync(zlib.gzipSync(Buffer.from('{"a":1}'))));
  const v = await pool.compare(answer(Buffer.from('{"a":1}')), answer(body, { 'content-encoding': 'gzip, gzip, gzip' }), rules, ctx);
  t.equal(v.reason, 'decode_too_deep');
  const two = await pool.compare(answer(Buffer.from('{"a":1}')), answer(zlib.gzipSync(zlib.gzipSync(Buffer.from('{"a":1}'))), { 'content-encoding': 'gzip, gzip' }), rules, ctx);
  t.equal(two.result, 'match', 'two layers are undone');
});

void t.test("engineSkipReason: each pool failure's skip reason", async (t) => {
  t.equal(engineSkipReason(new CompareBusyError()), 'busy');
  t.equal(engineSkipReason(new ComparePoolError('UMBRA_COMPARE_OVER_MEMORY', 'x')), 'over_memory');
  t.equal(engineSkipReason(new ComparePoolError('UMBRA_COMPARE_HEAP', 'x')), 'compare_heap');
  t.equal(engineSkipReason(new ComparePoolError('UMBRA_COMPARE_TIMEOUT', 'x')), 'compare_error');
  t.equal(engineSkipReason(new Error('anything else')), 'compare_error');
});

void t.test('a worker gets the source of a rules id once, and again after its cache let the rules go', async (t) => {
  const account = new RulesAccount();
  t.notOk(account.has(1), 'first time: the source goes');
  t.ok(account.has(1), 'then the id alone');
  for (let id = 2; id <= MAX_CACHED_RULES + 1; id++) account.has(id);
  t.notOk(account.has(1), 'the oldest left the worker cache: the source goes again');

  const pool = new ComparePool({ size: 1, inlineBelowBytes: 0 });
  t.teardown(() => pool.close());
  const many = Array.from({ length: MAX_CACHED_RULES + 2 }, (_, i) =>
    compileRules({ ignoreHeaders: [], ignore: i % 2 === 0 ? ['$.b'] : [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 1 << 20 }),
  );
  const live = answer(Buffer.from('{"a":1,"b":1}'));
  const dark = answer(Buffer.from('{"a":1,"b":2}'));
  const results: string[] = [];
  // Each rules twice in a row (the second time without its source), then the first ones again.
  for (const r of [...many, ...many.slice(0, 3)]) {
    for (let k = 0; k < 2; k++) results.push((await pool.compare(live, dark, r, ctx)).result);
  }
  t.equal(pool.stats.workers, 1, 'one worker all along');
  const expected = [...many, ...many.slice(0, 3)].flatMap((_, i) => {
    const even = (i < many.length ? i : i - many.length) % 2 === 0;
    return [even ? 'match' : 'mismatch', even ? 'match' : 'mismatch'];
  });
  t.strictSame(results, expected, 'every job used its own rules');
});
