// Log lines as DESIGN §9 states them, through a real umbra over real sockets:
// `level` as a word, `service` and `instance` on every line (and in every
// divergence sample), a divergence line with its sample id, and shadow failures
// as rate-capped warn lines with their reason and the count held back.
import t from 'tap';
import { refusedPort, json, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra } from '../helpers/umbra.js';

const TOKEN = 'test-token-123';

t.test('level as a word; service and instance on every line and in the divergence sample', async (t) => {
  const live = await startBackend((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"n":1}'));
  const dark = await startBackend((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"n":2}'));
  const umbra = await startTestUmbra(`service: shop-api\ninstance: shop-api-7d9f-x2\nlive: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1 }`, { token: TOKEN, level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  await request(`${umbra.proxyUrl}/x`);
  const line = (await until(() => umbra.logs.find((l) => l.msg === 'divergence'), 5000, 'a divergence line')) as Record<string, unknown>;
  t.match(line, { level: 'info', service: 'shop-api', instance: 'shop-api-7d9f-x2', route: 'default', method: 'GET', fields: ['$.n'] });
  t.type(line.id, 'string');
  t.ok(umbra.logs.every((l) => typeof l.level === 'string' && l.service === 'shop-api' && l.instance === 'shop-api-7d9f-x2'), 'every line');
  const api = await json(`${umbra.adminUrl}/api/divergences`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.match(api.body.divergences[0], { id: line.id, service: 'shop-api', instance: 'shop-api-7d9f-x2' }, 'the line links to its sample by id');
});

t.test('instance defaults to the host name, service to empty', async (t) => {
  const live = await startBackend((_req, res) => res.end('ok'));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`, { level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  const { hostname } = await import('node:os');
  t.match(umbra.logs[0], { msg: 'umbra started', service: '', instance: hostname() });
});

t.test('shadow failures: warn lines with the reason, capped per second, the rest counted on the next line', async (t) => {
  const live = await startBackend((_req, res) => res.end('ok'));
  const port = await refusedPort();
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "http://127.0.0.1:${port}" }\nmirror: { sample: 1 }\nlimits: { mismatchLogsPerSecond: 1 }`, { level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  for (let i = 0; i < 6; i++) t.equal((await request(`${umbra.proxyUrl}/x${i}`)).status, 200, 'live unaffected');
  const first = await until(() => umbra.logs.find((l) => l.msg === 'shadow request failed'), 5000, 'a failure line');
  t.match(first, { level: 'warn', route: 'default', target: 'dark', reason: 'connect' });
  t.equal(umbra.logs.filter((l) => l.msg === 'shadow request failed').length, 1, 'the rest of this second held back');
  // A second later the next failure's line carries the count held back.
  await new Promise((r) => setTimeout(r, 1100));
  await request(`${umbra.proxyUrl}/later`);
  const next = await until(() => umbra.logs.filter((l) => l.msg === 'shadow request failed')[1], 5000, 'the next failure line');
  t.match(next, { level: 'warn', reason: 'connect', suppressed: 5 });
  t.notMatch(JSON.stringify(umbra.logs), /authorization/i);
});
