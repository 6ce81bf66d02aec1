// The kill switch's rollback time (DESIGN §7, §12): POST /api/mirror/pause
// aborts every shadow request under way within 1 s, measured from the call to
// the moment the dark backend sees each request's connection (HTTP/1.1) or
// stream (h2c) close. Aborted requests are skipped (dark_paused), not counted
// as dark failures. A route's pause aborts that route's requests only.
import t, { type Test } from 'tap';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { json, metricValue, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

const IN_FLIGHT = 32;

interface HangingDark {
  readonly url: string;
  /** Requests received, by path. */
  readonly seen: string[];
  /** performance.now() when each request's connection or stream closed, by path. */
  readonly closed: Map<string, number>;
  close(): Promise<void>;
}

/** A dark backend that never answers: only the kill switch ends its requests. */
async function hangingHttp1(): Promise<HangingDark> {
  const seen: string[] = [];
  const closed = new Map<string, number>();
  const b = await startBackend((req) => {
    const path = req.url ?? '/';
    seen.push(path);
    req.socket.on('close', () => closed.set(path, performance.now()));
  });
  return { url: b.url, seen, closed, close: () => b.close() };
}

async function hangingH2c(): Promise<HangingDark> {
  const seen: string[] = [];
  const closed = new Map<string, number>();
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    seen.push(path);
    stream.on('close', () => closed.set(path, performance.now()));
    stream.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    closed,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Sessions umbra still holds would keep close() waiting.
        setTimeout(resolve, 2000).unref();
      }),
  };
}

async function setup(t: Test, dark: HangingDark, protocol: 'http1' | 'h2c'): Promise<TestUmbra> {
  const live = await startBackend((_req, res) => res.end('{"ok":true}'));
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }\ndark: { url: "${dark.url}", protocol: ${protocol}, timeout: 60s, maxInFlight: 128 }\nmirror: { sample: 1.0 }\nroutes:\n  - { name: a, match: { prefix: /a/ } }\n  - { name: b, match: { prefix: /b/ } }\n`,
    { level: 'info' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close()]);
  });
  return umbra;
}

/** Send n requests to each prefix; live answers at once, dark holds them all. */
async function fill(umbra: TestUmbra, dark: HangingDark, prefixes: readonly string[], n: number): Promise<void> {
  for (const p of prefixes) await Promise.all(Array.from({ length: n }, (_, i) => request(`${umbra.proxyUrl}${p}${i}`)));
  await until(() => dark.seen.length >= n * prefixes.length, 10_000, `${n * prefixes.length} shadow requests at dark`);
}

for (const protocol of ['http1', 'h2c'] as const) {
  t.test(`${protocol}: pause aborts every shadow request under way within 1 s`, async (t) => {
    const dark = protocol === 'http1' ? await hangingHttp1() : await hangingH2c();
    const umbra = await setup(t, dark, protocol);
    await fill(umbra, dark, ['/a/'], IN_FLIGHT);
    t.equal(umbra.mirror?.inFlight.dark, IN_FLIGHT, `${IN_FLIGHT} shadow requests under way`);
    t.equal(dark.closed.size, 0, 'none has ended');

    const started = performance.now();
    const r = await json(`${umbra.adminUrl}/api/mirror/pause`, { method: 'POST' });
    t.same(r.body, { paused: true, aborted: IN_FLIGHT });
    await until(() => dark.closed.size >= IN_FLIGHT, 5000, 'dark to see every request end');
    const last = Math.max(...dark.closed.values()) - started;
    t.comment(`kill switch (${protocol}): ${IN_FLIGHT} shadow requests aborted; the last ended at dark ${last.toFixed(1)} ms after the pause call`);
    t.ok(last < 1000, `within 1 s (${last.toFixed(1)} ms)`);
    t.equal(umbra.mirror?.inFlight.dark, 0, 'no dark slot held');

    // Skipped as paused, never a dark failure.
    await until(() => umbra.mirror?.runtime('a')?.stats.counts.total.skippedBy.dark_paused === IN_FLIGHT, 5000, 'the skips counted');
    const metrics = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
    t.equal(metricValue(metrics, 'umbra_comparison_skips_total', { route: 'a', reason: 'dark_paused' }), IN_FLIGHT);
    t.notMatch(metrics, /umbra_shadow_errors_total\{/, 'no shadow error');
    t.equal(umbra.mirror?.runtime('a')?.stats.errors, 0);
    const audit = umbra.logs.find((l) => l['action'] === 'pause mirroring');
    t.equal(audit?.['aborted'], IN_FLIGHT);
    t.type(audit?.['abortMs'], 'number');

    // Paused: the next requests are answered and not mirrored.
    const seen = dark.seen.length;
    for (let i = 0; i < 5; i++) t.equal((await request(`${umbra.proxyUrl}/a/after-${i}`)).status, 200);
    t.equal(dark.seen.length, seen, 'nothing more reaches dark');
    t.equal(umbra.mirror?.runtime('a')?.stats.counts.total.dropped.paused, 5);
    t.same((await json(`${umbra.adminUrl}/api/mirror/resume`, { method: 'POST' })).body, { paused: false });
  });
}

t.test("a route's pause aborts that route's shadow requests only", async (t) => {
  const dark = await hangingHttp1();
  const umbra = await setup(t, dark, 'http1');
  await fill(umbra, dark, ['/a/', '/b/'], 8);
  const r = await json(`${umbra.adminUrl}/api/routes/a/pause`, { method: 'POST' });
  t.same(r.body, { route: 'a', paused: true, aborted: 8 });
  await until(() => [...dark.closed.keys()].filter((p) => p.startsWith('/a/')).length === 8, 5000, "route a's requests to end");
  t.equal([...dark.closed.keys()].filter((p) => p.startsWith('/b/')).length, 0, "route b's go on");
  t.equal(umbra.mirror?.inFlight.dark, 8);
  // Route a is not mirrored while paused; b is.
  await request(`${umbra.proxyUrl}/a/later`);
  await request(`${umbra.proxyUrl}/b/later`);
  await until(() => dark.seen.includes('/b/later'), 5000, 'b still mirrored');
  t.notOk(dark.seen.includes('/a/later'), 'a is not');
  const line = umbra.logs.find((l) => l['action'] === 'pause route');
  t.equal(line?.['route'], 'a');
  t.equal(line?.['aborted'], 8);
  const view = (await json(`${umbra.adminUrl}/api/routes`)).body.routes as { name: string; paused: boolean; pausedBy: string | null }[];
  t.same(view.find((r) => r.name === 'a'), { ...view.find((r) => r.name === 'a'), paused: true, pausedBy: '127.0.0.1' }, 'paused by the caller');
  t.equal(view.find((r) => r.name === 'b')?.pausedBy, null);
  t.equal((await json(`${umbra.adminUrl}/api/routes/nope/pause`, { method: 'POST' })).status, 404);
  t.equal((await json(`${umbra.adminUrl}/api/routes/a/pause`)).status, 405);
});

t.test('shutdown: shadow requests still under way end as paused, not as dark failures', async (t) => {
  const dark = await hangingHttp1();
  const umbra = await setup(t, dark, 'http1');
  await fill(umbra, dark, ['/a/'], 8);
  t.equal(umbra.mirror?.inFlight.dark, 8, '8 shadow requests under way');
  const rt = umbra.mirror?.runtime('a');
  await umbra.stop();
  await until(() => dark.closed.size >= 8, 5000, 'dark to see every request end');
  t.equal(rt?.stats.counts.total.skippedBy.dark_paused, 8, 'each one skipped dark_paused');
  t.equal(rt?.stats.errors, 0, 'no dark error for the route');
  const metrics = await umbra.metrics.registry.metrics();
  t.equal(metricValue(metrics, 'umbra_comparison_skips_total', { route: 'a', reason: 'dark_paused' }), 8);
  t.notMatch(metrics, /umbra_shadow_errors_total\{/, 'no shadow error counted');
  t.notOk(
    umbra.logs.some((l) => l['msg'] === 'shadow request failed'),
    'no "shadow request failed" line',
  );
});

t.test('shutdown: a shadow request already out of time when umbra stops is a dark timeout, not a pause', async (t) => {
  const dark = await hangingHttp1();
  const live = await startBackend((_req, res) => res.end('{"ok":true}'));
  // Shutdown waits min(1 s, drainTimeout) for shadow work: by then these are past their 1 s.
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}", timeout: 1s }\nmirror: { sample: 1.0 }\n`, { level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close()]);
  });
  await fill(umbra, dark, ['/t/'], 8);
  const rt = umbra.mirror?.runtime('default');
  await umbra.stop();
  t.equal(rt?.stats.counts.total.skippedBy.dark_timeout, 8, 'each one skipped dark_timeout');
  t.equal(rt?.stats.counts.total.skippedBy.dark_paused ?? 0, 0, 'none as paused');
  const metrics = await umbra.metrics.registry.metrics();
  t.equal(metricValue(metrics, 'umbra_shadow_errors_total', { target: 'dark', reason: 'timeout' }), 8, 'counted as dark timeouts');
});
