// The circuit breaker against real loopback servers (mirror/breaker.ts): a dark
// that refuses connections gets no more shadow requests after `failures` of
// them, and is probed back once it answers; a refusing secondary leaves the
// comparisons to go on without a noise baseline; failures spread among answers
// never open it. Live answers are untouched throughout.
import t from 'tap';
import http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';
import { closedPort, refusedPort, metricValue, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

const BODY = '{"live":true,"n":7}';

async function metrics(umbra: TestUmbra): Promise<string> {
  return (await request(`${umbra.adminUrl}/metrics`)).body.toString();
}

async function jsonServer(): Promise<Awaited<ReturnType<typeof startBackend>>> {
  return startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(BODY);
  });
}

function messages(umbra: TestUmbra): string[] {
  return umbra.logs.map((l) => String(l.msg));
}

t.test('a dark refusing connections: the breaker opens, live is untouched, a probe closes it once dark answers', async (t) => {
  const live = await jsonServer();
  const port = await closedPort();
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }
dark: { url: "http://127.0.0.1:${port}", timeout: 1s, breaker: { failures: 3, cooldown: 400ms, maxCooldown: 400ms } }
mirror: { sample: 1.0 }`,
    { level: 'info' },
  );
  let dark: http.Server | null = null;
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    if (dark !== null) {
      dark.closeAllConnections();
      dark.close();
    }
  });

  for (let i = 0; i < 12; i++) {
    const r = await request(`${umbra.proxyUrl}/item/${i}`);
    t.equal(r.status, 200);
    t.equal(r.body.toString(), BODY, `live answer ${i} untouched`);
  }
  const m = await until(async () => {
    const text = await metrics(umbra);
    return metricValue(text, 'umbra_shadow_in_flight', { target: 'dark' }) === 0 ? text : '';
  }, 5000, 'shadow work to settle');
  const mirrored = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'mirrored' });
  const down = metricValue(m, 'umbra_mirror_decisions_total', { decision: 'dark_down' });
  const connect = metricValue(m, 'umbra_shadow_errors_total', { target: 'dark', reason: 'connect' });
  t.equal(mirrored + down, 12, 'every request got a decision: mirrored, or dropped as dark_down');
  t.ok(down >= 1, `the breaker dropped shadow requests (${down})`);
  t.equal(connect, mirrored, 'each one sent failed to connect');
  t.ok(connect >= 3 && connect <= 5, `3 failures opened it (then a probe per 400 ms at most): ${connect}`);
  t.equal(metricValue(m, 'umbra_shadow_breaker_open', { target: 'dark' }), 1, 'umbra_shadow_breaker_open says so');
  t.equal(metricValue(m, 'umbra_shadow_breaker_open', { target: 'secondary' }), 0);
  const opened = umbra.logs.find((l) => String(l.msg).startsWith('dark breaker open'));
  t.ok(opened, 'a warn line says the dark breaker opened');
  t.equal(opened?.level, 'warn');
  t.match(String(opened?.msg), /3 connection failures in a row \(last: connect\)/);

  // Dark comes up on the same port: the next probe is answered and mirroring resumes.
  const seen: string[] = [];
  dark = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(BODY);
  });
  dark.listen(port, '127.0.0.1');
  await once(dark, 'listening');
  let n = 0;
  const after = await until(
    async () => {
      const r = await request(`${umbra.proxyUrl}/again/${n++}`);
      t.equal(r.body.toString(), BODY);
      const text = await metrics(umbra);
      return metricValue(text, 'umbra_comparisons_total', { result: 'match' }) >= 2 ? text : '';
    },
    10_000,
    'the breaker to close and comparisons to resume',
  );
  t.equal(metricValue(after, 'umbra_shadow_breaker_open', { target: 'dark' }), 0, 'closed again');
  t.ok(messages(umbra).some((m) => m.startsWith('dark breaker closed')), 'an info line says it closed');
  t.ok(seen.length >= 2, `dark got the probe and what followed (${seen.length})`);
});

t.test('a secondary refusing connections: its breaker opens and comparisons go on without a baseline', async (t) => {
  const live = await jsonServer();
  const dark = await jsonServer();
  const port = await refusedPort();
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }
dark: { url: "${dark.url}", breaker: { failures: 2, cooldown: 30s } }
secondary: { url: "http://127.0.0.1:${port}" }
mirror: { sample: 1.0 }`,
    { level: 'warn' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  for (let i = 0; i < 10; i++) t.equal((await request(`${umbra.proxyUrl}/s/${i}`)).body.toString(), BODY);
  const m = await until(async () => {
    const text = await metrics(umbra);
    return metricValue(text, 'umbra_comparisons_total', { result: 'match' }) === 10 ? text : '';
  }, 5000, 'ten comparisons');
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { decision: 'mirrored' }), 10, 'the secondary being down drops nothing');
  t.equal(metricValue(m, 'umbra_shadow_errors_total', { target: 'secondary', reason: 'connect' }), 2, 'two failures, then no more tries for 30 s');
  t.equal(metricValue(m, 'umbra_shadow_breaker_open', { target: 'secondary' }), 1);
  t.equal(metricValue(m, 'umbra_shadow_breaker_open', { target: 'dark' }), 0);
  t.equal(dark.seen.length, 10, 'dark got every request');
});

t.test('failures spread among answers never open the breaker', async (t) => {
  const live = await jsonServer();
  // Every third request: the connection is cut after the status line.
  let n = 0;
  const dark = http.createServer((_req, res) => {
    if (++n % 3 === 0) {
      res.socket?.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n');
      res.socket?.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(BODY);
  });
  dark.listen(0, '127.0.0.1');
  await once(dark, 'listening');
  const { port } = dark.address() as net.AddressInfo;
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }
dark: { url: "http://127.0.0.1:${port}", breaker: { failures: 2, cooldown: 30s } }
mirror: { sample: 1.0 }`,
    { level: 'warn' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    dark.closeAllConnections();
    dark.close();
  });
  for (let i = 0; i < 15; i++) t.equal((await request(`${umbra.proxyUrl}/x/${i}`)).body.toString(), BODY);
  const m = await until(async () => {
    const text = await metrics(umbra);
    return metricValue(text, 'umbra_shadow_in_flight', { target: 'dark' }) === 0 && metricValue(text, 'umbra_comparisons_total') >= 15 ? text : '';
  }, 5000, 'fifteen outcomes');
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { decision: 'mirrored' }), 15);
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { decision: 'dark_down' }), 0, 'never opened');
  t.equal(metricValue(m, 'umbra_shadow_errors_total', { target: 'dark', reason: 'reset' }), 5, 'one in three failed');
  t.equal(metricValue(m, 'umbra_shadow_breaker_open', { target: 'dark' }), 0);
});
