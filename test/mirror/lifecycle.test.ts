// A dark launch's lifecycle (DESIGN §4, §12): routes carry `owner` and `expires`;
// an expired one is a warn line at start and on every reload, is marked in
// /api/routes, and umbra_route_expiry_timestamp_seconds feeds the expiry alerts.
import t from 'tap';
import { json, metricValue, request, startBackend } from '../helpers/net.js';
import { startTestUmbra } from '../helpers/umbra.js';
import { parseConfigText } from '../../src/config/load.js';

t.test('expired routes: warned at start and reload, marked, exported', async (t) => {
  const b = await startBackend((_req, res) => res.end('{}'));
  const routes = (withOld: boolean): string =>
    [
      'routes:',
      ...(withOld ? ['  - { name: old-launch, match: { prefix: /old }, owner: team-x, expires: 2020-01-01 }'] : []),
      '  - { name: new-launch, match: { prefix: /new }, owner: team-y, expires: 2099-12-31 }',
      '  - { name: plain, match: { prefix: /plain } }',
    ].join('\n');
  const base = `live: { url: "${b.url}" }\ndark: { url: "${b.url}" }\n`;
  const umbra = await startTestUmbra(base + routes(true), { level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await b.close();
  });
  const warned = (): Record<string, unknown>[] => umbra.logs.filter((l) => String(l['msg']).startsWith('dark launch expired'));
  t.equal(warned().length, 1, 'one line at start, for the expired route only');
  const line = warned()[0];
  t.equal(line?.['level'], 'warn');
  t.equal(line?.['route'], 'old-launch');
  t.equal(line?.['owner'], 'team-x');
  t.equal(line?.['expires'], '2020-01-01');
  t.equal(line?.['msg'], 'dark launch expired: route old-launch passed its expires date 2020-01-01 (owner team-x); release it or remove the route');

  const view = (await json(`${umbra.adminUrl}/api/routes`)).body.routes as { name: string; owner: string; expires: string | null; expired: boolean }[];
  t.same(
    view.map((r) => [r.name, r.owner, r.expires, r.expired]),
    [
      ['old-launch', 'team-x', '2020-01-01', true],
      ['new-launch', 'team-y', '2099-12-31', false],
      ['plain', '', null, false],
      ['default', '', null, false],
    ],
  );
  let metrics = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(metrics, 'umbra_route_expiry_timestamp_seconds', { route: 'old-launch' }), Date.parse('2020-01-01T00:00:00Z') / 1000);
  t.equal(metricValue(metrics, 'umbra_route_expiry_timestamp_seconds', { route: 'new-launch' }), Date.parse('2099-12-31T00:00:00Z') / 1000);
  t.notMatch(metrics, /umbra_route_expiry_timestamp_seconds\{route="plain"\}/, 'no date, no series');

  const reload = async (withOld: boolean): Promise<void> =>
    umbra.reload(parseConfigText(`listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\n${base}${routes(withOld)}`, 'r.yaml', {}, { containerLimit: null }));
  await reload(true);
  t.equal(warned().length, 2, 'again on reload');
  await reload(false);
  t.equal(warned().length, 2, 'not once the route is gone');
  metrics = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.notMatch(metrics, /umbra_route_expiry_timestamp_seconds\{route="old-launch"\}/, "a removed route's date series goes with it");
  t.equal(metricValue(metrics, 'umbra_route_expiry_timestamp_seconds', { route: 'new-launch' }), Date.parse('2099-12-31T00:00:00Z') / 1000);
});
