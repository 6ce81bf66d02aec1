// The divergence store on the machine's real PostgreSQL (DESIGN §11): schema at
// start, two instances writing one database and each answering for the fleet,
// since=/field= filters, retention, a database that goes away or hangs while
// live traffic keeps flowing, the queue bound, and no password in any log line.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { json, metricValue, request, startBackend, until, type Backend } from '../helpers/net.js';
import { pgProxy, testDatabase, type TestDatabase } from '../helpers/pg.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';
import { migrate, MIGRATIONS, SCHEMA_VERSION } from '../../src/observe/store-schema.js';
import { redactUrl, scrubber } from '../../src/observe/store.js';
import pg from 'pg';

const PASSWORD = 'Sup3r-s3cret%2Fpw';
/** Short timings so a test sees flushes, summaries, retention and recovery within seconds. */
const FAST = { flushMs: 50, summaryMs: 100, retentionMs: 100, warnEveryMs: 200, connectTimeoutMs: 500, statementTimeoutMs: 1_000, apiTimeoutMs: 1_000, backoffMinMs: 50, backoffMaxMs: 300 };

/** Live answers {"price": 1}, dark {"price": 2} (and a `note` on /note paths): every request diverges. */
async function backends(t: Test): Promise<{ live: Backend; dark: Backend }> {
  const answer = (price: number) => (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    // Written as text: 1234567890123456789012x is past a double's precision.
    res.end(req.url?.startsWith('/note') === true ? `{"note":${price}}` : `{"price":${price},"big":1234567890123456789012${3 + price}}`);
  };
  const live = await startBackend(answer(1));
  const dark = await startBackend(answer(2));
  t.teardown(() => Promise.all([live.close(), dark.close()]));
  return { live, dark };
}

async function umbraWithStore(t: Test, b: { live: Backend; dark: Backend }, url: string, extra: { instance?: string; store?: string; timing?: object } = {}): Promise<TestUmbra> {
  const umbra = await startTestUmbra(
    [
      'service: shop',
      `instance: ${extra.instance ?? 'pod-a'}`,
      `live: { url: "${b.live.url}" }`,
      `dark: { url: "${b.dark.url}" }`,
      'mirror: { sample: 1.0, methods: [GET, POST] }',
      'routes:',
      '  - name: get-item',
      '    match: { prefix: /items }',
      `store: { url: "${url}"${extra.store ?? ''} }`,
    ].join('\n'),
    { level: 'info', storeTiming: { ...FAST, ...extra.timing } },
  );
  t.teardown(() => umbra.stop());
  return umbra;
}

/** The URL with a password (ignored by trust auth) to the test's database, directly or through a proxy port. */
const withPassword = (db: TestDatabase, port = 5432): string => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${db.name}`;

const writes = async (u: TestUmbra, result: string): Promise<number> => metricValue((await request(`${u.adminUrl}/metrics`)).body.toString(), 'umbra_store_writes_total', { result });

/** The counter read from the registry (the admin listener is closed after stop). */
const writes2 = async (u: TestUmbra, result: string): Promise<number> => metricValue(await u.metrics.registry.metrics(), 'umbra_store_writes_total', { result });

/** Records in the database (0 while umbra has not made the table yet). */
async function rowCount(db: TestDatabase, where = 'true'): Promise<number> {
  try {
    return Number((await db.sql.query(`SELECT count(*) AS n FROM umbra_divergences WHERE ${where}`)).rows[0].n);
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return 0;
    throw err;
  }
}

function noPassword(t: Test, umbras: TestUmbra[]): void {
  const all = umbras.map((u) => JSON.stringify(u.logs)).join('\n');
  t.notMatch(all, PASSWORD, 'the password is in no log line');
  t.notMatch(all, decodeURIComponent(PASSWORD), 'nor its decoded form');
}

t.test('redactUrl and the scrubber hide the password', async (t) => {
  t.equal(redactUrl('postgres://u:pw@h:5432/d'), 'postgres://u:***@h:5432/d');
  t.equal(redactUrl('postgres://u@h/d'), 'postgres://u@h/d');
  const scrub = scrubber(`postgres://u:${PASSWORD}@h/d`);
  t.equal(scrub(`bad postgres://u:${PASSWORD}@h/d and ${decodeURIComponent(PASSWORD)}`), 'bad postgres://u:***@h/d and ***');
});

t.test('schema: created on first start, found on a second, upgraded by a new migration, safe to race', async (t) => {
  const db = await testDatabase(t);
  // 8 starters at once on an empty database: one creates, the others wait and find it made.
  const clients = await Promise.all(Array.from({ length: 8 }, async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    return c;
  }));
  t.teardown(() => Promise.all(clients.map((c) => c.end())));
  const results = await Promise.all(clients.map((c) => migrate(c)));
  t.same(results.map((r) => r.version), Array(8).fill(SCHEMA_VERSION), 'every starter ends at the newest version');
  t.equal(results.filter((r) => r.applied.length > 0).length, 1, 'exactly one applied the migrations');
  const versions = async (): Promise<number[]> => (await db.sql.query('SELECT version FROM umbra_schema ORDER BY version')).rows.map((r) => r.version as number);
  t.same(await versions(), MIGRATIONS.map((m) => m.version));

  const b = await backends(t);
  const umbra = await umbraWithStore(t, b, db.url);
  await until(() => umbra.fleet?.version === SCHEMA_VERSION, 10_000, 'store ready');
  t.ok(umbra.logs.some((l) => l['msg'] === 'store ready' && l['schema'] === SCHEMA_VERSION && l['applied'] === undefined), 'a second start applies nothing');
  t.same(await versions(), MIGRATIONS.map((m) => m.version), 'no version recorded twice');

  const next = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, sql: 'CREATE TABLE IF NOT EXISTS umbra_test_upgrade (x int)' }];
  t.same((await migrate(db.sql, next)).applied, [SCHEMA_VERSION + 1], 'only the new migration runs');
  t.same((await migrate(db.sql, next)).applied, [], 'and only once');
  t.same((await migrate(db.sql)).version, SCHEMA_VERSION + 1, 'an older umbra keeps running against a newer schema');
});

t.test('two instances write one database; each answers /api/divergences and /api/routes for the fleet', async (t) => {
  const db = await testDatabase(t);
  const b = await backends(t);
  const a = await umbraWithStore(t, b, withPassword(db), { instance: 'pod-a' });
  const bb = await umbraWithStore(t, b, withPassword(db), { instance: 'pod-b' });
  for (let i = 0; i < 3; i++) t.equal((await request(`${a.proxyUrl}/items/${i}`)).status, 200);
  t.equal((await request(`${a.proxyUrl}/note/1`)).status, 200);
  for (let i = 0; i < 2; i++) t.equal((await request(`${bb.proxyUrl}/items/b${i}`, { method: 'POST', body: '{}' })).status, 200);
  await until(async () => (await rowCount(db)) === 6, 15_000, '6 records in the database');
  // The counter moves once the INSERT's answer is back, a moment after the rows are visible.
  await until(async () => (await writes(a, 'written')) === 4 && (await writes(bb, 'written')) === 2, 5_000, 'written counted per instance');

  for (const u of [a, bb]) {
    const r = await json(`${u.adminUrl}/api/divergences`);
    t.equal(r.status, 200);
    t.equal(r.body.fleet, true);
    t.equal(r.body.divergences.length, 6, 'both instances\' records');
    t.same(new Set(r.body.divergences.map((d: { instance: string }) => d.instance)), new Set(['pod-a', 'pod-b']));
    t.ok(r.body.divergences.every((d: { service: string }) => d.service === 'shop'));
  }
  const all = await request(`${a.adminUrl}/api/divergences`);
  t.match(all.body.toString(), /"live":12345678901234567890124,"dark":12345678901234567890125/, 'exact numbers come back digit for digit');
  const list = JSON.parse(all.body.toString()).divergences as { time: string; write: boolean; instance: string; path: string; differences: { field: string }[] }[];
  t.same(list.map((d) => d.time), [...list.map((d) => d.time)].sort().reverse(), 'newest first');
  t.equal(list.filter((d) => d.write).length, 2, 'the mirrored POSTs are marked write');

  const byField = await json(`${bb.adminUrl}/api/divergences?field=${encodeURIComponent('$.note')}`);
  t.same(byField.body.divergences.map((d: { path: string }) => d.path), ['/note/1'], 'field=');
  const byRoute = await json(`${bb.adminUrl}/api/divergences?route=get-item&limit=2`);
  t.equal(byRoute.body.divergences.length, 2, 'route= and limit=');
  t.equal((await json(`${a.adminUrl}/api/divergences?instance=pod-b`)).body.divergences.length, 2, 'instance=');
  t.equal((await json(`${a.adminUrl}/api/divergences?since=15m`)).body.divergences.length, 6, 'since= a duration');
  const future = new Date(Date.now() + 3_600_000).toISOString();
  t.equal((await json(`${a.adminUrl}/api/divergences?since=${future}`)).body.divergences.length, 0, 'since= an ISO time');
  await db.sql.query("UPDATE umbra_divergences SET time = now() - interval '2 hours' WHERE path = '/note/1'");
  t.same((await json(`${a.adminUrl}/api/divergences?since=1h&route=default`)).body.divergences, [], 'since= combined with route=');
  t.equal((await json(`${a.adminUrl}/api/divergences?since=3h&field=${encodeURIComponent('$.note')}`)).body.divergences.length, 1, 'since= combined with field=');
  for (const bad of ['yesterday', '15', '-5m', '2024-13-45T99:00:00Z']) {
    const r = await json(`${a.adminUrl}/api/divergences?since=${encodeURIComponent(bad)}`);
    t.equal(r.status, 400, `since=${bad}`);
    t.match(r.body.error, /since must be/);
  }

  // Route summaries: this instance's counts now, the other's as of its last upsert, summed.
  const routes = await until(async () => {
    const r = await json(`${a.adminUrl}/api/routes`);
    const item = r.body.routes.find((x: { name: string }) => x.name === 'get-item');
    return item?.instances === 2 && item.mirrored === 5 ? r.body : null;
  }, 10_000, 'fleet route totals');
  t.equal(routes.fleet, true);
  const item = routes.routes.find((x: { name: string }) => x.name === 'get-item');
  t.match(item, { service: 'shop', sample: 1, mirrored: 5, compared: 5, mismatches: 5, instances: 2 });
  t.same(item.topFields, [{ field: '$.big', count: 5 }, { field: '$.price', count: 5 }]);
  t.match(routes.routes.find((x: { name: string }) => x.name === 'default'), { mirrored: 1, mismatches: 1 });
  noPassword(t, [a, bb]);
});

t.test('retention deletes records and route rows older than store.retention, in batches', async (t) => {
  const db = await testDatabase(t);
  const b = await backends(t);
  const u = await umbraWithStore(t, b, db.url, { store: ', retention: 1h', timing: { retentionBatch: 7 } });
  await request(`${u.proxyUrl}/items/1`);
  await until(async () => (await rowCount(db)) === 1, 10_000, 'the first record');
  // 20 old records and an old route row of an instance long gone, written as an older umbra would have.
  await db.sql.query(
    `INSERT INTO umbra_divergences (service, instance, id, time, route, method, path, live_status, live_ms, dark_status, dark_ms, write, fields, record)
     SELECT 'shop', 'old-pod', 'old-' || i, now() - interval '2 hours', 'get-item', 'GET', '/items/old', 200, 1, 200, 1, false, ARRAY['$.price'], '{}'::json
     FROM generate_series(1, 20) AS i`,
  );
  await db.sql.query(
    `INSERT INTO umbra_routes (service, instance, route, updated_at, sample, mirrored, compared, matches, mismatches, noise, skipped, errors, dropped, top_fields)
     VALUES ('shop', 'old-pod', 'get-item', now() - interval '2 hours', 1, 9, 9, 0, 9, 0, 0, 0, '{}', '[]')`,
  );
  const staleRoutes = async (): Promise<number> => Number((await db.sql.query("SELECT count(*) AS n FROM umbra_routes WHERE instance = 'old-pod'")).rows[0].n);
  await until(async () => (await rowCount(db, "instance = 'old-pod'")) === 0, 10_000, 'old records deleted');
  t.equal(await rowCount(db), 1, 'the recent record stays');
  // Route rows are deleted after the records, in the same pass: wait for the pass to end.
  await until(async () => (await staleRoutes()) === 0, 10_000, 'the stale route row deleted');
  t.equal(await staleRoutes(), 0, 'the stale route row is gone');
});

t.test('a database that goes away or hangs: live answers 200, records are counted, writing resumes', async (t) => {
  const db = await testDatabase(t);
  const proxy = await pgProxy(t);
  const b = await backends(t);
  const u = await umbraWithStore(t, b, withPassword(db, proxy.port));
  await request(`${u.proxyUrl}/items/first`);
  await until(async () => (await writes(u, 'written')) === 1, 10_000, 'the first record written');

  const liveOnly = async (n: number, tag: string): Promise<number> => {
    let slowest = 0;
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const r = await request(`${u.proxyUrl}/items/${tag}-${i}`);
      slowest = Math.max(slowest, performance.now() - started);
      t.equal(r.status, 200, `${tag} ${i}: live answers`);
    }
    return slowest;
  };

  proxy.cut();
  const slowCut = await liveOnly(20, 'cut');
  t.ok(slowCut < 1_000, `live is not held by a store that went away (slowest ${slowCut.toFixed(0)} ms)`);
  await until(async () => (await writes(u, 'failed')) + (await writes(u, 'dropped')) >= 1, 10_000, 'failed or dropped records');
  const down = await json(`${u.adminUrl}/api/divergences?limit=500`);
  t.equal(down.status, 200, 'the API still answers');
  t.equal(down.body.fleet, false, 'with the local view, marked so');
  t.match(down.body.store, /^unavailable: /);
  t.ok(down.body.divergences.length >= 20, 'the local samples');
  const downRoutes = await json(`${u.adminUrl}/api/routes`);
  t.match(downRoutes.body, { fleet: false, store: /^unavailable/ });

  proxy.restore();
  await request(`${u.proxyUrl}/items/back`);
  await until(async () => (await rowCount(db, "path = '/items/back'")) === 1, 15_000, 'a record written after the database came back');
  t.equal((await json(`${u.adminUrl}/api/divergences`)).body.fleet, true, 'the fleet view is back');

  proxy.hang();
  const slowHang = await liveOnly(10, 'hang');
  t.ok(slowHang < 1_000, `live is not held by a store that hangs (slowest ${slowHang.toFixed(0)} ms)`);
  const started = performance.now();
  const hung = await json(`${u.adminUrl}/api/divergences`);
  t.equal(hung.body.fleet, false, 'a hung store: the local view');
  t.ok(performance.now() - started < 4_000, 'within the API timeout');
  proxy.restore();
  await request(`${u.proxyUrl}/items/again`);
  await until(async () => (await rowCount(db, "path = '/items/again'")) === 1, 15_000, 'written again after the hang');

  const total = (await writes(u, 'written')) + (await writes(u, 'failed')) + (await writes(u, 'dropped'));
  t.equal(total, 33, 'every record is written, failed or dropped: none unaccounted (queued ones included)');
  const warns = u.logs.filter((l) => l['level'] === 'warn' && String(l['msg']).startsWith('store unavailable'));
  t.ok(warns.length >= 1, 'a warn line says the store is unavailable');
  t.ok(warns.length <= 15, `rate-limited (${warns.length} lines)`);
  t.match(warns[0], { store: /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/ });
  t.notMatch(JSON.stringify(down.body), PASSWORD, 'nor in the API answer');

  // Shutdown with the database hung and a record waiting: bounded, the record counted.
  proxy.hang();
  await request(`${u.proxyUrl}/items/last`);
  // The record exists once the local view has it (the fleet view is hung: the local one answers).
  await until(async () => JSON.stringify((await json(`${u.adminUrl}/api/divergences`)).body).includes('/items/last'), 10_000, 'the last sample');
  const stopping = performance.now();
  await u.stop();
  t.ok(performance.now() - stopping < 4_000, `stop is not held by a hung store (${(performance.now() - stopping).toFixed(0)} ms)`);
  t.equal((await Promise.all(['written', 'failed', 'dropped'].map((r) => writes2(u, r)))).reduce((a, b) => a + b, 0), 34, 'the last record counted too');
  noPassword(t, [u]);
});

t.test('unreachable at start: umbra starts and serves; maxQueued bounds the queue, overflow dropped; written once it answers', async (t) => {
  const db = await testDatabase(t);
  const proxy = await pgProxy(t, 'cut');
  const b = await backends(t);
  const u = await umbraWithStore(t, b, withPassword(db, proxy.port), { store: ', maxQueued: 3' });
  t.equal(u.ready, true, 'ready with no database');
  for (let i = 0; i < 8; i++) t.equal((await request(`${u.proxyUrl}/items/${i}`)).status, 200);
  await until(async () => (await writes(u, 'dropped')) === 5, 10_000, '5 dropped');
  t.equal(u.fleet?.queued.records, 3, '3 wait');
  const buffered = metricValue((await request(`${u.adminUrl}/metrics`)).body.toString(), 'umbra_shadow_buffered_bytes');
  t.ok(buffered >= (u.fleet?.queued.bytes ?? 0) && (u.fleet?.queued.bytes ?? 0) > 0, `queued bytes (${u.fleet?.queued.bytes}) count in the shared budget (${buffered})`);
  t.equal(await writes(u, 'failed'), 0);
  proxy.restore();
  await until(async () => (await writes(u, 'written')) === 3, 15_000, 'the queued records written once the database answers');
  t.equal(u.fleet?.queued.bytes, 0, 'their bytes given back');
  t.equal(await rowCount(db), 3);
  noPassword(t, [u]);
});

t.test('without a store, since= filters the local samples too (and a bad value is a 400)', async (t) => {
  const b = await backends(t);
  const u = await startTestUmbra(`live: { url: "${b.live.url}" }\ndark: { url: "${b.dark.url}" }\nmirror: { sample: 1.0 }`, { level: 'info' });
  t.teardown(() => u.stop());
  for (let i = 0; i < 3; i++) await request(`${u.proxyUrl}/items/${i}`);
  await until(async () => (await json(`${u.adminUrl}/api/divergences`)).body.divergences.length === 3, 10_000, '3 samples');
  const r = await json(`${u.adminUrl}/api/divergences?since=15m&field=${encodeURIComponent('$.price')}&limit=2`);
  t.equal(r.body.divergences.length, 2, 'since= with field= and limit=');
  t.equal(r.body.fleet, undefined, 'no fleet flag without a store');
  t.equal((await json(`${u.adminUrl}/api/divergences?since=${new Date(Date.now() + 60_000).toISOString()}`)).body.divergences.length, 0, 'an ISO time after them');
  t.equal((await json(`${u.adminUrl}/api/divergences?since=2h`)).body.divergences.length, 3);
  t.equal((await json(`${u.adminUrl}/api/divergences?since=soon`)).status, 400);
  t.equal((await json(`${u.adminUrl}/api/divergences?route=nope`)).status, 404, 'an unknown route is still a 404 without a store');
});
