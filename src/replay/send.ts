// Sending a captured request to a replay target (or the secondary) on an undici
// Pool of its own, with the header rules of a live hop, and reading its answer
// up to the route's body cap.
import { Pool } from 'undici';
import { ShadowError, type ShadowErrorReason } from '../errors.js';
import { SHADOW_MARKER, connectionListed, downstreamHeaders, isHopByHop, type HeaderEdits } from '../http/headers.js';
import { quietConnector } from '../http/quiet-socket.js';
import { classifyUpstreamError } from '../http/upstream.js';
import { REDACTED } from '../observe/redact.js';

export interface ReplayAnswer {
  readonly status: number;
  /** Less hop-by-hop headers, as a shadow answer's. */
  readonly headers: Record<string, string | string[] | undefined>;
  /** Empty when truncated. */
  readonly body: Buffer;
  /** The body was over the cap: reading stopped and nothing was kept. */
  readonly truncated: boolean;
  /** From sending the request to the end of the answer. */
  readonly ms: number;
}

export type SendOutcome =
  | { readonly ok: true; readonly answer: ReplayAnswer }
  | { readonly ok: false; readonly reason: ShadowErrorReason; readonly message: string; readonly ms: number };

export interface ReplayRequest {
  readonly method: string;
  /** Request target, origin-form. */
  readonly path: string;
  /** Flat [name, value, ...] list (replayHeaders). */
  readonly headers: readonly string[];
  readonly body: Buffer;
}

/** Never sent from a capture: the next hop frames the body itself; Node answered any 100-continue. */
const DROPPED = new Set(['content-length', 'expect']);

/**
 * The headers a captured request is replayed with: the recorded ones less
 * hop-by-hop headers (and those its Connection header names), Content-Length
 * (undici sets it from the body), Expect, a recorded copy of the shadow marker
 * and every header whose recorded value is `[REDACTED]` (the secret is not in
 * the capture; `--header` supplies it). Then `edits` (the config's dark.headers:
 * the shadow marker) and `extra` (--header), each replacing a recorded header
 * of the same name. Host is kept, as on the live hop.
 */
export function replayHeaders(recorded: Readonly<Record<string, string | string[]>>, edits: HeaderEdits, extra: readonly (readonly [string, string])[]): string[] {
  const replaced = new Set([...edits.remove, ...Object.keys(edits.set), ...extra.map(([name]) => name.toLowerCase())]);
  const listed = connectionListed(recorded['connection']);
  const out: string[] = [];
  for (const name of Object.keys(recorded)) {
    if (isHopByHop(name, listed) || DROPPED.has(name) || name === SHADOW_MARKER || replaced.has(name)) continue;
    const value = recorded[name] as string | string[];
    const values = Array.isArray(value) ? value : [value];
    if (values.includes(REDACTED)) continue;
    for (const v of values) out.push(name, v);
  }
  for (const name of Object.keys(edits.set)) out.push(name, edits.set[name] as string);
  for (const [name, value] of extra) out.push(name, value);
  return out;
}

const TIMEOUT = new ShadowError('timeout', 'no complete answer within the timeout');

export class ReplayTarget {
  readonly url: string;
  private readonly pool: Pool;
  /** The URL's path, prefixed to every request target ('' for none), as on the live hop. */
  private readonly prefix: string;

  constructor(
    url: string,
    private readonly opts: { readonly connections: number; readonly timeout: number },
  ) {
    this.url = url;
    const u = new URL(url);
    this.prefix = u.pathname.replace(/\/$/, '');
    this.pool = new Pool(u.origin, {
      connections: opts.connections,
      pipelining: 1,
      // Errors are reported by message: no stack traces captured in socket events (quiet-socket.ts).
      connect: quietConnector({ timeout: opts.timeout }),
      headersTimeout: opts.timeout,
      bodyTimeout: opts.timeout,
      keepAliveTimeout: 4000,
    });
  }

  /** One request; never rejects. The whole exchange, connect to last byte, has `timeout` ms. */
  async send(req: ReplayRequest, maxBody: number): Promise<SendOutcome> {
    const started = performance.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(TIMEOUT), this.opts.timeout);
    try {
      const res = await this.pool.request({
        path: this.prefix + req.path,
        method: req.method,
        headers: [...req.headers],
        body: req.body.length > 0 ? req.body : null,
        signal: abort.signal,
        responseHeaders: 'raw',
      });
      // Stopping early (over the cap) destroys the body, which then reports an abort: expected, not an error.
      res.body.on('error', () => undefined);
      const raw = (res.headers as unknown as string[]).map((s) => Buffer.from(s, 'latin1'));
      const headers = downstreamHeaders(raw, true).headers;
      const declared = Number(headers['content-length'] ?? -1);
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = declared > maxBody;
      if (!truncated) {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size > maxBody) {
            truncated = true;
            break;
          }
          chunks.push(chunk);
        }
      }
      // Breaking out of the loop destroys the body; a declared length over the cap is never read.
      if (truncated) res.body.destroy();
      const body = truncated ? Buffer.alloc(0) : Buffer.concat(chunks, size);
      return { ok: true, answer: { status: res.statusCode, headers, body, truncated, ms: performance.now() - started } };
    } catch (err) {
      const reason: ShadowErrorReason = abort.signal.aborted ? 'timeout' : classifyUpstreamError(err);
      return { ok: false, reason, message: err instanceof Error ? err.message : String(err), ms: performance.now() - started };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
