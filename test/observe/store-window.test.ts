// Route counts by reason and over a window (since=) for the whole fleet, on the
// machine's real PostgreSQL: two instances, one with a dark that resets some
// requests; minute rows summed by the database; a v1 schema upgraded in place.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, request, startBackend, until, type Backend } from '../helpers/net.js';
import { testDatabase } from '../helpers/pg.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';
import { migrate, MIGRATIONS, SCHEMA_VERSION } from '../../src/observe/store-schema.js';
import { sumRoutes } from '../../src/observe/store.js';

const FAST = { flushMs: 50, summaryMs: 100, retentionMs: 60_000, warnEveryMs: 200, connectTimeoutMs: 500, statementTimeoutMs: 1_000, apiTimeoutMs: 1_000, backoffMinMs: 50, backoffMaxMs: 300 };

/** Live {"price":1}; dark {"price":2}, except /items/boom, where dark closes the connection. */
async function backends(t: Test): Promise<{ live: Backend; dark: Backend }> {
  const answer = (price: number) => (req: IncomingMessage, res: ServerResponse): void => {
    if (price === 2 && req.url === '/items/boom') {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"price":${price}}`);
  };
  const live = await startBackend(answer(1));
  const dark = await startBackend(answer(2));
  t.teardown(() => Promise.all([live.close(), dark.close()]));
  return { live, dark };
}

async function start(t: Test, b: { live: Backend; dark: Backend }, url: string, instance: string): Promise<TestUmbra> {
  const umbra = await startTestUmbra(
    [
      'service: shop',
      `instance: ${instance}`,
      `live: { url: "${b.live.url}" }`,
      `dark: { url: "${b.dark.url}" }`,
      'mirror: { sample: 1.0 }',
      'routes:',
      '  - name: get-item',
      '    match: { prefix: /items }',
      `store: { url: "${url}" }`,
    ].join('\n'),
    { level: 'info', storeTiming: FAST },
  );
  t.teardown(() => umbra.stop());
  return umbra;
}

interface Route {
  name: string;
  instances: number;
  mirrored: number;
  mismatches: number;
  errors: number;
  errorsBy: Record<string, number>;
  skipped: number;
  skippedBy: Record<string, number>;
  topFields: { field: string; count: number }[];
}
const item = (body: { routes: Route[] }): Route | undefined => body.routes.find((r) => r.name === 'get-item');

t.test('errors and skips by reason, and since=, for the fleet', async (t) => {
  const db = await testDatabase(t);
  const b = await backends(t);
  const a = await start(t, b, db.url, 'pod-a');
  const other = await start(t, b, db.url, 'pod-b');
  for (const path of ['/items/1', '/items/boom']) t.equal((await request(`${a.proxyUrl}${path}`)).status, 200, `live answers ${path}`);
  for (const path of ['/items/2', '/items/boom', '/items/boom']) t.equal((await request(`${other.proxyUrl}${path}`)).status, 200, `live answers ${path}`);

  // pod-b's rows (its route row and its minute) reach the database within a summary period.
  const fleet = await until(async () => {
    const r = await json(`${a.adminUrl}/api/routes`);
    const x = item(r.body);
    return x?.instances === 2 && x.errors === 3 && x.mirrored === 5 && x.mismatches === 2 ? x : null;
  }, 10_000, 'fleet totals') as Route;
  t.same(fleet.errorsBy, { reset: 3 }, 'dark failures by reason, summed over the pods');
  t.same(fleet.skippedBy, { dark_reset: 3 }, 'and the comparisons they cost');
  t.equal(fleet.skipped, 3);

  // A minute flush can land between an exchange's mirror decision and its outcome
  // (mirrored 5, errors 2): wait for both, as the last flush has them.
  const windowed = await until(async () => {
    const r = await json(`${a.adminUrl}/api/routes?since=15m`);
    const x = item(r.body);
    return r.body.fleet === true && x?.mirrored === 5 && x.errors === 3 ? r.body : null;
  }, 10_000, 'windowed fleet totals');
  t.match(windowed.since, /^\d{4}-\d\d-\d\dT/, 'the answer says where its window starts');
  t.match(item(windowed), { instances: 2, mirrored: 5, mismatches: 2, errors: 3, errorsBy: { reset: 3 }, skippedBy: { dark_reset: 3 }, topFields: [{ field: '$.price', count: 2 }] });
  const minuteRows = await db.sql.query("SELECT counts FROM umbra_route_minutes WHERE instance = 'pod-b'");
  t.ok(minuteRows.rows.length >= 1, 'pod-b wrote its minutes');

  // pod-b's minutes moved two hours back: out of a 1h window, still in the totals.
  await other.stop();
  await db.sql.query("UPDATE umbra_route_minutes SET minute = minute - interval '2 hours' WHERE instance = 'pod-b'");
  const hour = item((await json(`${a.adminUrl}/api/routes?since=1h`)).body);
  t.match(hour, { instances: 2, mirrored: 2, errors: 1, errorsBy: { reset: 1 }, mismatches: 1 }, 'only pod-a within the hour');
  t.match(item((await json(`${a.adminUrl}/api/routes?since=3h`)).body), { mirrored: 5, errors: 3 }, 'both within three hours');
  t.match(item((await json(`${a.adminUrl}/api/routes`)).body), { mirrored: 5, errors: 3 }, 'totals since start are not windowed');

  const tooOld = await json(`${a.adminUrl}/api/routes?since=7h`);
  t.equal(tooOld.status, 400);
  t.match(tooOld.body.error, /since reaches back at most 6h/);
  t.equal((await json(`${a.adminUrl}/api/routes?since=soon`)).status, 400, 'a bad since is a 400');
});

t.test('a database at schema 1 (with rows) is upgraded in place, and its old rows read back', async (t) => {
  const db = await testDatabase(t);
  t.same((await migrate(db.sql, MIGRATIONS.filter((m) => m.version === 1))).version, 1);
  await db.sql.query(
    `INSERT INTO umbra_routes (service, instance, route, updated_at, sample, mirrored, compared, matches, mismatches, noise, skipped, errors, dropped, top_fields)
     VALUES ('shop', 'old-pod', 'get-item', now(), 1, 9, 9, 0, 9, 0, 0, 0, '{}', '[{"field":"$.price","count":9}]')`,
  );
  const b = await backends(t);
  const u = await start(t, b, db.url, 'pod-a');
  await until(() => u.fleet?.version === SCHEMA_VERSION, 10_000, 'schema upgraded');
  t.ok(u.logs.some((l) => l['msg'] === 'store ready' && Array.isArray(l['applied']) && !(l['applied'] as number[]).includes(1)), 'only the newer migrations ran');
  const x = item((await json(`${u.adminUrl}/api/routes`)).body);
  t.match(x, { instances: 2, mirrored: 9, mismatches: 9, errorsBy: {}, skippedBy: {}, topFields: [{ field: '$.price', count: 9 }] }, 'the old row, with the new columns at their defaults');
});

t.test('sumRoutes adds the maps by key and unites the noisy fields', async (t) => {
  const zero = { sample: 1, mirrored: 1, compared: 1, matches: 0, mismatches: 1, noise: 0, skipped: 0, errors: 0, dropped: {}, topFields: [] };
  const [r] = sumRoutes([
    { ...zero, service: 's', name: 'r', errorsBy: { timeout: 2 }, skippedBy: { dark_timeout: 2 }, noisy: ['$.b', '$.a'], dropped: { over_rate: 1 } },
    { ...zero, service: 's', name: 'r', errorsBy: { timeout: 1, reset: 4 }, skippedBy: {}, noisy: ['$.a', '$.c'], dropped: { over_rate: 2, paused: 1 } },
  ]);
  t.same(r?.errorsBy, { timeout: 3, reset: 4 });
  t.same(r?.skippedBy, { dark_timeout: 2 });
  t.same(r?.dropped, { over_rate: 3, paused: 1 });
  t.same(r?.noisy, ['$.a', '$.b', '$.c']);
  t.equal(r?.instances, 2);
});
