// A snapshot of the shop's data: every row of every table, engine-neutral and
// JSON-serialisable, in primary-key order. Money stays a decimal string ("9.80")
// and times an ISO string, so nothing is rounded on the way between the engines.

export interface ProductRow {
  readonly id: number;
  readonly sku: string;
  readonly name: string;
  readonly description: string;
  readonly price: string;
}

export interface CartRow {
  readonly id: string;
  readonly note: string | null;
  readonly status: 'open' | 'ordered';
}

export interface CartItemRow {
  readonly cartId: string;
  readonly productId: number;
  readonly qty: number;
}

export interface OrderRow {
  readonly id: string;
  readonly note: string | null;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
  readonly subtotal: string;
  readonly tax: string;
  readonly total: string;
}

export interface OrderItemRow {
  readonly orderId: string;
  readonly productId: number;
  readonly name: string;
  readonly price: string;
  readonly qty: number;
}

export interface Snapshot {
  readonly products: readonly ProductRow[];
  readonly carts: readonly CartRow[];
  readonly cartItems: readonly CartItemRow[];
  readonly orders: readonly OrderRow[];
  readonly orderItems: readonly OrderItemRow[];
}

/** Row counts, for a one-line summary. */
export function describe(s: Snapshot): string {
  return `${s.products.length} products, ${s.carts.length} carts, ${s.cartItems.length} cart items, ${s.orders.length} orders, ${s.orderItems.length} order items`;
}

/** A row as a driver hands it over, before it is checked. */
export type SqlRow = Readonly<Record<string, unknown>>;

/** A text, decimal or integer column as a string (drivers give DECIMAL/numeric as strings). */
export function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  throw new TypeError(`expected a string, got ${typeof v}`);
}

export function nullableStr(v: unknown): string | null {
  return v === null || v === undefined ? null : str(v);
}

export function int(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new TypeError(`expected an integer, got ${typeof v}`);
  return n;
}

export function time(v: unknown): Date {
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new TypeError(`expected a time, got ${typeof v}`);
  return v;
}

export function status(v: unknown): 'open' | 'ordered' {
  if (v !== 'open' && v !== 'ordered') throw new TypeError(`expected a cart status, got ${str(v)}`);
  return v;
}
