// Shadow dispatch with undici, on a pool of its own per target: shadow traffic
// never shares sockets or limits with live. The answer is read up to a cap,
// counted against the memory budget, and handed back for comparison.
import { Pool } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderEdits } from '../config/types.js';
import type { ShadowErrorReason } from '../observe/metrics.js';
import type { MemoryBudget } from './limits.js';
import { CONNECT_ERROR_CODES } from '../errors.js';

export interface ShadowAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** The body was over the cap; reading stopped there. */
  readonly truncated: boolean;
  /** Time from dispatch to the end of the answer (or to the cap). */
  readonly ms: number;
}

export type ShadowOutcome =
  | { readonly ok: true; readonly answer: ShadowAnswer }
  | { readonly ok: false; readonly reason: ShadowErrorReason | 'over_memory'; readonly message: string };

export interface ShadowRequest {
  readonly method: string;
  /** Request target as the client sent it (path and query). */
  readonly url: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | null;
}

const TIMEOUT = Object.freeze(Object.assign(new Error('shadow request timed out'), { code: 'UMBRA_SHADOW_TIMEOUT' }));

export function classifyShadowError(err: unknown): ShadowErrorReason {
  if (err === TIMEOUT) return 'timeout';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CONNECT_ERROR_CODES.has(code)) return 'connect';
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timeout';
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
    case 'UND_ERR_ABORTED':
      return 'reset';
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
    case 'UND_ERR_HEADERS_OVERFLOW':
      return 'too_large';
    default:
      return 'protocol';
  }
}

/** Request headers for a shadow copy: the client's, less framing, with the configured edits. */
export function shadowHeaders(client: IncomingHttpHeaders, edits: HeaderEdits, skip: (name: string) => boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in client) {
    const v = client[name];
    if (v === undefined || skip(name) || name === 'content-length' || name === 'expect') continue;
    out[name] = v;
  }
  for (const name of edits.remove) delete out[name];
  for (const name in edits.set) out[name] = edits.set[name] as string;
  return out;
}

export interface ShadowTargetOptions {
  readonly url: string;
  /** ms: the whole shadow exchange, connect to last byte. */
  readonly timeout: number;
  readonly connections: number;
}

export class ShadowTarget {
  private readonly pool: Pool;
  readonly url: string;
  private readonly timeout: number;

  constructor(opts: ShadowTargetOptions) {
    this.url = opts.url;
    this.timeout = opts.timeout;
    this.pool = new Pool(new URL(opts.url).origin, {
      connections: opts.connections,
      pipelining: 1,
      connect: { timeout: opts.timeout },
      headersTimeout: opts.timeout,
      bodyTimeout: opts.timeout,
      keepAliveTimeout: 4000,
    });
  }

  /** Send one shadow request; never rejects. */
  async send(req: ShadowRequest, maxBody: number, budget: MemoryBudget): Promise<ShadowOutcome> {
    const started = performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(TIMEOUT), this.timeout);
    let reserved = 0;
    try {
      const res = await this.pool.request({
        path: req.url,
        method: req.method,
        headers: req.headers,
        body: req.body !== null && req.body.length > 0 ? req.body : null,
        signal: controller.signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (size + chunk.length > maxBody) {
          truncated = true;
          break;
        }
        if (!budget.tryReserve(chunk.length)) {
          res.body.destroy();
          budget.release(reserved);
          return { ok: false, reason: 'over_memory', message: 'shadow memory budget exhausted' };
        }
        reserved += chunk.length;
        size += chunk.length;
        chunks.push(chunk);
      }
      if (truncated) res.body.destroy();
      // The bytes now belong to the caller, who releases them after comparing.
      return {
        ok: true,
        answer: {
          status: res.statusCode,
          headers: res.headers,
          body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size),
          truncated,
          ms: performance.now() - started,
        },
      };
    } catch (err) {
      budget.release(reserved);
      return { ok: false, reason: classifyShadowError(err), message: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
