// The machine's real PostgreSQL (127.0.0.1:5432, user postgres, trust auth) for
// store tests: each call makes a database of its own, dropped in teardown (also
// when the test fails), and a TCP proxy in front of it that a test can cut.
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import pg from 'pg';

export const PG_HOST = '127.0.0.1';
export const PG_PORT = 5432;
const HOW_TO_START = 'start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

async function adminClient(database = 'postgres'): Promise<pg.Client> {
  const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: 'postgres', database, connectionTimeoutMillis: 10_000 });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL does not answer at ${PG_HOST}:${PG_PORT} as user postgres (${(err as Error).message}); ${HOW_TO_START}`);
  }
  c.on('error', () => undefined);
  return c;
}

export interface TestDatabase {
  readonly name: string;
  /** postgres://postgres@127.0.0.1:5432/NAME */
  readonly url: string;
  /** A client of the test's own on the database (not umbra's). */
  readonly sql: pg.Client;
}

/** A fresh database `umbra_store_<pid>_<random>`, dropped in teardown. */
export async function testDatabase(t: Test): Promise<TestDatabase> {
  const name = `umbra_store_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = await adminClient();
  await admin.query(`CREATE DATABASE ${name}`);
  const sql = await adminClient(name);
  t.teardown(async () => {
    await sql.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.end().catch(() => undefined);
  });
  return { name, url: `postgres://postgres@${PG_HOST}:${PG_PORT}/${name}`, sql };
}

export interface PgProxy {
  readonly port: number;
  /** Close every connection and refuse new ones (the database "went away"). */
  cut(): void;
  /** Accept connections and stall them: nothing goes through either way (a database that hangs). */
  hang(): void;
  /** Forward again. */
  restore(): void;
  readonly mode: 'open' | 'cut' | 'hang';
}

/** A TCP proxy to the real PostgreSQL that the test controls; closed in teardown. */
export async function pgProxy(t: Test, mode: 'open' | 'cut' = 'open'): Promise<PgProxy> {
  let state: 'open' | 'cut' | 'hang' = mode;
  const pairs = new Set<{ client: net.Socket; server: net.Socket | null }>();
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (state === 'cut') {
      client.destroy();
      return;
    }
    const pair: { client: net.Socket; server: net.Socket | null } = { client, server: null };
    pairs.add(pair);
    client.on('close', () => {
      pair.server?.destroy();
      pairs.delete(pair);
    });
    if (state === 'hang') return;
    const up = net.connect(PG_PORT, PG_HOST);
    up.on('error', () => client.destroy());
    up.on('close', () => client.destroy());
    pair.server = up;
    client.pipe(up);
    up.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const dropAll = (): void => {
    for (const p of pairs) {
      p.client.destroy();
      p.server?.destroy();
    }
    pairs.clear();
  };
  t.teardown(async () => {
    dropAll();
    server.close();
    await once(server, 'close').catch(() => undefined);
  });
  return {
    port,
    cut: () => {
      state = 'cut';
      dropAll();
    },
    hang: () => {
      state = 'hang';
      // Connections under way stall too: nothing more is forwarded either way.
      for (const p of pairs) {
        p.client.unpipe();
        p.server?.unpipe();
        p.client.pause();
        p.server?.pause();
      }
    },
    restore: () => {
      // Stalled connections are not resumed (their protocol state is lost): they are closed, as a real network would reset them.
      if (state === 'hang') dropAll();
      state = 'open';
    },
    get mode() {
      return state;
    },
  };
}
