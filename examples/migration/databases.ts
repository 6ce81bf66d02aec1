// The two database servers of the migration example: where they are, how to tell
// that one is not answering, and one pair of throw-away databases per run.
//
// Every run (the walkthrough, each test) works in a database of its own, named
// umbra_mig_<pid>_<random>, created in both servers at the start and dropped at the
// end, also on failure. Only names with that prefix are ever created or dropped, so
// a wrong argument cannot drop somebody's real database.
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';

/** Where the servers are: SHOP_OLD_DB (MariaDB) and SHOP_NEW_DB (PostgreSQL) URLs, without a database. */
export interface Servers {
  readonly mariadb: URL;
  readonly postgres: URL;
}

export const DEFAULT_MARIADB = 'mysql://root@127.0.0.1:3306';
export const DEFAULT_POSTGRES = 'postgres://postgres@127.0.0.1:5432';

const HOW_TO_START = {
  mariadb: 'start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
  postgres: 'start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
};

export class DatabaseUnavailable extends Error {
  override readonly name = 'DatabaseUnavailable';
}

export function serversFromEnv(env: NodeJS.ProcessEnv = process.env): Servers {
  const url = (name: string, fallback: string): URL => {
    const raw = env[name] === undefined || env[name] === '' ? fallback : env[name];
    try {
      return new URL(raw);
    } catch {
      throw new Error(`${name} must be a URL such as ${fallback}, not "${raw}"`);
    }
  };
  return { mariadb: url('SHOP_OLD_DB', DEFAULT_MARIADB), postgres: url('SHOP_NEW_DB', DEFAULT_POSTGRES) };
}

const NAME = /^umbra_mig_[a-z0-9_]{1,48}$/;

/** umbra_mig_<pid>_<random>: a database of this run's own. */
export function runDatabaseName(): string {
  return `umbra_mig_${process.pid}_${randomBytes(4).toString('hex')}`;
}

function checkName(name: string): string {
  if (!NAME.test(name)) throw new Error(`database names here start with umbra_mig_ and use [a-z0-9_] only, not "${name}"`);
  return name;
}

function where(url: URL): string {
  return url.host === '' ? url.pathname : url.host;
}

/** Options for mysql2: UTC on both sides, DECIMAL as exact strings. */
export function mariadbOptions(servers: Servers, database?: string): mysql.PoolOptions {
  const u = servers.mariadb;
  return {
    host: u.hostname === '' ? '127.0.0.1' : u.hostname,
    port: u.port === '' ? 3306 : Number(u.port),
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password),
    ...(database !== undefined ? { database } : {}),
    timezone: 'Z',
    decimalNumbers: false,
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectionLimit: 8,
    connectTimeout: 3000,
  };
}

/** Options for pg: the URL's host (or a socket directory given as ?host=/run/postgresql). */
export function postgresOptions(servers: Servers, database?: string): pg.PoolConfig {
  const u = servers.postgres;
  const socket = u.searchParams.get('host');
  return {
    host: socket ?? (u.hostname === '' ? '127.0.0.1' : u.hostname),
    port: u.port === '' ? 5432 : Number(u.port),
    user: decodeURIComponent(u.username) || 'postgres',
    password: decodeURIComponent(u.password),
    database: database ?? 'postgres',
    max: 8,
    connectionTimeoutMillis: 3000,
  };
}

async function onMariadb<T>(servers: Servers, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  let c: mysql.Connection;
  try {
    c = await mysql.createConnection(mariadbOptions(servers));
  } catch (err) {
    throw new DatabaseUnavailable(`MariaDB is not answering at ${where(servers.mariadb)} (${(err as Error).message}); ${HOW_TO_START.mariadb}`, { cause: err });
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function onPostgres<T>(servers: Servers, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(postgresOptions(servers));
  try {
    await c.connect();
  } catch (err) {
    await c.end().catch(() => undefined);
    throw new DatabaseUnavailable(`PostgreSQL is not answering at ${where(servers.postgres)} (${(err as Error).message}); ${HOW_TO_START.postgres}`, {
      cause: err,
    });
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Throws DatabaseUnavailable, saying how to start it, when a server does not answer. */
export async function checkServers(servers: Servers): Promise<void> {
  await Promise.all([onMariadb(servers, (c) => c.query('SELECT 1')), onPostgres(servers, (c) => c.query('SELECT 1'))]);
}

/**
 * The old database: utf8mb4_general_ci written out, so the case- and accent-blind
 * ordering the old service relies on does not depend on the server's default.
 */
export async function createMariadbDatabase(servers: Servers, name: string): Promise<void> {
  await onMariadb(servers, (c) => c.query(`CREATE DATABASE \`${checkName(name)}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`));
}

/** The new database, with the server's defaults (UTF8, collation C.UTF-8 here): what a migration usually gets. */
export async function createPostgresDatabase(servers: Servers, name: string): Promise<void> {
  await onPostgres(servers, (c) => c.query(`CREATE DATABASE "${checkName(name)}"`));
}

export async function dropMariadbDatabase(servers: Servers, name: string): Promise<void> {
  await onMariadb(servers, (c) => c.query(`DROP DATABASE IF EXISTS \`${checkName(name)}\``));
}

/** WITH (FORCE): a pool that was not closed (a crashed test) must not keep the database alive. */
export async function dropPostgresDatabase(servers: Servers, name: string): Promise<void> {
  await onPostgres(servers, (c) => c.query(`DROP DATABASE IF EXISTS "${checkName(name)}" WITH (FORCE)`));
}

/** A database of the same name in both servers, for one run. */
export interface RunDatabases {
  readonly name: string;
  readonly servers: Servers;
  /** Drops both; safe to call twice. */
  drop(): Promise<void>;
}

/**
 * Creates umbra_mig_<pid>_<random> in MariaDB and PostgreSQL (empty; seed.ts and
 * backfill.ts fill them). Whatever fails half-way is dropped again before the error.
 */
export async function createRunDatabases(servers: Servers = serversFromEnv(), name: string = runDatabaseName()): Promise<RunDatabases> {
  await checkServers(servers);
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    const results = await Promise.allSettled([dropMariadbDatabase(servers, name), dropPostgresDatabase(servers, name)]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  };
  try {
    await createMariadbDatabase(servers, name);
    await createPostgresDatabase(servers, name);
  } catch (err) {
    await drop().catch(() => undefined);
    throw err;
  }
  return { name, servers, drop };
}

/** The umbra_mig_ databases that exist now in each server (to check that nothing was left behind). */
export async function listRunDatabases(servers: Servers): Promise<{ mariadb: string[]; postgres: string[] }> {
  const [mariadb, postgres] = await Promise.all([
    onMariadb(servers, async (c) => {
      const [rows] = await c.query<mysql.RowDataPacket[]>("SHOW DATABASES LIKE 'umbra\\_mig\\_%'");
      return rows.map((r) => String(Object.values(r)[0]));
    }),
    onPostgres(servers, async (c) => {
      const r = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'umbra\\_mig\\_%'");
      return r.rows.map((row) => row.datname);
    }),
  ]);
  return { mariadb, postgres };
}
