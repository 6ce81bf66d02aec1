// Shadow traffic against real loopback servers: sampling, methods, the marker
// header, the limits, the dial and the kill switch (DESIGN §2 guarantees 2, 3).
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { refusedPort, json, metricValue, request, sleep, startBackend, until, type Backend } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

const TOKEN = 'test-token-123';
const auth = { authorization: `Bearer ${TOKEN}` };

async function metrics(umbra: TestUmbra): Promise<string> {
  return (await request(`${umbra.adminUrl}/metrics`)).body.toString();
}

/** A backend answering a fixed JSON body, tracking how many requests it holds at once. */
async function jsonBackend(body: unknown, delayMs = 0): Promise<Backend & { maxConcurrent: () => number }> {
  let current = 0;
  let max = 0;
  const b = await startBackend((_req, res) => {
    current++;
    max = Math.max(max, current);
    setTimeout(() => {
      current--;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    }, delayMs);
  });
  return Object.assign(b, { maxConcurrent: () => max });
}

async function setup(
  t: Test,
  yaml: (live: string, dark: string) => string,
  darkDelay = 0,
): Promise<{ live: Backend; dark: Backend & { maxConcurrent: () => number }; umbra: TestUmbra }> {
  const live = await jsonBackend({ ok: true });
  const dark = await jsonBackend({ ok: true }, darkDelay);
  const umbra = await startTestUmbra(yaml(live.url, dark.url), { token: TOKEN, level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  return { live, dark, umbra };
}

t.test('random sampling mirrors the configured fraction', async (t) => {
  const { dark, umbra } = await setup(t, (l, d) => `live: { url: "${l}" }\ndark: { url: "${d}" }\nmirror: { sample: 0.3 }`);
  const n = 600;
  for (let i = 0; i < n; i += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, j) => request(`${umbra.proxyUrl}/items/${i + j}`)));
  }
  const m = await metrics(umbra);
  const mirrored = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'mirrored' });
  const notSampled = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'not_sampled' });
  t.equal(mirrored + notSampled, n, 'one decision per request');
  const sd = Math.sqrt(n * 0.3 * 0.7);
  t.ok(Math.abs(mirrored - n * 0.3) < 5 * sd, `mirrored ${mirrored} of ${n} is within 5 sd of 30%`);
  await until(() => dark.seen.length === mirrored, 5000, 'the dark backend to see every mirrored request');
  t.equal(metricValue(m, 'umbra_sample_ratio', { route: 'default' }), 0.3);
});

t.test('sticky sampling is stable per key and only adds keys when the fraction rises', async (t) => {
  const { dark, umbra } = await setup(
    t,
    (l, d) => `live: { url: "${l}" }\ndark: { url: "${d}" }\nmirror: { sample: 0.2, sampleBy: "header:x-user-id" }`,
  );
  const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
  const mirroredUsers = async (): Promise<Set<string>> => {
    const before = dark.seen.length;
    for (const u of users) await request(`${umbra.proxyUrl}/me`, { headers: { 'x-user-id': u } });
    await sleep(100);
    return new Set(dark.seen.slice(before).map((r) => String(r.headers['x-user-id'])));
  };
  const first = await mirroredUsers();
  const again = await mirroredUsers();
  t.same([...again].sort(), [...first].sort(), 'the same users are in on a second pass');
  t.ok(first.size > 15 && first.size < 70, `about 20% of users are in (${first.size})`);
  const r = await json(`${umbra.adminUrl}/api/routes/default/sample`, { method: 'PUT', headers: auth, body: JSON.stringify({ sample: 0.5 }) });
  t.equal(r.status, 200);
  const raised = await mirroredUsers();
  t.ok([...first].every((u) => raised.has(u)), 'every user in at 20% is still in at 50%');
  t.ok(raised.size > first.size, `raising the fraction added users (${first.size} -> ${raised.size})`);
});

t.test('POST is not mirrored by default, and is where a route lists it', async (t) => {
  const { live, dark, umbra } = await setup(
    t,
    (l, d) => `live: { url: "${l}" }
dark: { url: "${d}" }
mirror: { sample: 1.0 }
routes:
  - name: orders
    match: { prefix: /orders }
    mirror: { methods: [GET, POST] }`,
  );
  await request(`${umbra.proxyUrl}/users`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
  await request(`${umbra.proxyUrl}/orders/1`, { method: 'POST', body: '{"b":2}', headers: { 'content-type': 'application/json' } });
  await until(() => dark.seen.length === 1, 5000, 'one mirrored POST');
  await sleep(50);
  t.equal(live.seen.length, 2, 'live got both writes');
  t.equal(dark.seen.length, 1, 'dark got only the route that opts in');
  t.equal(dark.seen[0]?.url, '/orders/1');
  t.equal(dark.seen[0]?.body.toString(), '{"b":2}', 'with the same body');
  const m = await metrics(umbra);
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { route: 'default', decision: 'method_excluded' }), 1);
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { route: 'orders', decision: 'mirrored' }), 1);
});

t.test('shadow requests carry the marker header and the configured edits; live does not', async (t) => {
  const { live, dark, umbra } = await setup(
    t,
    (l, d) => `live: { url: "${l}" }
dark:
  url: "${d}"
  headers: { set: { x-env: candidate }, remove: [x-drop-me] }
mirror: { sample: 1.0 }`,
  );
  await request(`${umbra.proxyUrl}/a?x=1`, { headers: { 'x-drop-me': 'yes', 'x-keep': 'k', connection: 'x-hop', 'x-hop': 'h' } });
  await until(() => dark.seen.length === 1, 5000, 'the shadow copy');
  const d = dark.seen[0];
  t.equal(d?.url, '/a?x=1');
  t.equal(d?.headers['x-umbra-shadow'], '1', 'marker header');
  t.equal(d?.headers['x-env'], 'candidate', 'configured header set');
  t.equal(d?.headers['x-drop-me'], undefined, 'configured header removed');
  t.equal(d?.headers['x-keep'], 'k', 'other headers copied');
  t.equal(d?.headers['x-hop'], undefined, 'hop-by-hop headers not copied');
  t.equal(live.seen[0]?.headers['x-umbra-shadow'], undefined, 'live never sees the marker');
  t.equal(live.seen[0]?.headers['x-drop-me'], 'yes', 'live keeps its headers');
});

/** A dark "backend" that misbehaves at the socket level. */
async function hostile(kind: 'hang' | 'reset-mid-body' | 'endless' | 'garbage'): Promise<{ url: string; close: () => Promise<void>; open: () => number; maxOpen: () => number }> {
  const sockets = new Set<net.Socket>();
  let maxOpen = 0;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    maxOpen = Math.max(maxOpen, sockets.size);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.once('data', () => {
      if (kind === 'hang') return;
      if (kind === 'garbage') {
        sock.end('NOT HTTP AT ALL\r\n\r\n');
        return;
      }
      if (kind === 'reset-mid-body') {
        sock.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"ok":');
        setTimeout(() => sock.resetAndDestroy(), 20);
        return;
      }
      sock.write('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = (): void => {
        while (!sock.destroyed && sock.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`, 'latin1'));
        if (!sock.destroyed) sock.once('drain', pump);
      };
      pump();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    open: () => sockets.size,
    maxOpen: () => maxOpen,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

for (const kind of ['hang', 'refuse', 'reset-mid-body', 'endless', 'garbage', 'slow'] as const) {
  t.test(`a dark backend that does "${kind}" changes nothing for live`, async (t) => {
    const live = await jsonBackend({ live: true, n: 42 });
    let darkUrl: string;
    let closeDark: () => Promise<void>;
    let maxOpen: () => number = () => 0;
    if (kind === 'refuse') {
      darkUrl = `http://127.0.0.1:${await refusedPort()}`;
      closeDark = () => Promise.resolve();
    } else if (kind === 'slow') {
      const d = await jsonBackend({ live: true, n: 42 }, 150);
      darkUrl = d.url;
      closeDark = () => d.close();
      maxOpen = d.maxConcurrent;
    } else {
      const d = await hostile(kind);
      darkUrl = d.url;
      closeDark = d.close;
      maxOpen = d.maxOpen;
    }
    const umbra = await startTestUmbra(
      `live: { url: "${live.url}" }
dark: { url: "${darkUrl}", timeout: 400ms, maxInFlight: 4 }
mirror: { sample: 1.0, maxBodyBytes: 256KiB, maxBufferedBytes: 2MiB }`,
      { level: 'warn' },
    );
    t.teardown(async () => {
      await umbra.stop();
      await live.close();
      await closeDark();
    });
    const answers = [];
    for (let round = 0; round < 5; round++) {
      answers.push(...(await Promise.all(Array.from({ length: 8 }, (_, i) => request(`${umbra.proxyUrl}/r/${round}/${i}`)))));
    }
    t.ok(
      answers.every((a) => a.status === 200 && a.body.toString() === '{"live":true,"n":42}'),
      'all 40 live requests succeeded with the right body',
    );
    if (kind === 'slow' || kind === 'hang') {
      // (Where umbra destroys sockets mid-answer, the server may see a closed one
      // a moment late, so its own count is only exact for these two.)
      t.ok(maxOpen() <= 4, `the dark backend never held more than 4 connections (${maxOpen()})`);
    }
    const m = await until(async () => {
      const text = await metrics(umbra);
      return metricValue(text, 'umbra_shadow_in_flight', { target: 'dark' }) === 0 ? text : '';
    }, 5000, 'shadow work to finish');
    // Every byte held for shadow work is given back once it settles (a leak would keep the budget full).
    await until(() => umbra.mirror?.budget.bytes === 0, 5000, 'the memory budget to be empty again');
    t.equal(umbra.mirror?.budget.bytes, 0, 'nothing is still held for shadow work');
    const mirrored = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'mirrored' });
    const overCap = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'over_in_flight' });
    // A dark failing every connection may also open its breaker (breaker-e2e.test.ts): dark_down.
    const down = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'dark_down' });
    t.equal(mirrored + overCap + down, 40, 'every request got a decision: mirrored, dropped over the cap, or dropped with the dark down');
    if (kind === 'hang' || kind === 'slow' || kind === 'endless') t.equal(down, 0, 'timeouts and size caps never open the breaker');
    const expected = { hang: 'timeout', refuse: 'connect', 'reset-mid-body': 'reset', endless: 'too_large', garbage: 'protocol', slow: null }[kind];
    if (expected !== null) {
      t.ok(metricValue(m, 'umbra_shadow_errors_total', { target: 'dark', reason: expected }) > 0, `failures classified as ${expected}`);
    } else {
      t.ok(metricValue(m, 'umbra_comparisons_total', { result: 'match' }) > 0, 'slow but correct answers are still compared');
      t.ok(overCap > 0, 'a slow dark fills the cap and later mirrors are dropped, not queued');
    }
  });
}

t.test('a request body over maxBodyBytes cancels only its mirror', async (t) => {
  const { live, dark, umbra } = await setup(
    t,
    (l, d) => `live: { url: "${l}" }\ndark: { url: "${d}" }\nmirror: { sample: 1.0, methods: [POST], maxBodyBytes: 1KiB }`,
  );
  const big = Buffer.alloc(4096, 'a');
  const r1 = await request(`${umbra.proxyUrl}/up`, { method: 'POST', body: big });
  // Without a content-length the size is only known while streaming.
  const r2 = await request(`${umbra.proxyUrl}/up`, { method: 'POST', body: big, headers: { 'transfer-encoding': 'chunked' } });
  await request(`${umbra.proxyUrl}/up`, { method: 'POST', body: 'small' });
  t.equal(r1.status, 200);
  t.equal(r2.status, 200);
  t.equal(live.seen.length, 3);
  t.ok(live.seen.slice(0, 2).every((s) => s.body.equals(big)), 'live got the full big bodies');
  await until(() => dark.seen.length === 1, 5000, 'the small mirror');
  t.equal(dark.seen[0]?.body.toString(), 'small');
  const m = await metrics(umbra);
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { decision: 'body_too_large' }), 2);
});

t.test('maxRps drops what is over the rate', async (t) => {
  const { dark, umbra } = await setup(t, (l, d) => `live: { url: "${l}" }\ndark: { url: "${d}", maxRps: 5 }\nmirror: { sample: 1.0 }`);
  await Promise.all(Array.from({ length: 30 }, (_, i) => request(`${umbra.proxyUrl}/x/${i}`)));
  const m = await metrics(umbra);
  const mirrored = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'mirrored' });
  const overRate = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'over_rate' });
  t.equal(mirrored + overRate, 30);
  t.ok(mirrored >= 5 && mirrored <= 8, `about a burst of 5 mirrored (${mirrored})`);
  await until(() => dark.seen.length === mirrored, 5000, 'dark to see the mirrored ones');
});

t.test('the secondary gets the same copy, without the shadow marker (it is a live instance)', async (t) => {
  const live = await jsonBackend({ v: 1 });
  const dark = await jsonBackend({ v: 1 });
  const secondary = await jsonBackend({ v: 1 });
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nsecondary: { url: "${secondary.url}" }\nmirror: { sample: 1.0 }`);
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close(), secondary.close()]);
  });
  await request(`${umbra.proxyUrl}/s?q=2`);
  await until(() => secondary.seen.length === 1 && dark.seen.length === 1, 5000, 'both copies');
  t.equal(secondary.seen[0]?.url, '/s?q=2');
  t.equal(secondary.seen[0]?.headers['x-umbra-shadow'], undefined, 'the marker goes to dark only');
  t.equal(dark.seen[0]?.headers['x-umbra-shadow'], '1');
  const m = await until(async () => {
    const text = await metrics(umbra);
    return metricValue(text, 'umbra_request_duration_seconds_count', { target: 'secondary' }) === 1 ? text : '';
  });
  t.equal(metricValue(m, 'umbra_request_duration_seconds_count', { target: 'dark' }), 1);
});

t.test('a mirrored write never reaches the secondary (a live instance): dark alone, compared without a baseline', async (t) => {
  const live = await jsonBackend({ v: 1 });
  const dark = await jsonBackend({ v: 1 });
  const secondary = await jsonBackend({ v: 1 });
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nsecondary: { url: "${secondary.url}" }\nmirror: { sample: 1.0, methods: [GET, POST, PUT, PATCH, DELETE] }`,
  );
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close(), secondary.close()]);
  });
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    await request(`${umbra.proxyUrl}/cart`, { method, body: '{"item":1}', headers: { 'content-type': 'application/json' } });
  }
  await request(`${umbra.proxyUrl}/cart`);
  const m = await until(async () => {
    const text = await metrics(umbra);
    return metricValue(text, 'umbra_comparisons_total', { result: 'match' }) === 5 ? text : '';
  }, 10_000, 'five comparisons');
  t.equal(live.seen.length, 5, 'live got every request once');
  t.strictSame(dark.seen.map((r) => r.method), ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'], 'dark got every copy');
  t.strictSame(secondary.seen.map((r) => r.method), ['GET'], 'the secondary got the read only');
  t.equal(metricValue(m, 'umbra_request_duration_seconds_count', { target: 'secondary' }), 1);
});

t.test('the dial, the kill switch and the token', async (t) => {
  const { dark, umbra } = await setup(t, (l, d) => `live: { url: "${l}" }\ndark: { url: "${d}" }\nmirror: { sample: 0 }`);
  await request(`${umbra.proxyUrl}/a`);
  t.equal(dark.seen.length, 0, 'sample 0 mirrors nothing');

  const noToken = await request(`${umbra.adminUrl}/api/routes/default/sample`, { method: 'PUT', body: '{"sample":1}' });
  t.equal(noToken.status, 401, 'no token: 401');
  t.match(String(noToken.headers['www-authenticate']), /^Bearer/);
  const wrong = await request(`${umbra.adminUrl}/api/routes`, { headers: { authorization: 'Bearer nope' } });
  t.equal(wrong.status, 401, 'wrong token: 401');
  t.equal((await request(`${umbra.adminUrl}/metrics`)).status, 200, '/metrics needs no token');

  t.equal((await json(`${umbra.adminUrl}/api/routes/default/sample`, { method: 'PUT', headers: auth, body: '{"sample":1.5}' })).status, 400);
  t.equal((await json(`${umbra.adminUrl}/api/routes/default/sample`, { method: 'PUT', headers: auth, body: 'nope' })).status, 400);
  const unknown = await json(`${umbra.adminUrl}/api/routes/nope/sample`, { method: 'PUT', headers: auth, body: '{"sample":1}' });
  t.equal(unknown.status, 404);
  t.match(unknown.body.error, /unknown route "nope"/);

  const ok = await json(`${umbra.adminUrl}/api/routes/default/sample`, { method: 'PUT', headers: auth, body: '{"sample":1}' });
  t.same(ok.body, { route: 'default', sample: 1, previous: 0 });
  const audit = umbra.logs.find((l) => l.audit === true);
  t.match(audit, { action: 'set sample', route: 'default', old: 0, new: 1 }, 'audit line with old and new');
  t.ok(typeof audit?.who === 'string' && typeof audit.when === 'string', 'audit line says who and when');
  await request(`${umbra.proxyUrl}/b`);
  await until(() => dark.seen.length === 1, 5000, 'the dial to take effect at once');

  t.equal((await json(`${umbra.adminUrl}/api/mirror/pause`, { method: 'POST', headers: auth })).status, 200);
  for (let i = 0; i < 10; i++) await request(`${umbra.proxyUrl}/c/${i}`);
  await sleep(100);
  t.equal(dark.seen.length, 1, 'paused: no shadow traffic');
  const routes = await json(`${umbra.adminUrl}/api/routes`, { headers: auth });
  t.equal(routes.body.paused, true);
  t.equal((await json(`${umbra.adminUrl}/api/mirror/resume`, { method: 'POST', headers: auth })).status, 200);
  await request(`${umbra.proxyUrl}/d`);
  await until(() => dark.seen.length === 2, 5000, 'resumed');
  const m = await metrics(umbra);
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { decision: 'paused' }), 10);
  t.equal(metricValue(m, 'umbra_sample_ratio', { route: 'default' }), 1);
});
