// Regressions named after real failures of the tools umbra replaces
// (shared/LESSONS.md), each against real loopback servers.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { json, metricValue, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra } from '../helpers/umbra.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

t.test('Diffy #9/#14: the shadow runs concurrently with live, not after it', async (t) => {
  // Live answers only once dark has received its copy: a proxy that called the
  // backends one after another would never answer.
  let darkGotIt!: () => void;
  const darkSeen = new Promise<void>((r) => (darkGotIt = r));
  const live = await startBackend((_req, res) => {
    void darkSeen.then(() => res.end('live'));
  });
  const dark = await startBackend((_req, res) => {
    darkGotIt();
    res.end('dark');
  });
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1.0 }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  const r = await request(`${umbra.proxyUrl}/x`);
  t.equal(r.body.toString(), 'live');
});

t.test('Skipper #3340 / nginx mirror: a dark backend that holds its answer does not hold the live one', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const live = await startBackend((_req, res) => res.end('live'));
  const dark = await startBackend((_req, res) => {
    void held.then(() => res.end('dark'));
  });
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1.0, methods: [POST] }`);
  t.teardown(async () => {
    release();
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => request(`${umbra.proxyUrl}/w/${i}`, { method: 'POST', body: 'payload' })));
  t.ok(answers.every((a) => a.body.toString() === 'live'), 'all live answers arrived while dark still held every copy');
  await until(() => dark.seen.length === 5, 5000, 'dark to have every copy');
  t.pass('dark had every copy, and had answered none');
  release();
});

t.test('Traefik #8045/#12988: mirroring never changes the live bytes', async (t) => {
  const live = await startBackend((_req, res, body) => {
    res.writeHead(200, { 'x-sha': sha(body) });
    res.end(body);
  });
  const dark = await startBackend((_req, res) => {
    res.writeHead(500);
    res.end('dark is broken');
  });
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1.0, methods: [POST, PUT], maxBodyBytes: 64KiB }`,
    { level: 'warn' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  const bodies = [0, 1, 1000, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024].map((n) => randomBytes(n));
  const answers = await Promise.all(bodies.map((b) => request(`${umbra.proxyUrl}/u`, { method: 'PUT', body: b })));
  answers.forEach((a, i) => {
    const b = bodies[i] as Buffer;
    t.equal(a.status, 200, `${b.length} bytes: live status`);
    t.ok(a.body.equals(b), `${b.length} bytes: identical answer`);
    t.equal(a.headers['x-sha'], sha(b), `${b.length} bytes: live received identical bytes`);
  });
  const m = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { decision: 'body_too_large' }), 2, 'the two big bodies: counted, not silently dropped (Envoy #18364)');
});

t.test('teeproxy #29: shadow connections are pooled, not opened per request', async (t) => {
  const live = await startBackend((_req, res) => res.end('ok'));
  const sockets = new Set<Socket>();
  const dark = await startBackend((req, res) => {
    sockets.add(req.socket);
    res.end('ok');
  });
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}", maxInFlight: 4 }\nmirror: { sample: 1.0 }`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  for (let i = 0; i < 200; i++) await request(`${umbra.proxyUrl}/p/${i}`);
  await until(() => dark.seen.length === 200, 5000, 'every copy');
  t.ok(sockets.size <= 4, `200 shadow requests used ${sockets.size} connection(s)`);
});

t.test('Keploy #2193: configured ignore rules are applied end to end', async (t) => {
  let n = 0;
  const answer = (_req: unknown, res: ServerResponse): void => {
    n++;
    res.writeHead(200, { 'content-type': 'application/json', 'x-trace-id': String(n) });
    res.end(JSON.stringify({ meta: { requestId: `r${n}` }, items: [{ id: 1, updatedAt: n }], etag: `e${n}`, nested: { etag: n }, v: 1 }));
  };
  const live = await startBackend(answer);
  const dark = await startBackend(answer);
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }
dark: { url: "${dark.url}" }
mirror: { sample: 1.0 }
compare:
  ignoreHeaders: [x-trace-id]
  ignore: ["$.meta.requestId", "$.items[*].updatedAt", "$..etag"]`);
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  for (let i = 0; i < 3; i++) await request(`${umbra.proxyUrl}/x`);
  const m = await until(async () => {
    const text = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
    return metricValue(text, 'umbra_comparisons_total') === 3 ? text : '';
  });
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'match' }), 3, 'every difference was an ignored one');
  const routes = await json(`${umbra.adminUrl}/api/routes`);
  t.same(routes.body.routes[0].topFields, [], 'no field reported');
});
