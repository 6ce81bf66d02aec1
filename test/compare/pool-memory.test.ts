// The compare pool's memory bounds: compression bombs, a full budget, a worker
// stopped mid-job, bodies moved rather than copied. The worker heap cap is in
// pool-heap.test.ts.
import t from 'tap';
import zlib from 'node:zlib';
import { ComparePool, MemoryBudget, compileRules } from '../../src/compare/index.js';
import { answer, bigBody, bombs, ctx, rules } from '../helpers/compare-pool.js';

void t.test('compression bombs stop at maxDecodedBytes, and every byte comes back', async (t) => {
  const budget = new MemoryBudget(64 * 1024 * 1024);
  const pool = new ComparePool({ size: 1, budget });
  t.teardown(() => pool.close());
  const small = compileRules({ ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 4 * 1024 * 1024 });
  const live = answer(Buffer.from('{"ok":true}'));
  for (const [name, body, coding] of bombs()) {
    t.ok(body.length < 200_000, `${name} bomb is small: ${body.length} bytes`);
    const v = await pool.compare(live, answer(body, { 'content-encoding': coding }), small, ctx);
    t.equal(v.reason, 'decode_too_large', `${name}: skipped at the cap`);
    t.equal(budget.bytes, 0, `${name}: budget back to 0`);
  }
  t.ok(budget.peak <= 4 * 1024 * 1024 + 2 * 64 * 1024 + 200_000 * 2, `peak held ${budget.peak} bytes: the cap, a chunk, the copies`);
});

void t.test('a bomb that meets a full budget stops with over_memory', async (t) => {
  const budget = new MemoryBudget(1024 * 1024);
  const pool = new ComparePool({ size: 1, budget });
  t.teardown(() => pool.close());
  // zlib deflate: no declared length, so the decoder runs until the budget stops it.
  const [, body] = bombs()[2] as [string, Buffer, string];
  const v = await pool.compare(answer(Buffer.from('{}')), answer(body, { 'content-encoding': 'deflate' }), rules, ctx);
  t.equal(v.reason, 'over_memory');
  t.equal(budget.bytes, 0);
  t.ok(budget.peak <= 1024 * 1024, 'never over the budget');
  // No room even for the copies: refused before a worker sees it.
  t.ok(budget.tryReserve(1024 * 1024));
  await t.rejects(pool.compare(answer(Buffer.from('{}')), answer(body, { 'content-encoding': 'deflate' }), rules, ctx), { code: 'UMBRA_COMPARE_OVER_MEMORY' });
  budget.release(1024 * 1024);
});

void t.test('a worker stopped mid-job gives back what it held', async (t) => {
  const budget = new MemoryBudget(1024 ** 3);
  const pool = new ComparePool({ size: 1, budget });
  t.teardown(() => pool.close());
  t.equal((await pool.compare(answer(Buffer.from('{"a":1}')), answer(zlib.gzipSync('{"a":1}'), { 'content-encoding': 'gzip' }), rules, ctx)).result, 'match', 'worker started');
  // Eight 64 MiB gzip members: 512 MiB to decode, far longer than the job may take.
  const [, member] = bombs()[1] as [string, Buffer, string];
  const body = Buffer.concat(Array.from({ length: 8 }, () => member));
  const huge = compileRules({ ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 900 * 1024 * 1024 });
  pool.jobTimeoutMs = 150;
  let most = 0;
  const watch = setInterval(() => (most = Math.max(most, budget.bytes)), 2);
  await t.rejects(pool.compare(answer(Buffer.from('{}')), answer(body, { 'content-encoding': 'gzip' }), huge, ctx), { code: 'UMBRA_COMPARE_TIMEOUT' });
  clearInterval(watch);
  t.ok(most > 8 * 1024 * 1024, `the worker held decoded bytes when it was stopped (${most})`);
  for (let i = 0; i < 200 && budget.bytes > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(budget.bytes, 0, "the stopped worker's bytes are released");
});

void t.test('a body umbra owns outright is moved to the worker, not copied; any other is copied', async (t) => {
  const budget = new MemoryBudget(64 * 1024 * 1024);
  const pool = new ComparePool({ size: 1, budget });
  t.teardown(() => pool.close());
  const owned = Buffer.allocUnsafeSlow(200_000);
  bigBody(2000, 3).copy(owned);
  const ownedLength = owned.length;
  const shared = bigBody(2000, -1);
  const pending = pool.compare(answer(shared), { ...answer(owned.subarray(0, ownedLength)), owned: true }, rules, ctx);
  t.equal(owned.length, 0, 'the owned buffer went to the worker (detached here)');
  t.ok(shared.length > 0, 'the other one was copied');
  t.equal(budget.bytes, shared.length + ownedLength, 'both counted while the worker has them');
  const v = await pending;
  t.equal(v.result, 'mismatch');
  t.equal(budget.bytes, 0);
  // Owned but a slice of a larger buffer: copied, never moved.
  const big = Buffer.allocUnsafeSlow(300_000);
  bigBody(2000, 3).copy(big);
  const slice = big.subarray(0, 100_000);
  await pool.compare(answer(shared), { ...answer(slice), owned: true }, rules, ctx).catch(() => null);
  t.equal(big.length, 300_000, 'a slice is never moved');
});
