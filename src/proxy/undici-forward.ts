// The undici engine for the live path (`live.engine: undici`): one Pool per live
// origin and undici's low-level dispatch handler, with no stream objects in
// between. The request body is streamed from the client; the answer is written
// to the client as it arrives, pausing the upstream when the client is slow.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { connectionListed, forwardedFor, isHopByHop } from './hop.js';

/** What the live proxy does with each event of one exchange (implemented by LiveProxy). */
export interface ForwardHost<C> {
  /** The answer's head arrived: write it to the client (false when the client is gone). */
  upstreamHead(ctx: C, req: IncomingMessage, res: ServerResponse, status: number, message: string | undefined, raw: string[], headers: IncomingHttpHeaders): boolean;
  /** A body chunk went to the client. */
  upstreamChunk(ctx: C, chunk: Buffer): void;
  upstreamEnd(ctx: C, res: ServerResponse): void;
  upstreamError(ctx: C, err: NodeJS.ErrnoException, req: IncomingMessage, res: ServerResponse): void;
  requestChunk(ctx: C, chunk: Buffer): void;
  requestSent(ctx: C): void;
  /** What to destroy to cancel the upstream request when the client leaves. */
  setUpstream(ctx: C, upstream: { destroy(): void }): void;
}

const SET_HERE = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/** Request headers for the live hop, as a flat [name, value, ...] list of the client's raw headers. */
export function liveRequestHeaders(req: IncomingMessage): string[] {
  const listed = connectionListed(req.headers.connection);
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    // undici frames the body itself (content-length or chunked) and refuses
    // `expect`; x-forwarded-* are set below.
    if (isHopByHop(lower, listed) || lower === 'expect' || SET_HERE.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  const fwd = forwardedFor(req);
  out.push('x-forwarded-for', fwd.for);
  out.push('x-forwarded-proto', fwd.proto ?? String(req.headers['x-forwarded-proto']));
  const host = fwd.host ?? req.headers['x-forwarded-host'];
  if (host !== undefined) out.push('x-forwarded-host', String(host));
  return out;
}

/** Response headers: the flat list for the client (less hop-by-hop) and the parsed object for comparison. */
export function responseHeaders(rawHeaders: Buffer[], wantObject: boolean): { raw: string[]; headers: IncomingHttpHeaders } {
  let connection: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as Buffer).length === 10 && (rawHeaders[i] as Buffer).toString('latin1').toLowerCase() === 'connection') {
      connection = (rawHeaders[i + 1] as Buffer).toString('latin1');
    }
  }
  const listed = connectionListed(connection);
  const raw: string[] = [];
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as Buffer).toString('latin1');
    const lower = name.toLowerCase();
    if (isHopByHop(lower, listed)) continue;
    const value = (rawHeaders[i + 1] as Buffer).toString('latin1');
    raw.push(name, value);
    if (!wantObject) continue;
    const prev = headers[lower];
    if (prev === undefined) headers[lower] = lower === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[lower] = `${prev}, ${value}`;
  }
  return { raw, headers };
}

/** One live exchange through undici (a legacy dispatch handler: no header parsing we do not need). */
class LiveHandler<C> {
  private resume: (() => void) | null = null;
  private abort: ((err?: Error) => void) | null = null;
  private readonly onDrain = (): void => this.resume?.();

  constructor(
    private readonly host: ForwardHost<C>,
    private readonly ctx: C,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly observed: boolean,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    this.host.setUpstream(this.ctx, this);
  }

  /** Cancel the upstream request (the client left). */
  destroy(): void {
    this.abort?.();
  }

  onBodySent(chunk: Buffer): void {
    if (this.observed) this.host.requestChunk(this.ctx, chunk);
  }

  onRequestSent(): void {
    if (this.observed) this.host.requestSent(this.ctx);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx: informational, not forwarded
    this.resume = resume;
    const { raw, headers } = responseHeaders(rawHeaders, this.observed);
    return this.host.upstreamHead(this.ctx, this.req, this.res, statusCode, statusText === '' ? undefined : statusText, raw, headers);
  }

  onData(chunk: Buffer): boolean {
    if (this.observed) this.host.upstreamChunk(this.ctx, chunk);
    if (this.res.write(chunk)) return true;
    // The client is slower than the backend: pause until it drains.
    this.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(): void {
    this.host.upstreamEnd(this.ctx, this.res);
  }

  onError(err: Error): void {
    this.host.upstreamError(this.ctx, err, this.req, this.res);
  }
}

export class UndiciForwarder {
  private readonly pool: Pool;

  constructor(url: string, timeout: number, connections = 256) {
    // headersTimeout and bodyTimeout are inactivity timeouts, like the http-proxy
    // engine's socket timeout: a long stream that keeps moving is not cut.
    this.pool = new Pool(new URL(url).origin, {
      connections,
      pipelining: 1,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connect: { timeout },
      keepAliveTimeout: 4000,
    });
    this.prefix = new URL(url).pathname.replace(/\/$/, '');
  }

  private readonly prefix: string;

  forward<C>(host: ForwardHost<C>, ctx: C, req: IncomingMessage, res: ServerResponse, observed: boolean): void {
    const h = req.headers;
    const hasBody = (h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined;
    const url = req.url ?? '/';
    this.pool.dispatch(
      {
        path: this.prefix === '' ? url : this.prefix + url,
        method: (req.method ?? 'GET'),
        headers: liveRequestHeaders(req),
        body: hasBody ? req : null,
      },
      // (undici's typings say onBodySent gets a size; its runtime passes the chunk.)
      new LiveHandler(host, ctx, req, res, observed) as unknown as Dispatcher.DispatchHandler,
    );
  }

  /** Let requests under way finish, then close the sockets. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  destroy(): void {
    void this.pool.destroy();
  }
}
