// Release verdicts from controlled traffic (DESIGN §12), on a real umbra with
// real live and dark backends: an identical dark passes, a 10% different one
// fails, too few comparisons are inconclusive, a dark slower than live beyond
// the latency floor fails and a slower one under it passes. Then the Flagger
// webhook (POST /api/gate) and the umbra_verdict gauge.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, metricValue, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

type Answerer = (req: IncomingMessage, res: ServerResponse) => void;

const answer =
  (body: (n: number) => unknown, delayMs = 0): Answerer =>
  (req, res) => {
    const n = Number(/\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    const send = (): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body(n)));
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  };

// A latency floor well above a loaded machine's noise: only the latency test lowers it, with a dark far slower than that.
const GATE = 'gate: { minComparisons: 40, maxMismatchRate: 0.02, maxErrorRate: 0.05, latencyFloor: 2s }';

async function pair(t: Test, live: Answerer, dark: Answerer, gate = GATE, opts: { token?: string } = {}): Promise<TestUmbra> {
  const l = await startBackend(live);
  const d = await startBackend(dark);
  const routes = 'routes:\n  - { name: items, match: { path: /items/:id } }\n  - { name: other, match: { prefix: /other } }';
  const umbra = await startTestUmbra(`live: { url: "${l.url}" }\ndark: { url: "${d.url}", maxInFlight: 512 }\nmirror: { sample: 1.0 }\n${gate}\n${routes}`, { level: 'info', ...opts });
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([l.close(), d.close()]);
  });
  return umbra;
}

/** n requests, `concurrency` at a time; then waits until umbra has settled them all (compared or failed). */
async function drive(umbra: TestUmbra, n: number, concurrency = 8): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const r = await request(`${umbra.proxyUrl}/items/${i}`);
        if (r.status !== 200) throw new Error(`live answer ${r.status}`);
      }
    }),
  );
  await until(
    () => {
      const v = umbra.mirror?.views().find((r) => r.name === 'items');
      if (v === undefined) return false;
      const dropped = Object.values(v.dropped).reduce((a, b) => a + b, 0);
      return v.mirrored + dropped >= n && v.compared + v.skipped >= v.mirrored;
    },
    15_000,
    `${n} exchanges settled`,
  );
}

const verdict = async (umbra: TestUmbra, query = 'route=items'): Promise<{ status: number; body: any }> => json(`${umbra.adminUrl}/api/verdict?${query}`);

t.test('an identical dark passes; the umbra_verdict gauge and the all-routes answer agree', async (t) => {
  const umbra = await pair(t, answer((n) => ({ id: n, name: `item ${n}` })), answer((n) => ({ id: n, name: `item ${n}` })));
  await drive(umbra, 300);
  const { status, body: v } = await verdict(umbra);
  t.equal(status, 200);
  t.equal(v.verdict, 'pass', v.reasons.join('; '));
  t.equal(v.route, 'items');
  t.equal(v.comparisons, 300);
  t.equal(v.mismatches, 0);
  t.ok(v.mismatchRateUpper <= 0.02, `upper bound ${v.mismatchRateUpper}`);
  t.equal(v.errors, 0);
  t.equal(v.window, '15m');
  t.type(v.latency.live.p99, 'number');
  t.type(v.latency.dark.p99, 'number');
  t.match(v.reasons.join('\n'), /at most 1\.\d+% with 95% confidence, within maxMismatchRate 2%/);
  const all = await verdict(umbra, '');
  t.equal(all.body.verdict, 'pass', 'all routes: the idle ones do not hold it back');
  t.same(
    all.body.routes.map((r: { route: string; verdict: string }) => [r.route, r.verdict]),
    [
      ['items', 'pass'],
      ['other', 'inconclusive'],
      ['default', 'inconclusive'],
    ],
  );
  const metrics = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(metrics, 'umbra_verdict', { route: 'items', verdict: 'pass' }), 1);
  t.equal(metricValue(metrics, 'umbra_verdict', { route: 'items', verdict: 'fail' }), 0);
  t.equal(metricValue(metrics, 'umbra_verdict', { route: 'other', verdict: 'inconclusive' }), 1);
  const routes = await json(`${umbra.adminUrl}/api/routes`);
  t.equal(routes.body.routes[0].verdict, 'pass', '/api/routes carries the verdict too');
});

t.test('a dark that differs on 10% of answers fails, with the lower bound over the limit', async (t) => {
  const umbra = await pair(t, answer((n) => ({ id: n, price: 10 })), answer((n) => ({ id: n, price: n % 10 === 0 ? 11 : 10 })));
  await drive(umbra, 300);
  const { body: v } = await verdict(umbra);
  t.equal(v.verdict, 'fail', v.reasons.join('; '));
  t.equal(v.mismatches, 30);
  t.equal(v.mismatchRate, 0.1);
  t.ok(v.mismatchRateLower > 0.02, `lower bound ${v.mismatchRateLower}`);
  t.match(v.reasons[0], /mismatch rate 10% \(30 of 300\) is above maxMismatchRate 2%: at least \d/);
  const metrics = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(metrics, 'umbra_verdict', { route: 'items', verdict: 'fail' }), 1);
  t.equal((await verdict(umbra, '')).body.verdict, 'fail', 'one failing route fails them all');
});

t.test('too few comparisons: inconclusive, saying how many of how many', async (t) => {
  const umbra = await pair(t, answer((n) => ({ id: n })), answer((n) => ({ id: n })));
  await drive(umbra, 12);
  const { body: v } = await verdict(umbra);
  t.equal(v.verdict, 'inconclusive');
  t.equal(v.comparisons, 12);
  t.match(v.reasons[0], /^12 of the 40 comparisons a verdict needs \(gate\.minComparisons\) in the last 15m$/);
});

t.test('a dark slower than live beyond the floor fails; slower under the floor passes', async (t) => {
  // Dark takes 400 ms more than live: over a 100 ms floor and far beyond 1.25× live, however loaded the machine.
  const slow = await pair(t, answer((n) => ({ id: n })), answer((n) => ({ id: n }), 400), 'gate: { minComparisons: 40, maxMismatchRate: 0.02, latencyFloor: 100ms }');
  await drive(slow, 80, 16);
  const { body: v } = await verdict(slow);
  t.equal(v.verdict, 'fail', v.reasons.join('; '));
  t.ok(v.latency.dark.p99 >= 380, `dark p99 ${v.latency.dark.p99} ms`);
  t.ok(v.latency.ratio > 1.25, `ratio ${v.latency.ratio}`);
  t.match(v.reasons.join('\n'), /dark p99 \d+ ms is [\d.]+× live p99 [\d.]+ ms, above maxLatencyRatio 1\.25/);

  // Dark takes 200 ms more than live: many times live's p99, but under a 1 s floor.
  const under = await pair(t, answer((n) => ({ id: n })), answer((n) => ({ id: n }), 200), 'gate: { minComparisons: 40, maxMismatchRate: 0.05, latencyFloor: 1s }');
  await drive(under, 80, 16);
  const { body: u } = await verdict(under);
  t.equal(u.verdict, 'pass', u.reasons.join('; '));
  t.ok(u.latency.dark.p99 < 1000, `dark p99 ${u.latency.dark.p99} ms is under the floor`);
  t.ok(u.latency.ratio > 1.25, `though ${u.latency.ratio}× live's`);
  t.match(u.reasons.join('\n'), /under latencyFloor 1 s: latency not judged/);
});

t.test('a dark answering 500 where live answers 200 fails on its error rate', async (t) => {
  const umbra = await pair(
    t,
    answer((n) => ({ id: n })),
    (req, res) => {
      const n = Number(/\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
      res.writeHead(n % 5 === 0 ? 500 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: n }));
    },
    'gate: { minComparisons: 40, maxMismatchRate: 0.5, maxErrorRate: 0.05, latencyFloor: 2s }',
  );
  await drive(umbra, 100);
  const { body: v } = await verdict(umbra);
  t.equal(v.errors, 20, 'each 500 is a dark failure');
  t.equal(v.errorRate, 0.2);
  t.equal(v.verdict, 'fail');
  t.match(v.reasons.join('\n'), /dark error rate 20% \(20 of 100 mirrored: 5xx 20\) is above maxErrorRate 5%/);
});

t.test('POST /api/gate: the Flagger webhook, 200 on pass and 412 otherwise, no token needed', async (t) => {
  const token = 'gate-test-token-1234';
  // Dark adds a field to every fourth item; the other route's answers agree.
  const dark: Answerer = (req, res) => {
    const n = Number(/\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.url?.startsWith('/items/') === true && n % 4 === 0 ? { id: n, extra: true } : { id: n }));
  };
  const umbra = await pair(t, answer((n) => ({ id: n })), dark, GATE, { token });
  const gate = (body: unknown): Promise<{ status: number; body: any }> =>
    json(`${umbra.adminUrl}/api/gate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const payload = { name: 'shop-api', namespace: 'shop', phase: 'Progressing', metadata: { route: 'items' } };

  const early = await gate(payload);
  t.equal(early.status, 412, 'inconclusive is not a pass');
  t.equal(early.body.verdict, 'inconclusive');
  t.same(early.body.gate, { name: 'shop-api', namespace: 'shop', phase: 'Progressing' });

  await drive(umbra, 200);
  const failing = await gate(payload);
  t.equal(failing.status, 412);
  t.equal(failing.body.verdict, 'fail');

  // A route whose dark agrees: pass, 200.
  // With no mismatch, 190 comparisons bring the 95% upper bound under 2%.
  for (let i = 0; i < 200; i++) await request(`${umbra.proxyUrl}/other/${i}`);
  await until(async () => (await json(`${umbra.adminUrl}/api/verdict?route=other`)).body.comparisons >= 200, 10_000, 'other compared');
  const passing = await gate({ ...payload, metadata: { route: 'other', window: '5m' } });
  t.equal(passing.status, 200, passing.body.reasons?.join('; '));
  t.equal(passing.body.verdict, 'pass');
  t.equal(passing.body.window, '5m');

  const all = await gate({ name: 'shop-api', namespace: 'shop', phase: 'Progressing' });
  t.equal(all.status, 412, 'without metadata.route: every route, and items fails');
  t.equal(all.body.verdict, 'fail');

  t.equal((await gate([1])).status, 400, 'not an object');
  t.match((await gate({ metadata: { route: 7 } })).body.error, /metadata\.route must be a string/);
  t.equal((await gate({ metadata: { route: 'nope' } })).status, 404);
  t.equal((await gate({ metadata: { route: 'items', window: '9h' } })).status, 400);
  t.equal((await json(`${umbra.adminUrl}/api/gate`)).status, 405, 'GET is not the webhook');
  // The token guards the rest of the API, not these two.
  t.equal((await json(`${umbra.adminUrl}/api/routes`)).status, 401);
  t.equal((await verdict(umbra)).status, 200);
  const line = umbra.logs.find((l) => l['msg'] === 'gate: pass for other');
  t.ok(line, 'each gate call is a log line');
  t.equal(line?.['phase'], 'Progressing');
});

t.test('/api/verdict: a bad window is a 400, an unknown route a 404, no dark a 409', async (t) => {
  const umbra = await pair(t, answer(() => ({})), answer(() => ({})));
  t.equal((await verdict(umbra, 'route=items&window=7h')).status, 400);
  t.match((await verdict(umbra, 'route=items&window=soon')).body.error, /window must be a duration from 1m to 6h/);
  t.equal((await verdict(umbra, 'route=items&window=30s')).status, 400, 'under a minute');
  t.equal((await verdict(umbra, 'route=items&window=1h')).body.window, '1h');
  t.equal((await verdict(umbra, 'route=nope')).status, 404);
  t.equal((await json(`${umbra.adminUrl}/api/verdict`, { method: 'POST' })).status, 405);
  const l = await startBackend(answer(() => ({})));
  const liveOnly = await startTestUmbra(`live: { url: "${l.url}" }`);
  t.teardown(async () => {
    await liveOnly.stop();
    await l.close();
  });
  const none = await json(`${liveOnly.adminUrl}/api/verdict`);
  t.equal(none.status, 409);
  t.match(none.body.error, /no dark backend/);
});
