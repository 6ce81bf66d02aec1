// Shadow dispatch with undici, on a pool of its own per target: shadow traffic
// never shares sockets or limits with live. The answer is read up to a cap,
// counted against the memory budget, and handed back for comparison.
import { Pool } from 'undici';
import type { IncomingMessage } from 'node:http';
import type { HeaderEdits } from '../config/types.js';
import { ShadowError, type ShadowErrorReason } from '../errors.js';
import { forwardedValues, upstreamHeaders } from '../http/headers.js';
import { classifyUpstreamError } from '../http/upstream.js';
import type { MemoryBudget } from './limits.js';

export interface ShadowAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** The body was over the cap; reading stopped there. */
  readonly truncated: boolean;
  /** Time from dispatch to the end of the answer (or to the cap). */
  readonly ms: number;
  /** Bytes reserved in the memory budget for `body`; the caller releases them. */
  readonly reserved: number;
}

export type ShadowOutcome =
  | { readonly ok: true; readonly answer: ShadowAnswer }
  | { readonly ok: false; readonly reason: ShadowErrorReason | 'over_memory'; readonly message: string; readonly ms: number };

export interface ShadowRequest {
  readonly method: string;
  /** Request target as the client sent it (path and query). */
  readonly url: string;
  /** Flat [name, value, ...] list (http/headers.ts upstreamHeaders). */
  readonly headers: string[];
  readonly body: Buffer | null;
}

/** A shadow copy of a client's request: the same header rules as the live hop; `edits` (dark's) add the marker. */
export function shadowRequest(req: IncomingMessage, body: Buffer | null, trustForwarded: boolean, edits: HeaderEdits | null): ShadowRequest {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: upstreamHeaders(req, forwardedValues(req, trustForwarded), false, edits),
    body,
  };
}

/** The abort reason of a shadow request that ran out of time. */
const TIMEOUT = new ShadowError('timeout', 'shadow request timed out');

export function classifyShadowError(err: unknown): ShadowErrorReason {
  if (err instanceof ShadowError) return err.reason;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE' || code === 'UND_ERR_HEADERS_OVERFLOW') return 'too_large';
  // Aborted by umbra (pause, reload, shutdown): the connection was cut.
  if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_DESTROYED') return 'reset';
  return classifyUpstreamError(err);
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
  /** The target URL's path, prefixed to every request target ('' for none), as on the live hop. */
  private readonly prefix: string;

  constructor(opts: ShadowTargetOptions) {
    this.url = opts.url;
    this.prefix = new URL(opts.url).pathname.replace(/\/$/, '');
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
        path: this.prefix + req.url,
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
          return { ok: false, reason: 'over_memory', message: 'shadow memory budget exhausted', ms: performance.now() - started };
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
          reserved,
        },
      };
    } catch (err) {
      budget.release(reserved);
      return { ok: false, reason: classifyShadowError(err), message: (err as Error).message, ms: performance.now() - started };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
