// Scripted shop traffic: the same mix on every run (a seeded generator), sent the
// way shoppers send it: each shopper one request at a time, waiting for each answer,
// several shoppers at once.
import { Agent, request } from 'undici';

export interface Step {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: string;
  readonly body?: object;
}

/** One shopper's requests, sent in order. */
export type Session = readonly Step[];

/** A seeded generator, so every run sends the same mix. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PRODUCTS = 12;
const NOTES = ['Leave at the door', 'Gift wrap, please', 'Ring twice'];

/**
 * Shoppers for the capture: each lists products, opens cart `<prefix>-<n>`, looks at
 * and adds a few products, reads the cart, and most check out and read their order.
 * About half the carts have no note; some shoppers also read older carts and orders.
 * The first shopper is always the same regular, whose order's tax falls on a half cent.
 */
export function shoppingSessions(opts: { readonly shoppers: number; readonly prefix: string; readonly seed?: number }): Session[] {
  const rnd = lcg(opts.seed ?? 20240601);
  const pick = (n: number): number => Math.floor(rnd() * n);
  return Array.from({ length: opts.shoppers }, (_, i) => {
    const id = `${opts.prefix}-${String(i + 1).padStart(4, '0')}`;
    if (i === 0) {
      // The regular: one bag of espresso beans (9.80), whose 7.5% tax is exactly 0.735.
      return [
        { method: 'GET', path: '/products' },
        { method: 'PUT', path: `/carts/${id}`, body: {} },
        { method: 'POST', path: `/carts/${id}/items`, body: { productId: 6, qty: 1 } },
        { method: 'GET', path: `/carts/${id}` },
        { method: 'POST', path: `/carts/${id}/checkout` },
        { method: 'GET', path: `/orders/${id}` },
      ];
    }
    const steps: Step[] = [{ method: 'GET', path: '/products' }];
    const note = rnd() < 0.5 ? {} : rnd() < 0.3 ? { note: '' } : { note: NOTES[pick(NOTES.length)] };
    steps.push({ method: 'PUT', path: `/carts/${id}`, body: note });
    const lines = 1 + pick(4);
    for (let l = 0; l < lines; l++) {
      const productId = 1 + pick(PRODUCTS);
      if (rnd() < 0.5) steps.push({ method: 'GET', path: `/products/${productId}` });
      steps.push({ method: 'POST', path: `/carts/${id}/items`, body: { productId, qty: 1 + pick(3) } });
    }
    steps.push({ method: 'GET', path: `/carts/${id}` });
    if (rnd() < 0.85) {
      steps.push({ method: 'POST', path: `/carts/${id}/checkout` });
      steps.push({ method: 'GET', path: `/orders/${id}` });
    }
    if (rnd() < 0.2) steps.push({ method: 'GET', path: rnd() < 0.5 ? '/orders/legacy-1' : '/carts/legacy-3' });
    return steps;
  });
}

/**
 * Read-after-write: each shopper opens a cart, then `rounds` times adds an item and
 * reads the cart back at once (the answer must show the item just added), then
 * checks out and reads the order. Unordered mirroring lets the read reach the new
 * version before the write it follows.
 */
export function readAfterWriteSessions(opts: { readonly shoppers: number; readonly rounds: number; readonly prefix: string; readonly seed?: number }): Session[] {
  const rnd = lcg(opts.seed ?? 7);
  return Array.from({ length: opts.shoppers }, (_, i) => {
    const id = `${opts.prefix}-${String(i + 1).padStart(4, '0')}`;
    const steps: Step[] = [{ method: 'PUT', path: `/carts/${id}`, body: rnd() < 0.5 ? {} : { note: 'Ring twice' } }];
    for (let r = 0; r < opts.rounds; r++) {
      steps.push({ method: 'POST', path: `/carts/${id}/items`, body: { productId: 1 + Math.floor(rnd() * PRODUCTS), qty: 1 } });
      steps.push({ method: 'GET', path: `/carts/${id}` });
    }
    steps.push({ method: 'POST', path: `/carts/${id}/checkout` });
    steps.push({ method: 'GET', path: `/orders/${id}` });
    return steps;
  });
}

export interface DriveResult {
  readonly sent: number;
  /** Answers by status code. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Requests without an answer, or answered 5xx. */
  readonly failed: number;
  readonly ms: number;
  /** The first few failures, for the error message. */
  readonly errors: readonly string[];
}

/**
 * Sends the sessions to `baseUrl`, `concurrency` shoppers at a time. Every request
 * carries x-request-time (the shop's clock for orders, see shop.ts).
 */
export async function drive(baseUrl: string, sessions: readonly Session[], opts: { readonly concurrency?: number } = {}): Promise<DriveResult> {
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 4, sessions.length));
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const statuses: Record<string, number> = {};
  const errors: string[] = [];
  let sent = 0;
  let failed = 0;
  let next = 0;
  const started = Date.now();
  const shopper = async (): Promise<void> => {
    for (let s = next++; s < sessions.length; s = next++) {
      for (const step of sessions[s] ?? []) {
        sent++;
        try {
          const res = await request(`${baseUrl}${step.path}`, {
            method: step.method,
            dispatcher: agent,
            headers: {
              accept: 'application/json',
              'x-request-time': new Date().toISOString(),
              ...(step.body !== undefined ? { 'content-type': 'application/json' } : {}),
            },
            ...(step.body !== undefined ? { body: JSON.stringify(step.body) } : {}),
          });
          const text = await res.body.text();
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (res.statusCode >= 500) {
            failed++;
            if (errors.length < 5) errors.push(`${step.method} ${step.path}: ${res.statusCode} ${text.slice(0, 200)}`);
          }
        } catch (err) {
          failed++;
          if (errors.length < 5) errors.push(`${step.method} ${step.path}: ${(err as Error).message}`);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, shopper));
  } finally {
    await agent.close();
  }
  return { sent, statuses, failed, ms: Date.now() - started, errors };
}

export function countSteps(sessions: readonly Session[]): number {
  return sessions.reduce((n, s) => n + s.length, 0);
}
