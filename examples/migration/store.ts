// What the shop needs from a database. One implementation a version: the old one
// on MariaDB (store-old.ts), the new one on PostgreSQL (store-new.ts). Everything
// above this line (routes, validation, JSON) is shared code, so a difference
// between the two versions' answers comes from the storage layer: the part a
// database migration changes.

export interface ProductSummary {
  readonly id: number;
  readonly sku: string;
  readonly name: string;
  readonly price: string;
}

export interface Product extends ProductSummary {
  readonly description: string;
}

export interface CartHead {
  readonly note: string | null;
  readonly status: 'open' | 'ordered';
}

/** A cart or order line; money as exact decimal strings ("19.60"). */
export interface Line {
  readonly productId: number;
  readonly name: string;
  readonly price: string;
  readonly qty: number;
  readonly lineTotal: string;
}

export interface OrderHead {
  readonly note: string | null;
  readonly createdAt: Date;
  readonly subtotal: string;
  readonly tax: string;
  readonly total: string;
}

export type CheckoutResult = 'ok' | 'missing' | 'not-open' | 'empty';

export interface Store {
  /** Every product, ordered by name as users see the list. */
  listProducts(): Promise<ProductSummary[]>;
  getProduct(id: number): Promise<Product | null>;
  /** false when a cart with this id exists already. */
  createCart(id: string, note: string): Promise<boolean>;
  getCart(id: string): Promise<CartHead | null>;
  cartLines(id: string): Promise<Line[]>;
  /** Adds qty of a product (more of one already there adds up). */
  addItem(cartId: string, productId: number, qty: number): Promise<void>;
  /** One transaction: the order (same id as its cart) with totals and tax, its lines, the cart marked ordered. */
  checkout(cartId: string, at: Date): Promise<CheckoutResult>;
  getOrder(id: string): Promise<OrderHead | null>;
  orderLines(id: string): Promise<Line[]>;
  close(): Promise<void>;
}

/** The tax rate both versions charge on an order's subtotal. */
export const TAX_RATE = '0.075';
