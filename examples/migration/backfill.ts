// The "restore a snapshot onto the new database" step: read every row of the old
// MariaDB database (dumpOld), create the new schema in PostgreSQL and write the rows
// there (restoreNew). The two halves are separate on purpose: the snapshot is taken
// when capture starts and restored later, so replaying the capture onto it replays
// the writes onto exactly the data they were first made on.
//
//   node dist/examples/migration/backfill.js --db umbra_mig_try                  MariaDB → PostgreSQL
//   node dist/examples/migration/backfill.js --db umbra_mig_try --dump FILE      MariaDB → FILE
//   node dist/examples/migration/backfill.js --db umbra_mig_try --restore FILE   FILE → PostgreSQL
//   node dist/examples/migration/backfill.js --db umbra_mig_try --drop           drops it in PostgreSQL
//
// The copy is faithful: '' stays '', decimals stay exact strings, times stay what
// they were. The planted bugs are in the new service, not here (bugs.ts).
import type mysql from 'mysql2/promise';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPostgresDatabase, dropPostgresDatabase, postgresOptions, serversFromEnv, type Servers } from './databases.js';
import { POSTGRES_SCHEMA } from './schema.js';
import { mariadbPool } from './seed.js';
import { describe, int, nullableStr, status, str, time, type Snapshot, type SqlRow } from './snapshot.js';

/** Every row of the old database, in primary-key order. */
export async function dumpOld(pool: mysql.Pool): Promise<Snapshot> {
  const q = async (sql: string): Promise<SqlRow[]> => (await pool.query(sql))[0] as SqlRow[];
  const [products, carts, cartItems, orders, orderItems] = await Promise.all([
    q('SELECT id, sku, name, description, price FROM products ORDER BY id'),
    q('SELECT id, note, status FROM carts ORDER BY id'),
    q('SELECT cart_id, product_id, qty FROM cart_items ORDER BY cart_id, product_id'),
    q('SELECT id, note, created_at, subtotal, tax, total FROM orders ORDER BY id'),
    q('SELECT order_id, product_id, name, price, qty FROM order_items ORDER BY order_id, product_id'),
  ]);
  return toSnapshot(products, carts, cartItems, orders, orderItems);
}

function toSnapshot(products: SqlRow[], carts: SqlRow[], cartItems: SqlRow[], orders: SqlRow[], orderItems: SqlRow[]): Snapshot {
  return {
    products: products.map((r) => ({ id: int(r.id), sku: str(r.sku), name: str(r.name), description: str(r.description), price: str(r.price) })),
    carts: carts.map((r) => ({ id: str(r.id), note: nullableStr(r.note), status: status(r.status) })),
    cartItems: cartItems.map((r) => ({ cartId: str(r.cart_id), productId: int(r.product_id), qty: int(r.qty) })),
    orders: orders.map((r) => ({
      id: str(r.id),
      note: nullableStr(r.note),
      createdAt: time(r.created_at).toISOString(),
      subtotal: str(r.subtotal),
      tax: str(r.tax),
      total: str(r.total),
    })),
    orderItems: orderItems.map((r) => ({ orderId: str(r.order_id), productId: int(r.product_id), name: str(r.name), price: str(r.price), qty: int(r.qty) })),
  };
}

/**
 * Every row of the new database, in the same order and shape as dumpOld. Text ids
 * sort with COLLATE "C": for the ids the shop accepts ([a-z0-9-]) that is also how
 * MariaDB's utf8mb4_general_ci sorts them.
 */
export async function readNew(pool: pg.Pool): Promise<Snapshot> {
  const q = async (sql: string): Promise<SqlRow[]> => (await pool.query<SqlRow>(sql)).rows;
  const [products, carts, cartItems, orders, orderItems] = await Promise.all([
    q('SELECT id, sku, name, description, price FROM products ORDER BY id'),
    q('SELECT id, note, status FROM carts ORDER BY id COLLATE "C"'),
    q('SELECT cart_id, product_id, qty FROM cart_items ORDER BY cart_id COLLATE "C", product_id'),
    q('SELECT id, note, created_at, subtotal, tax, total FROM orders ORDER BY id COLLATE "C"'),
    q('SELECT order_id, product_id, name, price, qty FROM order_items ORDER BY order_id COLLATE "C", product_id'),
  ]);
  return toSnapshot(products, carts, cartItems, orders, orderItems);
}

async function insertAll(client: pg.PoolClient, table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<void> {
  // 500 rows a statement keeps well under PostgreSQL's 65 535 parameters.
  for (let at = 0; at < rows.length; at += 500) {
    const batch = rows.slice(at, at + 500);
    const params: unknown[] = [];
    const tuples = batch.map((row) => `(${row.map((v) => `$${params.push(v)}`).join(', ')})`);
    await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, params);
  }
}

/** Creates the new schema in `pool`'s (empty) database and writes the snapshot, in one transaction. */
export async function restoreNew(pool: pg.Pool, snap: Snapshot): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (const ddl of POSTGRES_SCHEMA) await client.query(ddl);
    await insertAll(client, 'products', ['id', 'sku', 'name', 'description', 'price'], snap.products.map((p) => [p.id, p.sku, p.name, p.description, p.price]));
    await insertAll(client, 'carts', ['id', 'note', 'status'], snap.carts.map((c) => [c.id, c.note, c.status]));
    await insertAll(client, 'cart_items', ['cart_id', 'product_id', 'qty'], snap.cartItems.map((i) => [i.cartId, i.productId, i.qty]));
    await insertAll(
      client,
      'orders',
      ['id', 'note', 'created_at', 'subtotal', 'tax', 'total'],
      snap.orders.map((o) => [o.id, o.note, o.createdAt, o.subtotal, o.tax, o.total]),
    );
    await insertAll(
      client,
      'order_items',
      ['order_id', 'product_id', 'name', 'price', 'qty'],
      snap.orderItems.map((i) => [i.orderId, i.productId, i.name, i.price, i.qty]),
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * A pool on the new database. pool.end() resolves before its idle connections have
 * closed, so a DROP DATABASE ... WITH (FORCE) right after may still terminate one:
 * the pool then emits 'error' for it, which without a listener ends the process.
 * Errors of idle connections are nothing to act on here (a query in flight still
 * gets its own error).
 */
export function postgresPool(servers: Servers, database: string): pg.Pool {
  const pool = new pg.Pool(postgresOptions(servers, database));
  pool.on('error', () => undefined);
  return pool;
}

/** Old database → snapshot, from MariaDB's `name`. */
export async function dumpOldDatabase(servers: Servers, name: string): Promise<Snapshot> {
  const pool = mariadbPool(servers, name);
  try {
    return await dumpOld(pool);
  } finally {
    await pool.end();
  }
}

/** Snapshot → PostgreSQL's `name`, which must exist and be empty. */
export async function restoreNewDatabase(servers: Servers, name: string, snap: Snapshot): Promise<void> {
  const pool = postgresPool(servers, name);
  try {
    await restoreNew(pool, snap);
  } finally {
    await pool.end();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { db: { type: 'string' }, dump: { type: 'string' }, restore: { type: 'string' }, drop: { type: 'boolean' } },
  });
  const name = values.db;
  if (name === undefined || (values.dump !== undefined && values.restore !== undefined)) {
    process.stderr.write('usage: backfill.js --db umbra_mig_NAME [--dump FILE | --restore FILE | --drop]\n');
    return 2;
  }
  const servers = serversFromEnv();
  if (values.drop === true) {
    await dropPostgresDatabase(servers, name);
    process.stdout.write(`dropped ${name} in PostgreSQL\n`);
    return 0;
  }
  if (values.dump !== undefined) {
    const snap = await dumpOldDatabase(servers, name);
    writeFileSync(values.dump, `${JSON.stringify(snap, null, 1)}\n`);
    process.stdout.write(`dumped ${name} from MariaDB to ${values.dump}: ${describe(snap)}\n`);
    return 0;
  }
  const snap = values.restore !== undefined ? (JSON.parse(readFileSync(values.restore, 'utf8')) as Snapshot) : await dumpOldDatabase(servers, name);
  await createPostgresDatabase(servers, name);
  await restoreNewDatabase(servers, name, snap);
  process.stdout.write(`restored ${describe(snap)} into ${name} in PostgreSQL\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`backfill: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
