// The old version's storage: MariaDB through mysql2, as the shop has run for years.
import type mysql from 'mysql2/promise';
import { int, nullableStr, status, str, time, type SqlRow } from './snapshot.js';
import { TAX_RATE, type CartHead, type CheckoutResult, type Line, type OrderHead, type Product, type ProductSummary, type Store } from './store.js';

const LINES = `SELECT i.product_id, p.name, p.price, i.qty, p.price * i.qty AS line_total
  FROM cart_items i JOIN products p ON p.id = i.product_id WHERE i.cart_id = ? ORDER BY i.product_id`;

function line(r: SqlRow): Line {
  return { productId: int(r.product_id), name: str(r.name), price: str(r.price), qty: int(r.qty), lineTotal: str(r.line_total) };
}

export function mariadbStore(pool: mysql.Pool): Store {
  const rows = async (sql: string, params: unknown[] = []): Promise<SqlRow[]> => (await pool.query(sql, params))[0] as SqlRow[];
  return {
    async listProducts(): Promise<ProductSummary[]> {
      // The column's utf8mb4_general_ci does the ordering users see: case- and accent-blind.
      const r = await rows('SELECT id, sku, name, price FROM products ORDER BY name, id');
      return r.map((p) => ({ id: int(p.id), sku: str(p.sku), name: str(p.name), price: str(p.price) }));
    },
    async getProduct(id): Promise<Product | null> {
      const [p] = await rows('SELECT id, sku, name, description, price FROM products WHERE id = ?', [id]);
      return p === undefined ? null : { id: int(p.id), sku: str(p.sku), name: str(p.name), description: str(p.description), price: str(p.price) };
    },
    async createCart(id, note): Promise<boolean> {
      try {
        await pool.query('INSERT INTO carts (id, note) VALUES (?, ?)', [id, note]);
        return true;
      } catch (err) {
        if ((err as { code?: string }).code === 'ER_DUP_ENTRY') return false;
        throw err;
      }
    },
    async getCart(id): Promise<CartHead | null> {
      const [c] = await rows('SELECT note, status FROM carts WHERE id = ?', [id]);
      return c === undefined ? null : { note: nullableStr(c.note), status: status(c.status) };
    },
    async cartLines(id): Promise<Line[]> {
      return (await rows(LINES, [id])).map(line);
    },
    async addItem(cartId, productId, qty): Promise<void> {
      await pool.query('INSERT INTO cart_items (cart_id, product_id, qty) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE qty = qty + VALUES(qty)', [
        cartId,
        productId,
        qty,
      ]);
    },
    async checkout(cartId, at): Promise<CheckoutResult> {
      const conn = await pool.getConnection();
      try {
        await conn.beginTransaction();
        const [cart] = (await conn.query('SELECT note, status FROM carts WHERE id = ? FOR UPDATE', [cartId]))[0] as SqlRow[];
        const result: CheckoutResult = cart === undefined ? 'missing' : cart.status !== 'open' ? 'not-open' : 'ok';
        if (result !== 'ok' || cart === undefined) {
          await conn.rollback();
          return result;
        }
        // DECIMAL arithmetic throughout: exact, ROUND half away from zero.
        const [sums] = (
          await conn.query(
            `SELECT t.subtotal, ROUND(t.subtotal * ${TAX_RATE}, 2) AS tax, t.subtotal + ROUND(t.subtotal * ${TAX_RATE}, 2) AS total
             FROM (SELECT SUM(p.price * i.qty) AS subtotal FROM cart_items i JOIN products p ON p.id = i.product_id WHERE i.cart_id = ?) t`,
            [cartId],
          )
        )[0] as SqlRow[];
        if (sums === undefined || sums.subtotal === null) {
          await conn.rollback();
          return 'empty';
        }
        // DATETIME: the fraction of a second is cut off (truncated, not rounded).
        await conn.query('INSERT INTO orders (id, note, created_at, subtotal, tax, total) VALUES (?, ?, ?, ?, ?, ?)', [
          cartId,
          cart.note,
          at,
          sums.subtotal,
          sums.tax,
          sums.total,
        ]);
        await conn.query(
          `INSERT INTO order_items (order_id, product_id, name, price, qty)
             SELECT i.cart_id, i.product_id, p.name, p.price, i.qty FROM cart_items i JOIN products p ON p.id = i.product_id WHERE i.cart_id = ?`,
          [cartId],
        );
        await conn.query("UPDATE carts SET status = 'ordered' WHERE id = ?", [cartId]);
        await conn.commit();
        return 'ok';
      } catch (err) {
        await conn.rollback().catch(() => undefined);
        throw err;
      } finally {
        conn.release();
      }
    },
    async getOrder(id): Promise<OrderHead | null> {
      const [o] = await rows('SELECT note, created_at, subtotal, tax, total FROM orders WHERE id = ?', [id]);
      return o === undefined
        ? null
        : { note: nullableStr(o.note), createdAt: time(o.created_at), subtotal: str(o.subtotal), tax: str(o.tax), total: str(o.total) };
    },
    async orderLines(id): Promise<Line[]> {
      const r = await rows('SELECT product_id, name, price, qty, price * qty AS line_total FROM order_items WHERE order_id = ? ORDER BY product_id', [id]);
      return r.map(line);
    },
    close: () => pool.end(),
  };
}
