// The migration walkthrough (docs/migration.md), end to end on the real databases:
//
//   1. snapshot  create the databases, seed the old one, start the old shop, and
//                take the snapshot of the old database: the state capture starts from
//   2. capture   umbra in front of the old shop records scripted shopper traffic
//   3. replay    restore the snapshot into PostgreSQL, start the new shop on it, and
//                `umbra replay --ordered` the capture onto it
//   4. shadow    umbra serving the old shop live and mirroring every request, writes
//                included, to the new one: first without mirror.orderBy (reads
//                overtake writes), then with it (they do not)
//   5. verdict   what umbra found, from the replay report and the admin API, against
//                the planted bugs; then the databases are dropped
//
//   npm run build && npx tsc -p examples/migration && node dist/examples/migration/run.js [--fixed]
//
// SHOP_BUGS chooses the new version's bugs (default: all four; --fixed = none).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { dumpOldDatabase, restoreNewDatabase } from './backfill.js';
import { BUGS, BUG_INFO, NO_BUGS, formatBugs, parseBugs, type Bug, type Bugs } from './bugs.js';
import { createRunDatabases, serversFromEnv, type RunDatabases } from './databases.js';
import { mariadbPool, seedOld } from './seed.js';
import { startShop, type Shop } from './shop.js';
import { describe } from './snapshot.js';
import { drive, readAfterWriteSessions, shoppingSessions, type DriveResult } from './traffic.js';
import {
  EXAMPLE_DIR,
  ROOT,
  checkBuilt,
  fetchDivergences,
  metric,
  runUmbraCommand,
  settle,
  startUmbraServer,
  type Divergence,
  type RouteSummary,
  type UmbraServer,
} from './umbra.js';

export interface WalkthroughOptions {
  /** The new version's bugs; default SHOP_BUGS, else all four. */
  readonly bugs?: Bugs;
  /** Shoppers in the captured traffic; default 30. */
  readonly shoppers?: number;
  /** Shoppers and add-then-read rounds in each shadow phase; default 6 and 4. */
  readonly raceShoppers?: number;
  readonly rounds?: number;
  /** Added to every write of the new shop in the shadow step: its database is further away. Default 100 ms. */
  readonly writeDelayMs?: number;
  /** Keep the work directory (capture files, snapshot, report, umbra logs). */
  readonly keepFiles?: boolean;
  readonly out?: NodeJS.WritableStream;
}

/** A step that could not run, and why (a feature this umbra build does not have yet). */
export interface Skipped {
  readonly skipped: string;
}

export interface ReplayOutcome {
  readonly code: number | null;
  readonly routes: readonly RouteSummary[];
  readonly divergences: readonly Divergence[];
  readonly summary: unknown;
  /** Canonical field paths with mismatches, and how often. */
  readonly fields: ReadonlyMap<string, number>;
}

export interface ShadowOutcome {
  readonly ordered: boolean;
  readonly traffic: DriveResult;
  readonly routes: readonly RouteSummary[];
  readonly divergences: readonly Divergence[];
  readonly fields: ReadonlyMap<string, number>;
  /** Cart reads (get-cart) whose items or total differed: the read-after-write race. */
  readonly staleReads: number;
  readonly cartReads: number;
  /** Order reads (get-order) that reached the new shop before the checkout they follow. */
  readonly earlyOrderReads: number;
  readonly orderReads: number;
  readonly dropped: number;
}

export interface Finding {
  readonly bug: Bug;
  readonly planted: boolean;
  readonly fields: readonly string[];
  readonly inReplay: boolean;
  readonly inShadow: boolean;
  readonly example: string | null;
}

export interface WalkthroughResult {
  readonly database: string;
  readonly bugs: Bugs;
  readonly captured: number | Skipped;
  readonly replay: ReplayOutcome | Skipped;
  readonly unordered: ShadowOutcome;
  readonly ordered: ShadowOutcome;
  readonly findings: readonly Finding[];
  /** Mismatching fields that no planted bug explains (replay and ordered shadow). */
  readonly unexplained: readonly string[];
  /** Bugs off and nothing found: the new version answers like the old. */
  readonly clean: boolean;
  readonly workDir: string | null;
}

/** The fields a bug shows at; $.products also as its elements when the order changes more than a swap. */
const FIELDS: Readonly<Record<Bug, readonly string[]>> = {
  collation: ['$.products'],
  timestamp: ['$.createdAt'],
  null: ['$.note'],
  decimal: ['$.total', '$.tax'],
};

const CART_ROUTES = new Set(['get-cart', 'add-item']);

function bugOf(field: string, route: string): Bug | null {
  if (field === '$.products' || field.startsWith('$.products[')) return 'collation';
  if (field === '$.createdAt') return 'timestamp';
  if (field === '$.note') return 'null';
  // A cart's total has no tax: there a difference is a stale read, not the decimal bug.
  if ((field === '$.total' || field === '$.tax') && !CART_ROUTES.has(route)) return 'decimal';
  return null;
}

function isStaleRead(field: string): boolean {
  return field === '$.items' || field.startsWith('$.items[') || field === '$.total';
}

function fieldCounts(routes: readonly RouteSummary[], only?: (route: string, field: string) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of routes) {
    for (const f of r.topFields) {
      if (only !== undefined && !only(r.name, f.field)) continue;
      out.set(`${r.name} ${f.field}`, (out.get(`${r.name} ${f.field}`) ?? 0) + f.count);
    }
  }
  return out;
}

function show(v: unknown): string {
  const s = v === undefined ? '(absent)' : JSON.stringify(v);
  return s.length > 70 ? `${s.slice(0, 67)}...` : s;
}

function example(divergences: readonly Divergence[], bug: Bug): string | null {
  for (const d of divergences) {
    const diff = d.differences.find((x) => bugOf(x.field, d.route) === bug);
    if (diff === undefined) continue;
    if (diff.kind === 'order') return `${d.method} ${d.path}: ${diff.field} in another order`;
    return `${d.method} ${d.path}: ${diff.field} ${show(diff.live)} → ${show(diff.dark)}`;
  }
  return null;
}

function countCaptured(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.jsonl') || e.name.endsWith('.jsonl.gz')) {
        const raw = readFileSync(p);
        const text = e.name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
        n += text.split('\n').filter((l) => l.trim() !== '').length;
      }
    }
  };
  walk(dir);
  return n;
}

function table(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => `${indent}${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd()).join('\n');
}

function formatRoutes(routes: readonly RouteSummary[]): string {
  const rows = [['route', 'mirrored', 'compared', 'match', 'mismatch', 'top fields']];
  for (const r of routes.filter((x) => x.mirrored > 0 || x.compared > 0)) {
    rows.push([
      r.name,
      String(r.mirrored),
      String(r.compared),
      String(r.matches),
      String(r.mismatches),
      r.topFields.length === 0 ? '-' : r.topFields.slice(0, 3).map((f) => `${f.field} (${f.count})`).join(', '),
    ]);
  }
  return table(rows, '    ');
}

/** The cleanup of walkthroughs under way, for Ctrl-C: umbra stopped, shops closed, databases dropped. */
const running = new Set<() => Promise<void>>();

export async function runWalkthrough(opts: WalkthroughOptions = {}): Promise<WalkthroughResult> {
  const out = opts.out ?? process.stdout;
  const say = (text = ''): void => void out.write(`${text}\n`);
  const bugs = opts.bugs ?? parseBugs(process.env.SHOP_BUGS);
  const servers = serversFromEnv();
  checkBuilt();

  const work = mkdtempSync(path.join(tmpdir(), 'umbra-migration-'));
  const captureDir = path.join(work, 'capture');
  const reportFile = path.join(work, 'replay-report.json');
  const cleanup: Array<() => Promise<unknown>> = [];
  const umbraEnv = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ MIG_LISTEN: '127.0.0.1:0', MIG_ADMIN: '127.0.0.1:0', ...extra });
  const startLogged = async (config: string, name: string, env: NodeJS.ProcessEnv): Promise<UmbraServer> => {
    const u = await startUmbraServer(path.join(EXAMPLE_DIR, config), umbraEnv(env));
    cleanup.push(async () => {
      await u.stop();
      writeFileSync(path.join(work, `${name}.log`), `${u.lines.join('\n')}\n`);
    });
    return u;
  };
  let dbs: RunDatabases | null = null;
  const emergency = async (): Promise<void> => {
    for (const fn of [...cleanup].reverse()) await fn().catch(() => undefined);
    await dbs?.drop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  };
  running.add(emergency);
  try {
    // ---- 1. snapshot ----
    dbs = await createRunDatabases(servers);
    const db = dbs;
    say(`umbra migration walkthrough: a shop moves from MariaDB to PostgreSQL`);
    say(`  databases   ${db.name} in MariaDB (${servers.mariadb.host}) and PostgreSQL (${servers.postgres.host || servers.postgres.searchParams.get('host') || ''})`);
    say(`  new version planted bugs: ${formatBugs(bugs)}`);
    say(`  work files  ${work}`);
    say();
    const pool = mariadbPool(servers, db.name);
    try {
      await seedOld(pool);
    } finally {
      await pool.end();
    }
    const old = await startShop({ version: 'old', database: db.name, servers });
    cleanup.push(() => old.close());
    const snapshot = await dumpOldDatabase(servers, db.name);
    writeFileSync(path.join(work, 'snapshot.json'), `${JSON.stringify(snapshot, null, 1)}\n`);
    say(`1. snapshot: old shop on MariaDB at ${old.url}; snapshot of the old database taken`);
    say(`   as capture starts (${describe(snapshot)}), written to snapshot.json`);

    // ---- 2. capture ----
    const sessions = shoppingSessions({ shoppers: opts.shoppers ?? 30, prefix: 'c' });
    const capturing = await startLogged('capture.yaml', 'umbra-capture', { MIG_OLD_URL: old.url, MIG_CAPTURE_DIR: captureDir });
    const captureTraffic = await drive(capturing.proxyUrl, sessions, { concurrency: 4 });
    const written = await metric(capturing.adminUrl, 'umbra_capture_records_total', { result: 'written' });
    await capturing.stop();
    let captured: number | Skipped;
    try {
      captured = countCaptured(captureDir);
    } catch {
      captured = 0;
    }
    if (captured === 0) captured = { skipped: 'umbra recorded no capture files (see its log: capture records dropped)' };
    say(
      `2. capture: umbra in front of the old shop (capture.yaml, no dark): ${captureTraffic.sent} requests from ${sessions.length} shoppers, ` +
        `${captureTraffic.failed} failed; ${typeof captured === 'number' ? `${captured} exchanges recorded (metric: ${written})` : captured.skipped}`,
    );
    if (captureTraffic.failed > 0) throw new Error(`the captured traffic failed: ${captureTraffic.errors.join('; ')}`);

    // ---- 3. restore and replay ----
    await restoreNewDatabase(servers, db.name, snapshot);
    const neu: Shop = await startShop({ version: 'new', database: db.name, servers, bugs });
    cleanup.push(() => neu.close());
    say(`3. restore: snapshot.json into PostgreSQL; new shop at ${neu.url}`);
    let replay: ReplayOutcome | Skipped;
    if (typeof captured !== 'number') replay = { skipped: 'nothing was captured to replay' };
    else {
      const args = ['replay', captureDir, '--target', neu.url, '--ordered', '--config', path.join(EXAMPLE_DIR, 'shadow.yaml'), '--report', reportFile];
      say(`   umbra ${args.map((a) => (a.startsWith(work) ? path.join('$WORK', path.relative(work, a)) : a.startsWith(ROOT) ? path.relative(ROOT, a) : a)).join(' ')}`);
      const r = await runUmbraCommand(args, umbraEnv({ MIG_OLD_URL: old.url, MIG_NEW_URL: neu.url }));
      if (r.code !== 0 && r.code !== 1) {
        replay = { skipped: `umbra replay exited ${r.code}: ${(r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? ''}` };
      } else {
        const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { summary?: unknown; routes?: RouteSummary[]; divergences?: Divergence[] };
        const routes = report.routes ?? [];
        replay = { code: r.code, routes, divergences: report.divergences ?? [], summary: report.summary, fields: fieldCounts(routes) };
        for (const line of r.stdout.trimEnd().split('\n')) say(`   | ${line}`);
      }
    }
    if ('skipped' in replay) say(`   replay skipped: ${replay.skipped}`);

    // ---- 4. shadow ----
    // A second instance of the new shop on the same database, whose writes take longer:
    // in production the new database is often further away (another zone, a proxy).
    const delay = opts.writeDelayMs ?? 100;
    const far: Shop = await startShop({ version: 'new', database: db.name, servers, bugs, writeDelayMs: delay });
    cleanup.push(() => far.close());
    const shadow = async (ordered: boolean, prefix: string): Promise<ShadowOutcome> => {
      const u = await startLogged('shadow.yaml', ordered ? 'umbra-shadow-ordered' : 'umbra-shadow-unordered', {
        MIG_OLD_URL: old.url,
        MIG_NEW_URL: far.url,
        ...(ordered ? {} : { MIG_ORDER_BY: 'null' }),
      });
      // Shoppers as in the capture, and shoppers who read their cart right after each write.
      const plan = [
        ...shoppingSessions({ shoppers: opts.raceShoppers ?? 6, prefix: `${prefix}s`, seed: ordered ? 11 : 12 }),
        ...readAfterWriteSessions({ shoppers: opts.raceShoppers ?? 6, rounds: opts.rounds ?? 4, prefix }),
      ];
      const traffic = await drive(u.proxyUrl, plan, { concurrency: plan.length });
      if (traffic.failed > 0) throw new Error(`shadow traffic failed: ${traffic.errors.join('; ')}`);
      const routes = await settle(u.adminUrl);
      const divergences = (await Promise.all(routes.map((r) => fetchDivergences(u.adminUrl, r.name)))).flat();
      const cart = routes.find((r) => r.name === 'get-cart');
      const order = routes.find((r) => r.name === 'get-order');
      const most = (r: RouteSummary | undefined, pick: (field: string) => boolean): number =>
        (r?.topFields ?? []).filter((f) => pick(f.field)).reduce((m, f) => Math.max(m, f.count), 0);
      const stale = most(cart, isStaleRead);
      // An order read before its checkout: 404 on the new side, so status and the body's id differ.
      const early = most(order, (f) => f === 'status' || f === '$.id');
      const dropped = routes.reduce((n, r) => n + Object.values(r.dropped ?? {}).reduce((a, b) => a + b, 0), 0);
      await u.stop();
      return {
        ordered,
        traffic,
        routes,
        divergences,
        fields: fieldCounts(routes),
        staleReads: stale,
        cartReads: cart?.compared ?? 0,
        earlyOrderReads: early,
        orderReads: order?.compared ?? 0,
        dropped,
      };
    };
    say(`4. shadow: umbra serves the old shop and mirrors every request, writes included, to the new one`);
    say(`   (shadow.yaml, mirror.sample 1; new shop at ${far.url}, whose writes take ${delay} ms longer: its database is further away)`);
    const unordered = await shadow(false, 'u');
    say(`   a. without mirror.orderBy (MIG_ORDER_BY=null): ${unordered.traffic.sent} requests; shoppers, and shoppers who read their cart right after each write`);
    say(formatRoutes(unordered.routes));
    const ordered = await shadow(true, 's');
    say(`   b. with mirror.orderBy: path:id on the cart and order routes: ${ordered.traffic.sent} requests, the same mix`);
    say(formatRoutes(ordered.routes));

    // ---- 5. verdict ----
    const replayed = 'skipped' in replay ? null : replay;
    const seen = (where: ReadonlyMap<string, number>, bug: Bug): boolean =>
      [...where.keys()].some((k) => {
        const [route = '', field = ''] = k.split(' ');
        return bugOf(field, route) === bug;
      });
    const findings: Finding[] = BUGS.map((bug) => ({
      bug,
      planted: bugs.has(bug),
      fields: FIELDS[bug],
      inReplay: replayed !== null && seen(replayed.fields, bug),
      inShadow: seen(ordered.fields, bug),
      example: example([...(replayed?.divergences ?? []), ...ordered.divergences], bug),
    }));
    const unexplained = [...new Set([...(replayed?.fields.keys() ?? []), ...ordered.fields.keys()])].filter((k) => {
      const [route = '', field = ''] = k.split(' ');
      return bugOf(field, route) === null;
    });
    const mismatches = (routes: readonly RouteSummary[]): number => routes.reduce((n, r) => n + r.mismatches, 0);
    const compared = (routes: readonly RouteSummary[]): number => routes.reduce((n, r) => n + r.compared, 0);
    const clean = bugs.size === 0 && mismatches(ordered.routes) === 0 && (replayed === null || mismatches(replayed.routes) === 0);

    say();
    say('5. verdict (from the replay report and /api/routes, /api/divergences):');
    say();
    const rows = [['planted bug', 'field', 'replay', 'shadow', 'example (old → new)']];
    for (const f of findings) {
      const mark = (found: boolean, ran: boolean): string => (!ran ? 'n/a' : found ? 'found' : f.planted ? 'MISSED' : '-');
      rows.push([
        `${f.bug}${f.planted ? '' : ' (off)'}`,
        f.fields.join(', '),
        mark(f.inReplay, replayed !== null),
        mark(f.inShadow, true),
        f.example ?? '-',
      ]);
    }
    say(table(rows));
    say();
    say(`  read-after-write: reads that reached the new shop before the write they follow`);
    say(`    (get-cart at $.items or $.total; get-order at status and $.id: the order did not exist yet)`);
    say(`    without orderBy  ${unordered.staleReads} of ${unordered.cartReads} cart reads, ${unordered.earlyOrderReads} of ${unordered.orderReads} order reads`);
    say(
      `    with orderBy     ${ordered.staleReads} of ${ordered.cartReads} cart reads, ${ordered.earlyOrderReads} of ${ordered.orderReads} order reads (dropped by the order queue: ${ordered.dropped})`,
    );
    say(`  other mismatching fields: ${unexplained.length === 0 ? 'none' : unexplained.join(', ')}`);
    say();
    if (clean) {
      say(
        `  Clean: 0 mismatches in ${replayed === null ? 0 : compared(replayed.routes)} replayed and ${compared(ordered.routes)} shadowed comparisons.`,
      );
      say('  Next: the same at sample 1 on real traffic until the rule of three says enough, then switch (docs/migration.md).');
    } else if (bugs.size > 0) {
      for (const f of findings.filter((x) => x.planted)) say(`  ${f.bug}: ${BUG_INFO[f.bug].what}.\n    fix: ${BUG_INFO[f.bug].fix}`);
      say();
      say('  Not ready to switch. Run again with --fixed (SHOP_BUGS=none) for the fixed new version.');
    } else {
      say('  Mismatches with every bug off: see the fields above.');
    }
    const skipped = [typeof captured === 'number' ? null : `capture: ${captured.skipped}`, replayed === null && 'skipped' in replay ? `replay: ${replay.skipped}` : null].filter(
      (s): s is string => s !== null,
    );
    for (const s of skipped) say(`  NOT RUN ${s}`);
    return {
      database: db.name,
      bugs,
      captured,
      replay,
      unordered,
      ordered,
      findings,
      unexplained,
      clean,
      workDir: opts.keepFiles === true ? work : null,
    };
  } finally {
    running.delete(emergency);
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
    if (dbs !== null) {
      await dbs.drop();
      say(`  databases ${dbs.name} dropped${opts.keepFiles === true ? `; files kept in ${work}` : ''}`);
    }
    if (opts.keepFiles !== true) rmSync(work, { recursive: true, force: true });
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { fixed: { type: 'boolean' }, 'keep-files': { type: 'boolean' }, shoppers: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help === true) {
    process.stdout.write('usage: run.js [--fixed] [--keep-files] [--shoppers N]   (SHOP_BUGS, SHOP_OLD_DB, SHOP_NEW_DB from the environment)\n');
    return 0;
  }
  const result = await runWalkthrough({
    ...(values.fixed === true ? { bugs: NO_BUGS } : {}),
    ...(values.shoppers !== undefined ? { shoppers: Number(values.shoppers) } : {}),
    keepFiles: values['keep-files'] === true,
  });
  const missed = result.findings.filter((f) => f.planted && !f.inShadow);
  return missed.length === 0 && (result.bugs.size > 0 || result.clean) ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Ctrl-C: stop what was started and drop the databases before leaving.
  process.once('SIGINT', () => {
    process.stderr.write('\ninterrupted: dropping the databases\n');
    void Promise.all([...running].map((fn) => fn())).finally(() => process.exit(130));
  });
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`run: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
