// Pure units of the mirror side, with plain fakes: route patterns, sticky keys,
// the limits. (The same behaviour is exercised over sockets in mirror.test.ts.)
import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { parseConfigText } from '../../src/config/load.js';
import { Router, compilePattern, requestPath } from '../../src/http/routes.js';
import { sampleKeyValue, sampled, stableFraction } from '../../src/mirror/sample.js';
import { InFlight, RateLimit } from '../../src/mirror/limits.js';
import { MemoryBudget } from '../../src/compare/index.js';

const fakeReq = (url: string, headers: Record<string, string> = {}): IncomingMessage => ({ url, headers }) as unknown as IncomingMessage;

t.test('route patterns and first-match order', async (t) => {
  const c = parseConfigText(
    `live: { url: "http://127.0.0.1:1" }
routes:
  - name: user-orders
    match: { path: /users/:id/orders }
  - name: get-user
    match: { path: /users/:id, methods: [GET] }
  - name: files
    match: { path: /files/* }
  - name: api
    match: { prefix: /api/ }
`,
    'units.yaml',
    {},
  );
  const r = new Router(c.routes);
  const cases: [string, string, string][] = [
    ['GET', '/users/42', 'get-user'],
    ['POST', '/users/42', 'default'],
    ['GET', '/users/42/orders', 'user-orders'],
    ['GET', '/users/42/orders/1', 'default'],
    ['GET', '/users/', 'default'],
    ['GET', '/users', 'default'],
    ['GET', '/files/a/b/c.txt', 'files'],
    ['GET', '/files/', 'files'],
    ['GET', '/api/v1/x', 'api'],
    ['GET', '/apix', 'default'],
  ];
  for (const [method, path, want] of cases) t.equal(r.match(method, path).name, want, `${method} ${path}`);
  t.equal(r.get('api')?.name, 'api');
  t.equal(r.get('nope'), undefined);
  t.same(compilePattern('/a/:b/*'), [{ kind: 'literal', value: 'a' }, { kind: 'param' }, { kind: 'rest' }]);
  t.throws(() => new Router([]), /default route/);
});

t.test('the request path never includes the query', async (t) => {
  t.equal(requestPath('/a/b?x=1'), '/a/b');
  t.equal(requestPath('/a#frag'), '/a');
  t.equal(requestPath('http://host:8080/a/b?x'), '/a/b');
  t.equal(requestPath('http://host'), '/');
  t.equal(requestPath(''), '/');
  t.equal(requestPath(undefined), '/');
  t.equal(requestPath('*'), '*');
});

t.test('sticky keys from header, cookie and query', async (t) => {
  const req = fakeReq('/p?uid=q1&x=2', { 'x-user-id': 'h1', cookie: 'a=1; uid=c1; b=2' });
  t.equal(sampleKeyValue(req, { kind: 'header', name: 'x-user-id' }), 'h1');
  t.equal(sampleKeyValue(req, { kind: 'cookie', name: 'uid' }), 'c1');
  t.equal(sampleKeyValue(req, { kind: 'query', name: 'uid' }), 'q1');
  t.equal(sampleKeyValue(fakeReq('/p'), { kind: 'query', name: 'uid' }), undefined);
  t.equal(sampleKeyValue(fakeReq('/p', { cookie: 'junk' }), { kind: 'cookie', name: 'uid' }), undefined);
  t.equal(sampleKeyValue(fakeReq('/p', {}), { kind: 'cookie', name: 'uid' }), undefined);
  t.equal(sampleKeyValue(fakeReq('/p', { 'x-user-id': '' }), { kind: 'header', name: 'x-user-id' }), undefined);
});

t.test('stable fractions are stable, spread, and monotone in the sample', async (t) => {
  // Pinned values (FNV-1a 32-bit, then murmur3's fmix32, over 2^32; checked against an
  // independent implementation): a user must stay in or out across processes and versions.
  t.equal(stableFraction('user-1'), 0.4670340372249484);
  t.equal(stableFraction('user-2'), 0.1986513624433428);
  t.equal(stableFraction(''), 0.6689221884589642);
  const values = Array.from({ length: 10000 }, (_, i) => stableFraction(`user-${i}`));
  t.ok(values.every((v) => v >= 0 && v < 1), 'in [0, 1)');
  const below = values.filter((v) => v < 0.25).length;
  t.ok(below > 2300 && below < 2700, `about a quarter below 0.25 (${below})`);
  const key = { kind: 'header', name: 'u' } as const;
  for (let i = 0; i < 200; i++) {
    const req = fakeReq('/', { u: `k${i}` });
    if (sampled(req, 0.1, key)) t.ok(sampled(req, 0.3, key), `k${i} stays in as the sample rises`);
  }
  t.equal(sampled(fakeReq('/'), 0.5, key, () => 0.4), true, 'no key: random fallback (in)');
  t.equal(sampled(fakeReq('/'), 0.5, key, () => 0.6), false, 'no key: random fallback (out)');
  t.equal(sampled(fakeReq('/'), 0, null), false);
  t.equal(sampled(fakeReq('/'), 1, null), true);
});

t.test('limits answer at once', async (t) => {
  const f = new InFlight(2);
  t.ok(f.tryAcquire() && f.tryAcquire());
  t.notOk(f.hasRoom, 'no room at the cap');
  t.notOk(f.tryAcquire(), 'third refused');
  f.release();
  t.equal(f.current, 1);
  f.release();
  f.release();
  t.equal(f.current, 0, 'never below zero');

  let now = 0;
  const r = new RateLimit(2, () => now);
  t.ok(r.tryTake() && r.tryTake());
  t.notOk(r.available(), 'peeking says no token');
  t.notOk(r.tryTake(), 'burst of 2 spent');
  now = 500;
  t.ok(r.available() && r.available(), 'peeking does not take the token');
  t.ok(r.tryTake(), 'one token back after half a second');
  t.notOk(r.tryTake());
  t.ok(new RateLimit(0).tryTake(), '0 = no cap');

  const b = new MemoryBudget(100);
  t.ok(b.tryReserve(60));
  t.notOk(b.tryReserve(41), 'over the budget');
  t.ok(b.tryReserve(40));
  t.equal(b.full, true);
  b.release(30);
  t.equal(b.bytes, 70);
  t.equal(b.peak, 100);
  b.release(1000);
  t.equal(b.bytes, 0);
});

t.test('the memory budget as a worker sees it: one counter, a cell per worker slot', async (t) => {
  const main = new MemoryBudget(1000, 2);
  // What a worker builds from workerData: the same shared counters.
  const inWorker = new MemoryBudget(0, 0, main.shared).forSlot(1);
  t.equal(main.slots, 2);
  t.ok(inWorker.tryReserve(600));
  t.equal(main.bytes, 600, 'the main thread sees the worker\'s bytes');
  t.equal(inWorker.room(), 400);
  t.notOk(main.tryReserve(401), 'one budget for both');
  t.notOk(inWorker.tryReserve(401));
  inWorker.release(100);
  t.equal(main.bytes, 500);
  main.max = 2000;
  t.equal(inWorker.room(), 1500, 'a new maximum is seen by the worker too');
  // The worker is ended mid-job: its slot gives back what it still held.
  t.equal(main.drainSlot(1), 500);
  t.equal(main.bytes, 0);
  t.equal(main.drainSlot(1), 0, 'draining twice gives nothing more');
  t.equal(main.peak, 600);
  main.max = 10 * 1024 ** 3;
  t.equal(main.max, 1024 ** 3, 'the maximum is capped at 1 GiB');
});
