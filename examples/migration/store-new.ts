// The new version's storage: PostgreSQL through pg. It is a port of store-old.ts,
// and with every bug off it answers exactly like it. Each planted bug (bugs.ts) is
// one `bugs.has(...)` below, written the way such a bug is usually written.
import type pg from 'pg';
import type { Bugs } from './bugs.js';
import { int, nullableStr, status, str, time, type SqlRow } from './snapshot.js';
import { TAX_RATE, type CartHead, type CheckoutResult, type Line, type OrderHead, type Product, type ProductSummary, type Store } from './store.js';


const LINES = `SELECT i.product_id, p.name, p.price, i.qty, p.price * i.qty AS line_total
  FROM cart_items i JOIN products p ON p.id = i.product_id WHERE i.cart_id = $1 ORDER BY i.product_id`;

function line(r: SqlRow): Line {
  return { productId: int(r.product_id), name: str(r.name), price: str(r.price), qty: int(r.qty), lineTotal: str(r.line_total) };
}

export function postgresStore(pool: pg.Pool, bugs: Bugs): Store {
  const rows = async (sql: string, params: unknown[] = []): Promise<SqlRow[]> => (await pool.query<SqlRow>(sql, params)).rows;
  return {
    async listProducts(): Promise<ProductSummary[]> {
      // Bug "collation": the old query relied on the column's case- and accent-blind
      // collation; ported as it was, PostgreSQL orders by the database's C.UTF-8.
      const order = bugs.has('collation') ? 'name, id' : 'name COLLATE shop_ci, id';
      const r = await rows(`SELECT id, sku, name, price FROM products ORDER BY ${order}`);
      return r.map((p) => ({ id: int(p.id), sku: str(p.sku), name: str(p.name), price: str(p.price) }));
    },
    async getProduct(id): Promise<Product | null> {
      const [p] = await rows('SELECT id, sku, name, description, price FROM products WHERE id = $1', [id]);
      return p === undefined ? null : { id: int(p.id), sku: str(p.sku), name: str(p.name), description: str(p.description), price: str(p.price) };
    },
    async createCart(id, text): Promise<boolean> {
      // Bug "null": "no note" written as NULL, where the old code wrote ''.
      const value = bugs.has('null') ? text || null : text;
      const r = await pool.query('INSERT INTO carts (id, note) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, value]);
      return r.rowCount === 1;
    },
    async getCart(id): Promise<CartHead | null> {
      const [c] = await rows('SELECT note, status FROM carts WHERE id = $1', [id]);
      return c === undefined ? null : { note: nullableStr(c.note), status: status(c.status) };
    },
    async cartLines(id): Promise<Line[]> {
      return (await rows(LINES, [id])).map(line);
    },
    async addItem(cartId, productId, qty): Promise<void> {
      await pool.query(
        `INSERT INTO cart_items (cart_id, product_id, qty) VALUES ($1, $2, $3)
           ON CONFLICT (cart_id, product_id) DO UPDATE SET qty = cart_items.qty + EXCLUDED.qty`,
        [cartId, productId, qty],
      );
    },
    async checkout(cartId, at): Promise<CheckoutResult> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const [cart] = (await client.query<SqlRow>('SELECT note, status FROM carts WHERE id = $1 FOR UPDATE', [cartId])).rows;
        const result: CheckoutResult = cart === undefined ? 'missing' : cart.status !== 'open' ? 'not-open' : 'ok';
        if (result !== 'ok' || cart === undefined) {
          await client.query('ROLLBACK');
          return result;
        }
        const [sums] = (
          await client.query<SqlRow>(
            `SELECT t.subtotal, round(t.subtotal * ${TAX_RATE}, 2) AS tax, t.subtotal + round(t.subtotal * ${TAX_RATE}, 2) AS total
               FROM (SELECT sum(p.price * i.qty) AS subtotal FROM cart_items i JOIN products p ON p.id = i.product_id WHERE i.cart_id = $1) t`,
            [cartId],
          )
        ).rows;
        if (sums === undefined || sums.subtotal === null) {
          await client.query('ROLLBACK');
          return 'empty';
        }
        let tax = str(sums.tax);
        let total = str(sums.total);
        if (bugs.has('decimal')) {
          // Bug "decimal": the tax "simplified" into JavaScript; 9.80 * 0.075 is
          // 0.73499999... in binary, so toFixed(2) gives "0.73" where DECIMAL gave "0.74".
          const subtotal = Number(str(sums.subtotal));
          tax = (subtotal * Number(TAX_RATE)).toFixed(2);
          total = (subtotal + Number(tax)).toFixed(2);
        }
        // Bug "timestamp": timestamptz keeps the fraction of a second that DATETIME cut off.
        // (timestamptz(0) would not fix it: PostgreSQL rounds there, MariaDB truncates.)
        const createdAt = bugs.has('timestamp') ? '$3::timestamptz' : "date_trunc('second', $3::timestamptz)";
        await client.query(`INSERT INTO orders (id, note, created_at, subtotal, tax, total) VALUES ($1, $2, ${createdAt}, $4, $5, $6)`, [
          cartId,
          cart.note,
          at,
          sums.subtotal,
          tax,
          total,
        ]);
        await client.query(
          `INSERT INTO order_items (order_id, product_id, name, price, qty)
             SELECT i.cart_id, i.product_id, p.name, p.price, i.qty FROM cart_items i JOIN products p ON p.id = i.product_id WHERE i.cart_id = $1`,
          [cartId],
        );
        await client.query("UPDATE carts SET status = 'ordered' WHERE id = $1", [cartId]);
        await client.query('COMMIT');
        return 'ok';
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async getOrder(id): Promise<OrderHead | null> {
      const [o] = await rows('SELECT note, created_at, subtotal, tax, total FROM orders WHERE id = $1', [id]);
      return o === undefined
        ? null
        : { note: nullableStr(o.note), createdAt: time(o.created_at), subtotal: str(o.subtotal), tax: str(o.tax), total: str(o.total) };
    },
    async orderLines(id): Promise<Line[]> {
      const r = await rows('SELECT product_id, name, price, qty, price * qty AS line_total FROM order_items WHERE order_id = $1 ORDER BY product_id', [id]);
      return r.map(line);
    },
    close: () => pool.end(),
  };
}
