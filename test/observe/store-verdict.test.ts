// The fleet's release verdict (DESIGN §11, §12) on the machine's real
// PostgreSQL: with a store, /api/verdict judges every instance's minute counts
// of the route together (latency histograms and dark 5xx included), and falls
// back to this instance's own, saying so, when the database does not answer.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, request, startBackend, until } from '../helpers/net.js';
import { pgProxy, testDatabase } from '../helpers/pg.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

const FAST = { flushMs: 50, summaryMs: 100, retentionMs: 60_000, warnEveryMs: 200, connectTimeoutMs: 500, statementTimeoutMs: 1_000, apiTimeoutMs: 1_000, backoffMinMs: 50, backoffMaxMs: 300 };

const answer =
  (body: (n: number) => unknown, status: (n: number) => number = () => 200) =>
  (req: IncomingMessage, res: ServerResponse): void => {
    const n = Number(/\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    res.writeHead(status(n), { 'content-type': 'application/json' });
    res.end(JSON.stringify(body(n)));
  };

/** An umbra of service shop with its own live and dark backends, writing to the store at `url`. */
async function pod(t: Test, instance: string, url: string, dark: ReturnType<typeof answer>): Promise<TestUmbra> {
  const live = await startBackend(answer((n) => ({ id: n })));
  const d = await startBackend(dark);
  const umbra = await startTestUmbra(
    [
      'service: shop',
      `instance: ${instance}`,
      `live: { url: "${live.url}" }`,
      `dark: { url: "${d.url}" }`,
      'mirror: { sample: 1.0 }',
      'gate: { minComparisons: 50, maxMismatchRate: 0.05, maxErrorRate: 0.05, latencyFloor: 5s }',
      'routes:',
      '  - { name: items, match: { prefix: /items } }',
      `store: { url: "${url}" }`,
    ].join('\n'),
    { level: 'info', storeTiming: FAST },
  );
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), d.close()]);
  });
  return umbra;
}

async function send(umbra: TestUmbra, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await request(`${umbra.proxyUrl}/items/${i}`);
  await until(() => (umbra.mirror?.runtime('items')?.stats.compared ?? 0) >= n, 10_000, `${n} compared`);
}

t.test("with a store, the verdict is the fleet's: every pod's minutes judged together", async (t) => {
  const db = await testDatabase(t);
  const proxy = await pgProxy(t);
  const url = `postgres://postgres@127.0.0.1:${proxy.port}/${db.name}`;
  // pod-a's dark agrees; pod-b's adds a field to every 4th answer and fails every 10th with a 500.
  const a = await pod(t, 'pod-a', url, answer((n) => ({ id: n })));
  const b = await pod(
    t,
    'pod-b',
    url,
    answer(
      (n) => (n % 4 === 1 ? { id: n, extra: true } : { id: n }),
      (n) => (n % 10 === 9 ? 500 : 200),
    ),
  );
  await send(a, 120);
  await send(b, 120);


  // pod-b's minute reaches the store within a summary period; then pod-a answers for both.
  // A flush can land between an exchange's mirror decision and its verdict (mirrored
  // 240, compared 239): wait for both, as the last flush has them.
  const v = await until(
    async () => {
      const r = (await json(`${a.adminUrl}/api/verdict?route=items`)).body;
      return r.fleet === true && r.instances === 2 && r.mirrored === 240 && r.comparisons === 240 ? r : null;
    },
    10_000,
    "pod-b's counts in pod-a's verdict",
  );
  t.equal(v.comparisons, 240, 'both pods compared');
  // 30 answers with the extra field, 12 with a 500 (a status mismatch too); 6 are both.
  t.equal(v.mismatches, 36, "pod-b's mismatches");
  t.equal(v.errors, 12, "pod-b's 500s are dark failures");
  t.equal(v.verdict, 'fail', v.reasons.join('; '));
  t.match(v.reasons[0], /mismatch rate 15% \(36 of 240\) is above maxMismatchRate 5%/);
  t.type(v.latency.dark.p99, 'number', 'latency from both pods');
  const own = a.mirror?.runtime('items');
  t.equal(own === undefined ? null : a.mirror?.verdict(own).verdict, 'pass', "pod-a's own counts alone would pass");

  // The gate reads the same.
  const gate = await json(`${a.adminUrl}/api/gate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { route: 'items' } }) });
  t.equal(gate.status, 412);
  t.equal(gate.body.instances, 2);

  // The database goes away: pod-a's own verdict, and it says why.
  proxy.cut();
  const alone = await until(
    async () => {
      const r = (await json(`${a.adminUrl}/api/verdict?route=items`)).body;
      return r.fleet === false ? r : null;
    },
    10_000,
    'the local fallback',
  );
  t.equal(alone.comparisons, 120);
  t.equal(alone.verdict, 'pass');
  t.match(alone.store, /^unavailable: /);
  t.notMatch(JSON.stringify(alone), /postgres:\/\//, 'no connection string in the answer');
  const all = (await json(`${a.adminUrl}/api/verdict`)).body;
  t.equal(all.routes[0].fleet, false);
});
