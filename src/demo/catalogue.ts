// The demo's backend: a small product-catalogue JSON API in two versions.
//
// v1 is what runs in production. v2 is the candidate, identical but for one
// planted regression: a "price formatting" refactor rounds sale prices (the
// outdoor category is 15% off: products 4, 8, 12, ...) to whole units. Both versions put a
// fresh `requestId` and a microsecond `generatedAt` in every answer and an
// `x-request-id` header, as real services do: fields that differ on every call
// and that umbra has to tell apart from the regression.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';

export type CatalogueVersion = 'v1' | 'v2';

export interface Product {
  readonly id: number;
  readonly name: string;
  readonly category: string;
  readonly currency: 'EUR';
  /** Price before discount, in cents. */
  readonly baseCents: number;
  /** Fraction off, 0 when not on sale. */
  readonly discount: number;
  readonly stock: number;
  readonly tags: readonly string[];
}

export interface CatalogueServer {
  readonly url: string;
  readonly version: CatalogueVersion;
  close(): Promise<void>;
}

const CATEGORIES = [
  { slug: 'kitchen', name: 'Kitchen' },
  { slug: 'garden', name: 'Garden' },
  { slug: 'office', name: 'Office' },
  { slug: 'outdoor', name: 'Outdoor' },
] as const;

const NOUNS = [
  'Kettle', 'Trowel', 'Desk Lamp', 'Tent', 'Chef Knife', 'Hose Reel', 'Notebook', 'Lantern',
  'Cutting Board', 'Pruning Shears', 'Monitor Stand', 'Camping Stove', 'Espresso Cup', 'Seed Tray',
  'Stapler', 'Sleeping Bag',
];
const ADJECTIVES = ['Classic', 'Compact', 'Pro'];

/** 48 products, the same in every instance and every run. */
export const PRODUCTS: readonly Product[] = Array.from({ length: 48 }, (_, i): Product => {
  const id = i + 1;
  const noun = NOUNS[i % NOUNS.length] ?? 'Thing';
  const adjective = ADJECTIVES[Math.floor(i / NOUNS.length)] ?? '';
  const category = CATEGORIES[i % CATEGORIES.length]?.slug ?? 'kitchen';
  return {
    id,
    name: `${adjective} ${noun}`,
    category,
    currency: 'EUR',
    // Prices like 12.49 or 37.99: cents that a rounding change shows up in.
    baseCents: (9 + ((id * 37) % 90)) * 100 + (id % 2 === 0 ? 49 : 99),
    discount: category === 'outdoor' ? 0.15 : 0,
    stock: (id * 7) % 23,
    tags: id % 3 === 0 ? ['bestseller'] : id % 5 === 0 ? ['new'] : [],
  };
});

export const PAGE_SIZE = 12;

/** The price a version answers with. v2's refactor rounds sale prices to whole units: the regression. */
export function priceOf(p: Product, version: CatalogueVersion): number {
  const cents = p.baseCents * (1 - p.discount);
  if (version === 'v2' && p.discount > 0) return Math.round(cents / 100);
  return Math.round(cents) / 100;
}

function productJson(p: Product, version: CatalogueVersion): Record<string, unknown> {
  return {
    id: p.id,
    name: p.name,
    category: p.category,
    price: priceOf(p, version),
    currency: p.currency,
    onSale: p.discount > 0,
    stock: p.stock,
    tags: p.tags,
  };
}

/** An ISO timestamp with microseconds, as many frameworks write it. */
function timestamp(): string {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  return `${iso.slice(0, 23)}${String(us % 1000).padStart(3, '0')}Z`;
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>, requestId: string): void {
  const text = JSON.stringify({ ...body, requestId, generatedAt: timestamp() });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-request-id': requestId,
  });
  res.end(text);
}

function positiveInt(v: string | null, fallback: number): number | null {
  if (v === null) return fallback;
  return /^[1-9]\d{0,5}$/.test(v) ? Number(v) : null;
}

/** The request handler of one version; exported for tests. */
export function catalogueHandler(version: CatalogueVersion): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://catalogue');
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, { error: 'method not allowed' }, requestId);
    }
    if (path === '/health') return send(res, 200, { status: 'ok', version }, requestId);
    if (path === '/categories') {
      const categories = CATEGORIES.map((c) => ({ ...c, products: PRODUCTS.filter((p) => p.category === c.slug).length }));
      return send(res, 200, { categories }, requestId);
    }
    if (path === '/products') {
      const page = positiveInt(url.searchParams.get('page'), 1);
      const category = url.searchParams.get('category');
      if (page === null) return send(res, 400, { error: 'page must be a positive integer' }, requestId);
      const all = category === null ? PRODUCTS : PRODUCTS.filter((p) => p.category === category);
      const items = all.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE).map((p) => productJson(p, version));
      return send(res, 200, { page, pageSize: PAGE_SIZE, total: all.length, items }, requestId);
    }
    const m = /^\/products\/([^/]+)$/.exec(path);
    if (m !== null) {
      const id = positiveInt(m[1] ?? '', 0);
      const product = id === null ? undefined : PRODUCTS.find((p) => p.id === id);
      if (product === undefined) return send(res, 404, { error: 'no such product' }, requestId);
      return send(res, 200, productJson(product, version), requestId);
    }
    send(res, 404, { error: 'not found' }, requestId);
  };
}

/** Starts one instance on 127.0.0.1, port 0. */
export async function startCatalogue(version: CatalogueVersion): Promise<CatalogueServer> {
  const server = http.createServer(catalogueHandler(version));
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    version,
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
