import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { Answer } from '../../src/compare/index.js';
import { NoiseLearner, compareWithBaseline, compileRules } from '../../src/compare/index.js';

const rules = compileRules({ ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 1 << 20 });
const ctx = { method: 'GET' };

function answer(body: unknown, headers: Record<string, string> = {}): Answer {
  return { status: 200, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(JSON.stringify(body)), truncated: false };
}

/** A live-like answer: a random id and timestamp every time. */
function fresh(extra: Record<string, unknown> = {}): Answer {
  return answer({ requestId: randomUUID(), at: Date.now() + Math.random(), user: { name: 'ada' }, ...extra }, { 'x-correlation': randomUUID() });
}

void t.test('fields differing between live and secondary are noise for this request', async (t) => {
  const learner = new NoiseLearner();
  const v = compareWithBaseline(fresh(), fresh(), fresh(), rules, learner, ctx);
  t.equal(v.result, 'noise');
  t.strictSame(v.differences, []);
  t.strictSame(v.noise.map((d) => d.field).sort(), ['$.at', '$.requestId', 'header:x-correlation']);
  t.end();
});

void t.test('without a secondary and nothing learned, the same differences are mismatches', async (t) => {
  const learner = new NoiseLearner();
  const v = compareWithBaseline(fresh(), fresh(), null, rules, learner, ctx);
  t.equal(v.result, 'mismatch');
  t.strictSame(v.noise, []);
  t.end();
});

void t.test('a real difference alongside noise is still a mismatch', async (t) => {
  const learner = new NoiseLearner();
  const v = compareWithBaseline(fresh(), fresh({ user: { name: 'bob' } }), fresh(), rules, learner, ctx);
  t.equal(v.result, 'mismatch');
  t.strictSame(v.differences.map((d) => `${d.field} ${d.kind}`), ['$.user.name changed']);
  t.equal(v.noise.length, 3);
  t.end();
});

void t.test('noise is learned: 3 of the last 20 baseline comparisons', async (t) => {
  const learner = new NoiseLearner();
  // Two baselines: not yet learned.
  for (let i = 0; i < 2; i++) compareWithBaseline(fresh(), fresh(), fresh(), rules, learner, ctx);
  t.equal(compareWithBaseline(fresh(), fresh(), null, rules, learner, ctx).result, 'mismatch', 'two observations are not enough');
  compareWithBaseline(fresh(), fresh(), fresh(), rules, learner, ctx);
  const v = compareWithBaseline(fresh(), fresh(), null, rules, learner, ctx);
  t.equal(v.result, 'noise', 'learned after three');
  t.strictSame(learner.noisyFields(), ['$.at', '$.requestId', 'header:x-correlation']);

  // Learned noise does not hide a real difference, nor a field removed on dark.
  const real = compareWithBaseline(fresh(), fresh({ user: { name: 'eve' } }), null, rules, learner, ctx);
  t.equal(real.result, 'mismatch');
  t.strictSame(real.differences.map((d) => d.field), ['$.user.name']);
  const live = fresh();
  const dark = answer({ at: 1, user: { name: 'ada' } }, { 'x-correlation': 'z' });
  const removed = compareWithBaseline(live, dark, null, rules, learner, ctx);
  t.strictSame(removed.differences.map((d) => `${d.field} ${d.kind}`), ['$.requestId removed'], 'presence is not value noise');

  // 18 quiet baselines later, only 1 of the last 20 was noisy for those fields: unlearned.
  const stable = answer({ requestId: 'same', at: 1, user: { name: 'ada' } });
  for (let i = 0; i < 18; i++) compareWithBaseline(stable, stable, stable, rules, learner, ctx);
  t.equal(compareWithBaseline(fresh(), fresh(), null, rules, learner, ctx).result, 'mismatch', 'forgotten outside the window');
  t.end();
});

void t.test('status is never learned, only request-local', async (t) => {
  const learner = new NoiseLearner();
  const ok = answer({});
  const err = { ...answer({}), status: 503 };
  for (let i = 0; i < 5; i++) t.equal(compareWithBaseline(ok, err, err, rules, learner, ctx).result, 'noise');
  t.equal(compareWithBaseline(ok, err, null, rules, learner, ctx).result, 'mismatch');
  t.end();
});

void t.test("gRPC's status is never learned either, only request-local", async (t) => {
  const learner = new NoiseLearner();
  const grpc = (status: string, note: string): Answer => ({ ...answer({}), trailers: { 'grpc-status': status, 'x-note': note } });
  for (let i = 0; i < 5; i++) t.equal(compareWithBaseline(grpc('0', 'a'), grpc('14', 'b'), grpc('14', 'c'), rules, learner, ctx).result, 'noise');
  const v = compareWithBaseline(grpc('0', 'a'), grpc('14', 'b'), null, rules, learner, ctx);
  t.equal(v.result, 'mismatch');
  t.strictSame(v.differences.map((d) => d.field), ['trailer:grpc-status'], 'learned: another trailer, never grpc-status');
  t.strictSame(v.noise.map((d) => d.field), ['trailer:x-note']);
  t.end();
});

void t.test('skipped baseline teaches nothing; skipped primary stays skipped', async (t) => {
  const learner = new NoiseLearner();
  const truncated = { ...fresh(), truncated: true };
  const v = compareWithBaseline(fresh(), fresh(), truncated, rules, learner, ctx);
  t.equal(v.result, 'mismatch');
  t.equal(learner.size, 0);
  t.equal(compareWithBaseline(fresh(), truncated, fresh(), rules, learner, ctx).reason, 'too_large');
  t.end();
});

void t.test('memory is bounded per route', async (t) => {
  const learner = new NoiseLearner({ maxFields: 200 });
  for (let i = 0; i < 50; i++) {
    const a = answer(Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`f${i}_${k}`, 1])));
    const b = answer(Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`f${i}_${k}`, 2])));
    compareWithBaseline(a, a, b, rules, learner, ctx);
    t.ok(learner.size <= 200);
  }
  t.equal(learner.size, 200);
  t.end();
});
