// Every SQL query of the dashboard's PostgreSQL panels, run against the real
// PostgreSQL after two umbra instances (two services) have written records to
// it, with Grafana's macros and variables replaced as Grafana would expand them.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import t from 'tap';
import { request, startBackend, until } from '../helpers/net.js';
import { testDatabase } from '../helpers/pg.js';
import { startTestUmbra } from '../helpers/umbra.js';

interface Target { rawSql?: string; datasource?: { type?: string } }
interface Panel { title: string; type: string; datasource?: { type?: string }; targets?: Target[] }

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/umbra-dashboard.json', import.meta.url), 'utf8')) as { panels: Panel[] };
const sqlPanels = dashboard.panels.filter((p) => p.datasource?.type === 'grafana-postgresql-datasource');
const sqlOf = (title: string): string => sqlPanels.find((p) => p.title === title)?.targets?.[0]?.rawSql ?? '';

/** Grafana's expansion: $__timeFilter(col) for PostgreSQL, and `${var:regex}` (All: the variable's allValue `.*`; several values: `(a|b)`). */
function expand(sql: string, range: { from: Date; to: Date }, vars: Record<string, string>): string {
  const out = sql
    .replace(/\$__timeFilter\((\w+)\)/g, (_, col: string) => `${col} BETWEEN '${range.from.toISOString()}' AND '${range.to.toISOString()}'`)
    .replace(/\$\{(\w+):regex\}/g, (_, name: string) => vars[name] ?? '.*');
  if (/\$(?:__|\{|[a-z])/i.test(out)) throw new Error(`a macro or variable left unexpanded: ${out}`);
  return out;
}

t.test('the PostgreSQL panels of the dashboard, against records umbra wrote', async (t) => {
  t.same(sqlPanels.map((p) => p.title).sort(), ['Recent divergences', 'Top fields by service and route']);
  const db = await testDatabase(t);
  const answer = (price: number) => (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.url?.startsWith('/b') === true ? { price, total: price } : { price }));
  };
  const live = await startBackend(answer(1));
  const dark = await startBackend(answer(2));
  t.teardown(() => Promise.all([live.close(), dark.close()]));
  const start = async (service: string, instance: string) => {
    const u = await startTestUmbra(
      `service: ${service}\ninstance: ${instance}\nlive: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1.0 }\nstore: { url: "${db.url}" }`,
      { level: 'info', storeTiming: { flushMs: 50 } },
    );
    t.teardown(() => u.stop());
    return u;
  };
  const shop = await start('shop', 'shop-7d9f-abcde');
  const cart = await start('cart', 'cart-5c4b-fghij');
  for (let i = 0; i < 3; i++) await request(`${shop.proxyUrl}/a/${i}`);
  await request(`${shop.proxyUrl}/b/1?token=secret`);
  for (let i = 0; i < 2; i++) await request(`${cart.proxyUrl}/b/${i}`);
  await until(async () => {
    try {
      return Number((await db.sql.query('SELECT count(*) AS n FROM umbra_divergences')).rows[0].n) === 6;
    } catch {
      return false;
    }
  }, 15_000, '6 records written');

  const now = { from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) };
  const run = async (title: string, vars: Record<string, string> = {}, range = now): Promise<Record<string, unknown>[]> =>
    (await db.sql.query(expand(sqlOf(title), range, vars))).rows as Record<string, unknown>[];

  const recent = await run('Recent divergences');
  t.equal(recent.length, 6, 'every record in the range, all services');
  t.same(Object.keys(recent[0] ?? {}), ['time', 'service', 'instance', 'route', 'method', 'path', 'fields', 'live', 'dark', 'live_ms', 'dark_ms', 'write', 'id']);
  const times = recent.map((r) => (r['time'] as Date).getTime());
  t.same(times, [...times].sort((a, b) => b - a), 'newest first');
  t.match(recent.find((r) => r['service'] === 'shop' && String(r['path']).startsWith('/b/1?')), { instance: 'shop-7d9f-abcde', route: 'default', method: 'GET', fields: '$.price, $.total', live: 200, dark: 200, write: false });
  t.notMatch(JSON.stringify(recent), 'token=secret', 'query values redacted');
  t.equal((await run('Recent divergences', { service: 'cart' })).length, 2, 'service variable');
  t.equal((await run('Recent divergences', { service: '(shop|cart)', pod: 'shop-7d9f-abcde' })).length, 4, 'several services, one pod');
  t.equal((await run('Recent divergences', { route: 'nope' })).length, 0, 'route variable');
  t.equal((await run('Recent divergences', {}, { from: new Date(Date.now() - 7_200_000), to: new Date(Date.now() - 3_600_000) })).length, 0, 'the time range');

  const top = await run('Top fields by service and route');
  t.same(
    top.map((r) => [r['service'], r['route'], r['field'], Number(r['divergences'])]),
    [
      ['shop', 'default', '$.price', 4],
      ['cart', 'default', '$.price', 2],
      ['cart', 'default', '$.total', 2],
      ['shop', 'default', '$.total', 1],
    ],
    'fields counted per service and route, most first',
  );
  t.ok(top.every((r) => r['last_seen'] instanceof Date), 'with when each was last seen');
  t.same((await run('Top fields by service and route', { service: 'cart' })).map((r) => r['field']), ['$.price', '$.total']);
});
