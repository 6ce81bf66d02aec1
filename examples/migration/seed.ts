// The old database's starting point: the schema and a small catalogue, plus a few
// carts and orders from "before", so reads of old data are compared too.
//
//   node dist/examples/migration/seed.js --db umbra_mig_try     (creates it in MariaDB)
//
// Product names mix case and accents on purpose (MariaDB's utf8mb4_general_ci orders
// them case- and accent-blind, a byte-wise collation does not), and every price is a
// multiple of 0.20, so that about half the orders' tax lands exactly on a half cent.
import mysql from 'mysql2/promise';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createMariadbDatabase, dropMariadbDatabase, mariadbOptions, serversFromEnv, type Servers } from './databases.js';
import { MARIADB_SCHEMA } from './schema.js';
import { describe, type Snapshot } from './snapshot.js';

export const SEED: Snapshot = {
  products: [
    { id: 1, sku: 'APL-JUI', name: 'apple juice', description: 'Cloudy, pressed in the shop.', price: '3.40' },
    { id: 2, sku: 'ACA-BWL', name: 'Açaí bowl', description: '', price: '7.80' },
    { id: 3, sku: 'BAN-BRD', name: 'Banana bread', description: 'One thick slice.', price: '4.20' },
    { id: 4, sku: 'BAG-UET', name: 'baguette', description: '', price: '2.60' },
    { id: 5, sku: 'ECL-AIR', name: 'Éclair', description: 'Chocolate.', price: '3.80' },
    { id: 6, sku: 'ESP-BNS', name: 'espresso beans', description: '250 g, whole.', price: '9.80' },
    { id: 7, sku: 'ZUC-CHI', name: 'Zucchini', description: '', price: '1.40' },
    { id: 8, sku: 'OAT-MLK', name: 'oat milk', description: '1 l', price: '2.20' },
    { id: 9, sku: 'OOL-TEA', name: 'Oolong tea', description: '', price: '6.60' },
    { id: 10, sku: 'CRE-BRU', name: 'Crème brûlée', description: '', price: '5.40' },
    { id: 11, sku: 'CHE-DDR', name: 'cheddar', description: 'Aged twelve months.', price: '8.20' },
    { id: 12, sku: 'DRK-CHO', name: 'Dark chocolate', description: '', price: '3.00' },
  ],
  carts: [
    { id: 'legacy-1', note: 'Gift wrap, please', status: 'ordered' },
    { id: 'legacy-2', note: '', status: 'ordered' },
    { id: 'legacy-3', note: '', status: 'open' },
  ],
  cartItems: [
    { cartId: 'legacy-1', productId: 6, qty: 1 },
    { cartId: 'legacy-1', productId: 11, qty: 2 },
    { cartId: 'legacy-2', productId: 4, qty: 3 },
    { cartId: 'legacy-3', productId: 2, qty: 1 },
  ],
  orders: [
    { id: 'legacy-1', note: 'Gift wrap, please', createdAt: '2024-05-30T09:15:42.000Z', subtotal: '26.20', tax: '1.97', total: '28.17' },
    { id: 'legacy-2', note: '', createdAt: '2024-05-31T17:02:09.000Z', subtotal: '7.80', tax: '0.59', total: '8.39' },
  ],
  orderItems: [
    { orderId: 'legacy-1', productId: 6, name: 'espresso beans', price: '9.80', qty: 1 },
    { orderId: 'legacy-1', productId: 11, name: 'cheddar', price: '8.20', qty: 2 },
    { orderId: 'legacy-2', productId: 4, name: 'baguette', price: '2.60', qty: 3 },
  ],
};

/** 'YYYY-MM-DD HH:MM:SS' for a DATETIME column (UTC). */
export function mariadbDatetime(iso: string): string {
  return iso.slice(0, 19).replace('T', ' ');
}

/** Creates the old schema in `pool`'s database and inserts `data` (default: the seed). */
export async function seedOld(pool: mysql.Pool, data: Snapshot = SEED): Promise<void> {
  for (const ddl of MARIADB_SCHEMA) await pool.query(ddl);
  const insert = async (table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<void> => {
    if (rows.length === 0) return;
    await pool.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ?`, [rows]);
  };
  await insert('products', ['id', 'sku', 'name', 'description', 'price'], data.products.map((p) => [p.id, p.sku, p.name, p.description, p.price]));
  await insert('carts', ['id', 'note', 'status'], data.carts.map((c) => [c.id, c.note ?? '', c.status]));
  await insert('cart_items', ['cart_id', 'product_id', 'qty'], data.cartItems.map((i) => [i.cartId, i.productId, i.qty]));
  await insert(
    'orders',
    ['id', 'note', 'created_at', 'subtotal', 'tax', 'total'],
    data.orders.map((o) => [o.id, o.note ?? '', mariadbDatetime(o.createdAt), o.subtotal, o.tax, o.total]),
  );
  await insert(
    'order_items',
    ['order_id', 'product_id', 'name', 'price', 'qty'],
    data.orderItems.map((i) => [i.orderId, i.productId, i.name, i.price, i.qty]),
  );
}

export function mariadbPool(servers: Servers, database: string): mysql.Pool {
  return mysql.createPool(mariadbOptions(servers, database));
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { db: { type: 'string' }, drop: { type: 'boolean' } } });
  const name = values.db;
  if (name === undefined) {
    process.stderr.write('usage: seed.js --db umbra_mig_NAME   creates the database in MariaDB and seeds it\n       seed.js --db umbra_mig_NAME --drop   drops it\n');
    return 2;
  }
  const servers = serversFromEnv();
  if (values.drop === true) {
    await dropMariadbDatabase(servers, name);
    process.stdout.write(`dropped ${name} in MariaDB\n`);
    return 0;
  }
  await createMariadbDatabase(servers, name);
  const pool = mariadbPool(servers, name);
  try {
    await seedOld(pool);
  } finally {
    await pool.end();
  }
  process.stdout.write(`seeded ${name} in MariaDB (${servers.mariadb.host}): ${describe(SEED)}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`seed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
