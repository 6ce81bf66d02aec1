// Ordered shadow requests (DESIGN §2.9, mirror.orderBy) against real loopback
// servers: a mirrored read never overtakes the mirrored write before it, one at
// a time per key in live-completion order, over_queue, and waiting bounded by
// dark.timeout. The queues themselves are checked with plain calls first.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metricValue, request, sleep, startBackend, until, type Backend } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';
import { OrderQueues } from '../../src/mirror/order.js';

const CARTS = 12;
const TOKEN = 'test-token-123';
const auth = { authorization: `Bearer ${TOKEN}` };

async function metrics(umbra: TestUmbra): Promise<string> {
  return (await request(`${umbra.adminUrl}/metrics`)).body.toString();
}

t.test('queues: one turn at a time per key, in join order; places bounded; empty keys let go', (t) => {
  const q = new OrderQueues();
  const ran: string[] = [];
  const turn = (name: string) => ({ start: () => ran.push(name) });
  t.ok(q.hold('k', 1));
  t.ok(q.hold('k', 1));
  t.notOk(q.hold('k', 1), 'one running + one waiting: the third is refused');
  t.ok(q.hold('other', 0), 'another key has its own queue');
  const b = turn('b');
  q.join('k', turn('a'));
  q.join('k', b);
  q.join('other', turn('x'));
  t.strictSame(ran, ['a', 'x'], 'b waits behind a; x does not wait for k');
  q.finish('k');
  t.strictSame(ran, ['a', 'x', 'b']);
  q.finish('k');
  q.finish('other');
  t.equal(q.size, 0, 'no queue is kept once nothing holds a place');
  // A place given up before its turn: it never runs, and the next one does.
  q.hold('k', 4);
  q.hold('k', 4);
  q.hold('k', 4);
  q.join('k', turn('c'));
  const d = turn('d');
  q.join('k', d);
  q.join('k', turn('e'));
  q.leave('k', d);
  q.finish('k');
  t.strictSame(ran.slice(3), ['c', 'e']);
  q.finish('k');
  t.equal(q.held('k'), 0);
  t.equal(q.size, 0);
  q.hold('k', 0);
  q.leave('k', null);
  t.equal(q.size, 0, 'a place left before joining is let go too');
  t.end();
});

/**
 * A cart service with its own in-memory data. A write (POST /carts/:id/items)
 * takes `commitMs` before it is committed and answered, as a database would;
 * a read (GET /carts/:id) answers at once: 404 for a cart with no items yet.
 */
async function cartService(commitMs: number): Promise<Backend & { maxConcurrentPerCart: () => number; order: string[] }> {
  const carts = new Map<string, string[]>();
  const busy = new Map<string, number>();
  let maxPerCart = 0;
  const order: string[] = [];
  const b = await startBackend((req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const m = /^\/carts\/([^/]+)(\/items)?$/.exec(req.url ?? '');
    const id = m?.[1] ?? '';
    order.push(`${req.method} ${req.url}`);
    const n = (busy.get(id) ?? 0) + 1;
    busy.set(id, n);
    maxPerCart = Math.max(maxPerCart, n);
    const done = (status: number, value: unknown): void => {
      busy.set(id, (busy.get(id) ?? 1) - 1);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method === 'POST' && m?.[2] !== undefined) {
      setTimeout(() => {
        const items = carts.get(id) ?? [];
        items.push((JSON.parse(body.toString()) as { sku: string }).sku);
        carts.set(id, items);
        done(201, { cart: id, items });
      }, commitMs);
      return;
    }
    const items = carts.get(id);
    done(items === undefined ? 404 : 200, items === undefined ? { error: 'no such cart' } : { cart: id, items });
  });
  return Object.assign(b, { maxConcurrentPerCart: () => maxPerCart, order });
}

async function cartSetup(t: Test, orderBy: string): Promise<{ umbra: TestUmbra; live: Backend; dark: Awaited<ReturnType<typeof cartService>> }> {
  const live = await cartService(0);
  const dark = await cartService(1000);
  const umbra = await startTestUmbra(
    [
      `live: { url: "${live.url}" }`,
      `dark: { url: "${dark.url}", timeout: 10s }`,
      'mirror: { sample: 1, methods: [GET, POST] }',
      'routes:',
      `  - { name: add-item, match: { path: /carts/:id/items, methods: [POST] }${orderBy === '' ? '' : `, mirror: { orderBy: ${orderBy} }`} }`,
      `  - { name: get-cart, match: { path: /carts/:id, methods: [GET] }${orderBy === '' ? '' : `, mirror: { orderBy: ${orderBy} }`} }`,
    ].join('\n'),
    { token: TOKEN, level: 'warn' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  return { umbra, live, dark };
}

/** CARTS carts, each: add an item, then read the cart as soon as the write answered. */
async function readAfterWrite(umbra: TestUmbra): Promise<void> {
  await Promise.all(
    Array.from({ length: CARTS }, async (_, i) => {
      const w = await request(`${umbra.proxyUrl}/carts/c${i}/items`, { method: 'POST', body: JSON.stringify({ sku: `sku-${i}` }), headers: { 'content-type': 'application/json' } });
      if (w.status !== 201) throw new Error(`write answered ${w.status}`);
      const r = await request(`${umbra.proxyUrl}/carts/c${i}`);
      if (r.status !== 200) throw new Error(`read answered ${r.status}`);
    }),
  );
}

/** The metrics text once at least `n` comparisons have finished. */
async function settled(umbra: TestUmbra, n: number, ms = 15_000): Promise<string> {
  let text = '';
  await until(async () => {
    text = await metrics(umbra);
    return metricValue(text, 'umbra_comparisons_total') >= n;
  }, ms, `${n} comparisons`);
  return text;
}

t.test('read after write, unordered: the mirrored read overtakes the write (the problem orderBy solves)', async (t) => {
  const { umbra } = await cartSetup(t, '');
  await readAfterWrite(umbra);
  const m = await settled(umbra, 2 * CARTS);
  const mismatches = metricValue(m, 'umbra_comparisons_total', { route: 'get-cart', result: 'mismatch' });
  t.ok(mismatches > 0, `without ordering ${mismatches} of ${CARTS} reads diverge (dark answered 404 before its write committed)`);
});

t.test('read after write, orderBy path:id: no divergence, and one request at a time per cart on dark', async (t) => {
  const { umbra, dark } = await cartSetup(t, 'path:id');
  await readAfterWrite(umbra);
  const m = await settled(umbra, 2 * CARTS);
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'match' }), 2 * CARTS, 'every write and every read matches');
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'mismatch' }), 0);
  t.equal(dark.maxConcurrentPerCart(), 1, 'dark never held two requests of one cart at once');
  for (let i = 0; i < CARTS; i++) {
    const w = dark.order.indexOf(`POST /carts/c${i}/items`);
    const r = dark.order.indexOf(`GET /carts/c${i}`);
    t.ok(w !== -1 && w < r, `cart c${i}: the write reached dark before the read`);
  }
  t.equal(umbra.mirror?.order.size, 0, 'every queue let go');
  const routes = (await request(`${umbra.adminUrl}/api/routes`, { headers: auth })).body.toString();
  t.match(routes, /"name":"get-cart"/);
});

t.test('shadow requests reach dark in the order their live answers completed', async (t) => {
  // Live answers the requests in the reverse order they arrive; dark must see live's order.
  const delays: Record<string, number> = { '/k/1?key=a': 400, '/k/2?key=a': 200, '/k/3?key=a': 0 };
  const completed: string[] = [];
  const live = await startBackend((req, res) =>
    setTimeout(() => {
      completed.push(req.url ?? '');
      res.end('same');
    }, delays[req.url ?? ''] ?? 0),
  );
  const dark = await startBackend((_req, res) => res.end('same'));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1, orderBy: "query:key" }`, { level: 'warn' });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  await Promise.all(Object.keys(delays).map((u) => request(`${umbra.proxyUrl}${u}`)));
  await until(() => dark.seen.length === 3, 5000, 'dark to see all three');
  t.strictSame(
    dark.seen.map((s) => s.url),
    completed,
    'live-completion order, not arrival order',
  );
  t.not(completed[0], '/k/1?key=a', 'the first to arrive was not the first to complete');
});

t.test('over_queue: past maxQueuedPerKey a shadow request is dropped and counted; other keys and keyless requests are not held up', async (t) => {
  let darkBusy = 0;
  let darkMax = 0;
  const live = await startBackend((_req, res) => res.end('ok'));
  const dark = await startBackend((_req, res) => {
    darkBusy++;
    darkMax = Math.max(darkMax, darkBusy);
    setTimeout(() => {
      darkBusy--;
      res.end('ok');
    }, 300);
  });
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }\ndark: { url: "${dark.url}", timeout: 10s }\nmirror: { sample: 1, orderBy: "header:x-cart", maxQueuedPerKey: 1 }`,
    { token: TOKEN, level: 'warn' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  // Five of cart A at once: one is sent, one waits, three are over the queue.
  await Promise.all(Array.from({ length: 5 }, () => request(`${umbra.proxyUrl}/a`, { headers: { 'x-cart': 'A' } })));
  // Cart B and a request with no cart key are not behind cart A.
  await Promise.all([request(`${umbra.proxyUrl}/b`, { headers: { 'x-cart': 'B' } }), request(`${umbra.proxyUrl}/none`)]);
  const m = await settled(umbra, 4, 10_000);
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { decision: 'over_queue' }), 3);
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { decision: 'mirrored' }), 4);
  t.ok(darkMax >= 2, `cart B or the keyless request ran beside cart A on dark (at most ${darkMax} at once)`);
  const api = JSON.parse((await request(`${umbra.adminUrl}/api/routes`, { headers: auth })).body.toString()) as { routes: { dropped: Record<string, number> }[] };
  t.equal(api.routes[0]?.dropped.over_queue, 3, 'the API counts it too');
});

t.test('waiting for a turn is bounded by dark.timeout: counted as a dark timeout, never sent', async (t) => {
  const live = await startBackend((_req, res) => res.end('ok'));
  const dark = await startBackend((_req, res) => setTimeout(() => res.end('ok'), 400));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}", timeout: 600ms }\nmirror: { sample: 1, orderBy: "query:k" }`, { level: 'warn' });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  // Sent one after the other so live completes them in this order; dark takes 400 ms each.
  for (let i = 0; i < 3; i++) await request(`${umbra.proxyUrl}/x${i}?k=1`);
  const m = await settled(umbra, 3, 10_000);
  await sleep(100);
  const sent = dark.seen.length;
  t.ok(sent < 3, `the last one waited past dark.timeout and was not sent (dark saw ${sent})`);
  t.equal(metricValue(m, 'umbra_shadow_errors_total', { target: 'dark', reason: 'timeout' }), 3 - sent, 'each one not sent is a dark timeout');
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'dark_timeout' }), 3 - sent);
  t.strictSame(dark.seen.map((s) => s.url), ['/x0?k=1', '/x1?k=1'].slice(0, sent), 'the ones sent kept their order');
  t.equal(umbra.mirror?.inFlight.dark, 0, 'the dark slots of requests never sent were given back');
  t.equal(umbra.mirror?.order.size, 0);
});

t.test('an ordered write whose live exchange fails is never sent to dark', async (t) => {
  const live = await startBackend((req, res) => {
    if (req.url === '/carts/1/fail') res.socket?.destroy();
    else res.end('ok');
  });
  const dark = await startBackend((_req, res) => res.end('ok'));
  const umbra = await startTestUmbra(
    [
      `live: { url: "${live.url}" }`,
      `dark: { url: "${dark.url}" }`,
      'mirror: { sample: 1, methods: [GET, POST] }',
      'routes:',
      '  - { name: cart, match: { path: /carts/:id/:op }, mirror: { orderBy: "path:id" } }',
    ].join('\n'),
    { level: 'warn' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  const failed = await request(`${umbra.proxyUrl}/carts/1/fail`, { method: 'POST', body: '{}' });
  t.equal(failed.status, 502);
  await request(`${umbra.proxyUrl}/carts/1/ok`, { method: 'POST', body: '{}' });
  await until(() => dark.seen.length === 1, 5000, 'the second write on dark');
  const m = await settled(umbra, 2, 5000);
  await sleep(100);
  t.strictSame(dark.seen.map((s) => s.url), ['/carts/1/ok']);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'live_reset' }), 1);
  t.equal(metricValue(m, 'umbra_shadow_errors_total', { target: 'dark' }), 0, 'not a dark failure');
  t.equal(umbra.mirror?.inFlight.dark, 0);
  t.equal(umbra.mirror?.order.size, 0);
});
