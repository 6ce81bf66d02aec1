// The migration example (examples/migration/, docs/migration.md) against the real
// local MariaDB and PostgreSQL: seed and backfill copy the data faithfully, the two
// versions of the shop answer byte for byte alike with the bugs off, and each planted
// bug shows at its own field path and nowhere else. Each test works in databases of
// its own (umbra_mig_<pid>_<random>), dropped in teardown whatever happened.
//
// Needs both servers (see examples/migration/databases.ts for the URLs); when one is
// not answering the test fails and says how to start it.
import t, { type Test } from 'tap';
import { refusedPort } from '../helpers/net.js';
import { dumpOld, dumpOldDatabase, postgresPool, readNew, restoreNewDatabase } from '../../examples/migration/backfill.js';
import { ALL_BUGS, BUGS, NO_BUGS, parseBugs, type Bug, type Bugs } from '../../examples/migration/bugs.js';
import {
  DatabaseUnavailable,
  checkServers,
  createRunDatabases,
  listRunDatabases,
  serversFromEnv,
  type RunDatabases,
} from '../../examples/migration/databases.js';
import { SEED, mariadbPool, seedOld } from '../../examples/migration/seed.js';
import { startShop, type Shop } from '../../examples/migration/shop.js';
import { shoppingSessions, readAfterWriteSessions, type Session, type Step } from '../../examples/migration/traffic.js';

const servers = serversFromEnv();

const stacks = new WeakMap<Test, Array<() => Promise<void>>>();

/** Teardown, last in first out: what uses a database closes before the database is dropped. */
function defer(t: Test, fn: () => Promise<void>): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const fns: Array<() => Promise<void>> = [];
    stacks.set(t, (stack = fns));
    t.teardown(async () => {
      const errors: unknown[] = [];
      for (const f of fns.reverse()) await f().catch((err: unknown) => errors.push(err));
      if (errors.length > 0) throw errors[0];
    });
  }
  stack.push(fn);
}

/** Fresh databases for one test: seeded old, new restored from it; dropped in teardown. */
async function seededDatabases(t: Test): Promise<RunDatabases> {
  const dbs = await createRunDatabases(servers);
  defer(t, () => dbs.drop());
  const pool = mariadbPool(servers, dbs.name);
  try {
    await seedOld(pool);
  } finally {
    await pool.end();
  }
  await restoreNewDatabase(servers, dbs.name, await dumpOldDatabase(servers, dbs.name));
  return dbs;
}

async function shops(t: Test, bugs: Bugs): Promise<{ old: Shop; new: Shop; dbs: RunDatabases }> {
  const dbs = await seededDatabases(t);
  const old = await startShop({ version: 'old', database: dbs.name, servers });
  defer(t, () => old.close());
  const neu = await startShop({ version: 'new', database: dbs.name, servers, bugs });
  defer(t, () => neu.close());
  return { old, new: neu, dbs };
}

interface Answer {
  readonly status: number;
  readonly type: string | null;
  readonly body: string;
}

async function send(base: string, step: Step, time: string): Promise<Answer> {
  const res = await fetch(`${base}${step.path}`, {
    method: step.method,
    headers: { 'x-request-time': time, ...(step.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(step.body !== undefined ? { body: JSON.stringify(step.body) } : {}),
  });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

interface Pair {
  readonly step: Step;
  readonly old: Answer;
  readonly new: Answer;
}

/** Each step to old, then to new, with the same x-request-time (a sub-second one). */
async function lockstep(old: Shop, neu: Shop, sessions: readonly Session[]): Promise<Pair[]> {
  const pairs: Pair[] = [];
  let clock = Date.parse('2024-06-01T12:00:00.000Z');
  for (const session of sessions) {
    for (const step of session) {
      clock += 1_237; // never a whole second: the fraction is what the timestamp bug keeps
      const time = new Date(clock).toISOString();
      pairs.push({ step, old: await send(old.url, step, time), new: await send(neu.url, step, time) });
    }
  }
  return pairs;
}

/** Canonical paths ($.a[*].b) where two JSON values differ; an array in another order is `$.path (order)`. */
function differingPaths(a: unknown, b: unknown, path = '$', out = new Set<string>()): Set<string> {
  if (Array.isArray(a) && Array.isArray(b)) {
    const key = (v: unknown): string => JSON.stringify(v);
    const sameElements = a.length === b.length && [...a].map(key).sort().join('\n') === [...b].map(key).sort().join('\n');
    if (sameElements && a.some((v, i) => key(v) !== key(b[i]))) {
      out.add(`${path} (order)`);
      return out;
    }
    for (let i = 0; i < Math.max(a.length, b.length); i++) differingPaths(a[i], b[i], `${path}[*]`, out);
    return out;
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = a as Record<string, unknown>;
    const kb = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(ka), ...Object.keys(kb)])) differingPaths(ka[k], kb[k], `${path}.${k}`, out);
    return out;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.add(path);
  return out;
}

function pathsOf(pairs: readonly Pair[]): string[] {
  const all = new Set<string>();
  for (const p of pairs) {
    if (p.old.status !== p.new.status) all.add(`status of ${p.step.method} ${p.step.path}`);
    differingPaths(JSON.parse(p.old.body), JSON.parse(p.new.body), '$', all);
  }
  return [...all].sort();
}

/** Requests that show every bug for sure, and the answers the shop gives to mistakes. */
const CRAFTED: Session[] = [
  [
    { method: 'GET', path: '/products' },
    { method: 'GET', path: '/products/5' },
    { method: 'PUT', path: '/carts/t-1', body: {} },
    { method: 'POST', path: '/carts/t-1/items', body: { productId: 6, qty: 1 } }, // 9.80: tax 0.735 exactly
    { method: 'GET', path: '/carts/t-1' },
    { method: 'POST', path: '/carts/t-1/checkout' },
    { method: 'GET', path: '/orders/t-1' },
    { method: 'PUT', path: '/carts/t-2', body: { note: 'Ring twice' } },
    { method: 'POST', path: '/carts/t-2/items', body: { productId: 3, qty: 2 } },
    { method: 'POST', path: '/carts/t-2/items', body: { productId: 3, qty: 1 } },
    { method: 'POST', path: '/carts/t-2/checkout' },
    { method: 'GET', path: '/orders/legacy-1' },
    { method: 'GET', path: '/orders/legacy-2' },
    { method: 'GET', path: '/carts/legacy-3' },
  ],
  [
    { method: 'GET', path: '/products/99' },
    { method: 'GET', path: '/products/x' },
    { method: 'PUT', path: '/carts/t-1', body: {} },
    { method: 'PUT', path: '/carts/Not_Valid', body: {} },
    { method: 'POST', path: '/carts/t-1/items', body: { productId: 1, qty: 1 } },
    { method: 'POST', path: '/carts/t-3/items', body: { productId: 1, qty: 1 } },
    { method: 'PUT', path: '/carts/t-4', body: {} },
    { method: 'POST', path: '/carts/t-4/items', body: { productId: 99, qty: 1 } },
    { method: 'POST', path: '/carts/t-4/items', body: { productId: 1, qty: 0 } },
    { method: 'POST', path: '/carts/t-4/checkout' },
    { method: 'POST', path: '/carts/t-2/checkout' },
    { method: 'GET', path: '/orders/nope' },
    { method: 'DELETE' as 'GET', path: '/carts/t-2' },
    { method: 'GET', path: '/elsewhere' },
  ],
];

const MIX = [...shoppingSessions({ shoppers: 4, prefix: 'm' }), ...readAfterWriteSessions({ shoppers: 1, rounds: 3, prefix: 'r' })];

/** Where each bug must show, and nothing else. */
const EXPECTED: Record<Bug, string[]> = {
  collation: ['$.products (order)'],
  timestamp: ['$.createdAt'],
  null: ['$.note'],
  decimal: ['$.tax', '$.total'],
};

const unavailable = await checkServers(servers).then(
  () => null,
  (err: unknown) => (err instanceof Error ? err.message : JSON.stringify(err)),
);

if (unavailable !== null) {
  t.fail(unavailable);
} else {
  t.test('SHOP_BUGS: all by default, none, or a list; a typo is an error', (t) => {
    t.same([...parseBugs(undefined)], [...BUGS]);
    t.equal(parseBugs('none').size, 0);
    t.equal(parseBugs('').size, 0);
    t.same([...parseBugs('decimal, null')].sort(), ['decimal', 'null']);
    t.throws(() => parseBugs('colation'), /unknown bug "colation"/);
    t.end();
  });

  t.test('a server that is not answering: a clear error that says how to start it', async (t) => {
    const port = await refusedPort();
    const down = serversFromEnv({ SHOP_OLD_DB: `mysql://root@127.0.0.1:${port}` });
    const err = await checkServers(down).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof DatabaseUnavailable, 'DatabaseUnavailable');
    t.match((err as Error).message, new RegExp(`MariaDB is not answering at 127\\.0\\.0\\.1:${port}.*start-stop-daemon`));
    const pgDown = serversFromEnv({ SHOP_NEW_DB: `postgres://postgres@127.0.0.1:${port}` });
    const err2 = await checkServers(pgDown).catch((e: unknown) => e);
    t.match((err2 as Error).message, /PostgreSQL is not answering .*pg_ctlcluster/);
    await t.rejects(createRunDatabases(servers, 'production'), /start with umbra_mig_/, 'only umbra_mig_ names are ever created or dropped');
  });

  t.test('seed, then backfill: PostgreSQL holds exactly what MariaDB holds', async (t) => {
    const dbs = await seededDatabases(t);
    const old = await dumpOldDatabase(servers, dbs.name);
    t.same(old, SEED, 'the old database holds the seed');
    const pool = postgresPool(servers, dbs.name);
    defer(t, () => pool.end());
    t.same(await readNew(pool), old, 'the new database holds the same rows, empty notes and exact decimals included');
  });

  t.test('bugs off: the two versions answer byte for byte alike, and keep the same data', async (t) => {
    const { old, new: neu, dbs } = await shops(t, NO_BUGS);
    const pairs = await lockstep(old, neu, [...CRAFTED, ...MIX]);
    const statuses = new Set(pairs.map((p) => p.old.status));
    t.ok([200, 201, 400, 404, 405, 409].every((s) => statuses.has(s)), `successes and every kind of mistake were sent (${[...statuses].join(', ')})`);
    const unlike = pairs.filter((p) => p.old.status !== p.new.status || p.old.body !== p.new.body || p.old.type !== p.new.type);
    t.same(
      unlike.map((p) => `${p.step.method} ${p.step.path}\n  old ${p.old.status} ${p.old.body}\n  new ${p.new.status} ${p.new.body}`),
      [],
      `${pairs.length} requests, every answer identical`,
    );
    const oldPool = mariadbPool(servers, dbs.name);
    const newPool = postgresPool(servers, dbs.name);
    defer(t, () => oldPool.end());
    defer(t, () => newPool.end());
    const [a, b] = await Promise.all([dumpOld(oldPool), readNew(newPool)]);
    t.ok(a.orders.length > SEED.orders.length + 2, `orders were written (${a.orders.length})`);
    t.same(b, a, 'after the same writes, both databases hold the same rows');
  });

  for (const bug of BUGS) {
    t.test(`bug "${bug}" alone: the answers differ at ${EXPECTED[bug].join(', ')} and nowhere else`, async (t) => {
      const { old, new: neu } = await shops(t, new Set([bug]));
      const pairs = await lockstep(old, neu, [...CRAFTED, ...MIX]);
      t.same(pathsOf(pairs), EXPECTED[bug]);
    });
  }

  t.test('every bug on (the walkthrough default): the four field paths together', async (t) => {
    const { old, new: neu } = await shops(t, ALL_BUGS);
    const pairs = await lockstep(old, neu, CRAFTED);
    t.same(pathsOf(pairs), Object.values(EXPECTED).flat().sort());
  });

  t.test("nothing is left behind: this process's databases are gone from both servers", async (t) => {
    const left = await listRunDatabases(servers);
    const mine = (names: string[]): string[] => names.filter((n) => n.startsWith(`umbra_mig_${process.pid}_`));
    t.same(mine(left.mariadb), [], 'MariaDB');
    t.same(mine(left.postgres), [], 'PostgreSQL');
  });
}
