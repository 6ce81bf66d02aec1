// The live path: every request goes to the live backend through http-proxy (or
// undici, with `live.engine: undici`) and the answer streams back untouched (less
// hop-by-hop headers). Shadow work only
// observes (see exchange.ts); nothing here waits for it.
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import './http-proxy-compat.js';
import httpProxy from 'http-proxy';
import type { Logger } from '../observe/log.js';
import type { LiveRouteMetrics, Metrics } from '../observe/metrics.js';
import { CONNECT_ERROR_CODES } from '../errors.js';
import { requestPath, type CompiledRoute, type Router } from '../mirror/routes.js';
import type { LiveFailure, LiveObserver, ShadowHook } from './exchange.js';
import { connectionListed, forwardableRawHeaders, forwardedFor, isHopByHop } from './hop.js';
import { UndiciForwarder, type ForwardHost } from './undici-forward.js';

export interface LiveTarget {
  readonly url: string;
  /** ms of upstream inactivity (waiting for headers or between body chunks) before 504. */
  readonly timeout: number;
  /** http-proxy (default) or undici. */
  readonly engine: 'http-proxy' | 'undici';
}

/** What a request is being served with; swapped as a whole on hot reload. */
export interface LiveState {
  readonly target: LiveTarget;
  readonly router: Router;
  readonly shadow: ShadowHook | null;
}

const kCtx = Symbol('umbra.ctx');

interface Ctx {
  readonly route: CompiledRoute;
  readonly routeMetrics: LiveRouteMetrics;
  readonly started: number;
  readonly observer: LiveObserver | null;
  readonly state: LiveState;
  timedOut: boolean;
  /** The live answer broke off mid-body (as opposed to the client leaving). */
  upstreamBroke: boolean;
  failed: boolean;
  /**
   * The request to live once it is under way, destroyed when the client leaves:
   * http-proxy's ClientRequest or the undici handler. (A plain reference: a
   * closure here cost a fifth of the throughput and 40 MiB of RSS under load.)
   */
  upstream: { destroy(): void } | null;
}

type CtxReq = IncomingMessage & { [kCtx]?: Ctx };

const ERROR_BODIES: Record<UpstreamFailure, string> = {
  connect: JSON.stringify({ error: 'live backend unreachable', code: 'UMBRA_LIVE_CONNECT' }),
  timeout: JSON.stringify({ error: 'live backend timed out', code: 'UMBRA_LIVE_TIMEOUT' }),
  reset: JSON.stringify({ error: 'live backend closed the connection', code: 'UMBRA_LIVE_RESET' }),
  protocol: JSON.stringify({ error: 'live backend sent an invalid answer', code: 'UMBRA_LIVE_PROTOCOL' }),
};

export type UpstreamFailure = Exclude<LiveFailure, 'client_abort'>;

export function classifyUpstreamError(err: NodeJS.ErrnoException, timedOut: boolean): UpstreamFailure {
  if (timedOut) return 'timeout';
  if (err.code !== undefined && CONNECT_ERROR_CODES.has(err.code)) return 'connect';
  // undici's parser errors do not always carry an HPE_ code.
  if (err.name === 'HTTPParserError') return 'protocol';
  switch (err.code) {
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW':
      return 'protocol';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    default:
      return err.code?.startsWith('HPE_') === true ? 'protocol' : 'reset';
  }
}

function forwarderFor(state: LiveState): UndiciForwarder | null {
  return state.target.engine === 'undici' ? new UndiciForwarder(state.target.url, state.target.timeout) : null;
}

/** The target as http-proxy wants it (url.parse's shape), built once per state. */
function webOptionsFor(state: LiveState): httpProxy.ServerOptions {
  const u = new URL(state.target.url);
  const target = { protocol: u.protocol, host: u.host, hostname: u.hostname, port: u.port, pathname: u.pathname, path: u.pathname + u.search };
  return { target: target };
}

export interface LiveProxyOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Upstream keep-alive sockets kept open per host. */
  readonly maxFreeSockets?: number;
}

export class LiveProxy implements ForwardHost<Ctx> {
  private state: LiveState;
  /** The undici engine for the state in force, or null for http-proxy. */
  private forwarder: UndiciForwarder | null;
  /** http-proxy options for the state in force, its target parsed once (not per request). */
  private webOptions: httpProxy.ServerOptions;
  private readonly proxy: httpProxy;
  private readonly agent: http.Agent;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private inFlight = 0;
  private draining = false;
  private drainWaiters: (() => void)[] = [];

  constructor(state: LiveState, opts: LiveProxyOptions) {
    this.state = state;
    this.webOptions = webOptionsFor(state);
    this.forwarder = forwarderFor(state);
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.agent = new http.Agent({ keepAlive: true, maxFreeSockets: opts.maxFreeSockets ?? 256 });
    this.proxy = httpProxy.createProxyServer({ agent: this.agent, selfHandleResponse: true, xfwd: false, ws: true });
    this.proxy.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => this.onProxyReq(proxyReq, req));
    this.proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) =>
      this.onProxyRes(proxyRes, req, res),
    );
    // Errors are handled per call; this keeps a stray one from becoming an uncaught exception.
    this.proxy.on('error', (err: Error) => this.log.warn({ err }, 'proxy error'));
  }

  /** Swap the state in force (hot reload); requests under way keep the one they started with. */
  setState(state: LiveState): void {
    const old = this.forwarder;
    this.webOptions = webOptionsFor(state);
    this.forwarder = forwarderFor(state);
    this.state = state;
    // Requests under way on the old pool finish there; then its sockets close.
    if (old !== null) old.close().catch((err: unknown) => this.log.debug({ err }, 'closing the previous live pool'));
  }

  get active(): number {
    return this.inFlight;
  }

  /** Stop treating connections as reusable and resolve when in-flight requests are done. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  close(): void {
    this.proxy.close();
    this.agent.destroy();
    this.forwarder?.destroy();
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const state = this.state;
    const path = requestPath(req.url);
    const route = state.router.match(req.method ?? 'GET', path);
    const observer = state.shadow === null ? null : state.shadow.begin(req, route);
    const ctx: Ctx = { route, routeMetrics: this.metrics.liveRoute(route.name), started: performance.now(), observer, state, timedOut: false, upstreamBroke: false, failed: false, upstream: null };
    (req as CtxReq)[kCtx] = ctx;
    this.inFlight++;
    if (this.draining) res.setHeader('connection', 'close');
    res.once('close', () => this.finish(req, res));
    const forwarder = this.forwarder;
    if (forwarder !== null) {
      // The undici handler reports the request body as it is sent (onBodySent).
      forwarder.forward(this, ctx, req, res, observer !== null);
      return;
    }
    // Node already answered "100 Continue" to the client; the expectation is
    // hop-by-hop and must not reach the backend (http-proxy would also skip its
    // proxyReq event for it).
    if (req.headers.expect !== undefined) delete req.headers.expect;
    this.proxy.web(req, res, this.webOptions, (err: Error) => this.onError(err, req, res));
    if (observer !== null) {
      // Attached after web() has piped req to the backend, so the copy never
      // changes the pace of the live upload.
      req.on('data', (chunk: Buffer) => observer.requestChunk(chunk));
      req.once('end', () => observer.requestEnd());
    }
  };

  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    this.proxy.ws(req, socket, head, this.webOptions, (err: Error) => {
      this.log.debug({ err: err.message }, 'websocket upstream error');
      socket.destroy();
    });
  };

  private onProxyReq(proxyReq: ClientRequest, req: CtxReq): void {
    const ctx = req[kCtx];
    // Strip hop-by-hop headers (and those named in Connection), keeping the
    // chunked framing of a streamed body: node re-frames it on the new hop.
    const listed = connectionListed(req.headers.connection);
    for (const name of proxyReq.getHeaderNames()) {
      if (name === 'transfer-encoding') continue;
      if (isHopByHop(name, listed)) proxyReq.removeHeader(name);
    }
    const fwd = forwardedFor(req);
    proxyReq.setHeader('x-forwarded-for', fwd.for);
    if (fwd.proto !== undefined) proxyReq.setHeader('x-forwarded-proto', fwd.proto);
    if (fwd.host !== undefined) proxyReq.setHeader('x-forwarded-host', fwd.host);
    if (ctx !== undefined) {
      ctx.upstream = proxyReq;
      proxyReq.setTimeout(ctx.state.target.timeout, () => {
        ctx.timedOut = true;
        proxyReq.destroy(Object.assign(new Error('live backend timed out'), { code: 'ETIMEDOUT' }));
      });
    }
  }

  private onProxyRes(proxyRes: IncomingMessage, req: CtxReq, res: ServerResponse): void {
    const ctx = req[kCtx];
    const status = proxyRes.statusCode ?? 502;
    if (res.headersSent || res.destroyed) {
      proxyRes.destroy();
      return;
    }
    res.writeHead(status, proxyRes.statusMessage, forwardableRawHeaders(proxyRes.rawHeaders, proxyRes.headers));
    const observer = ctx?.observer ?? null;
    if (observer !== null) {
      observer.responseStart(status, proxyRes.headers);
      proxyRes.on('data', (chunk: Buffer) => observer.responseChunk(chunk));
    }
    // pipe() rather than pipeline(): pipeline allocates an AbortController per
    // call and a DOMException when it settles, a measurable share of a proxy's
    // CPU. Its two duties are done here: a broken upstream destroys the client's
    // response, and a departed client is handled in finish().
    proxyRes.once('error', (err) => {
      if (ctx !== undefined) this.fail(ctx, ctx.timedOut ? 'timeout' : res.destroyed && !ctx.timedOut && !ctx.upstreamBroke ? 'client_abort' : 'reset', err);
      // The backend broke off mid-body: never end the client's answer as if complete.
      res.destroy();
    });
    if (ctx !== undefined) {
      proxyRes.once('aborted', () => (ctx.upstreamBroke = true));
      proxyRes.once('end', () => {
        const ms = performance.now() - ctx.started;
        ctx.routeMetrics.observeDuration(ms / 1000);
        observer?.responseEnd(ms);
      });
    }
    proxyRes.pipe(res);
  }

  private onError(err: NodeJS.ErrnoException, req: CtxReq, res: ServerResponse): void {
    const ctx = req[kCtx];
    const timedOut = ctx?.timedOut === true;
    // (req.destroyed is no sign: a request whose body was read is destroyed.)
    const clientGone = res.destroyed || (req.socket.destroyed && !timedOut);
    if (clientGone) {
      if (ctx !== undefined) this.fail(ctx, 'client_abort', err);
      return;
    }
    const reason = classifyUpstreamError(err, timedOut);
    if (ctx !== undefined) this.fail(ctx, reason, err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = reason === 'timeout' ? 504 : 502;
    const body = ERROR_BODIES[reason];
    this.log.warn({ route: ctx?.route.name, method: req.method, reason, err: err.message }, 'live backend failed');
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  // ForwardHost: the undici engine's events (see undici-forward.ts).

  upstreamHead(ctx: Ctx, _req: IncomingMessage, res: ServerResponse, status: number, message: string | undefined, raw: string[], headers: IncomingHttpHeaders): boolean {
    if (res.headersSent || res.destroyed) return false;
    if (message === undefined) res.writeHead(status, raw);
    else res.writeHead(status, message, raw);
    ctx.observer?.responseStart(status, headers);
    return true;
  }

  upstreamChunk(ctx: Ctx, chunk: Buffer): void {
    ctx.observer?.responseChunk(chunk);
  }

  upstreamEnd(ctx: Ctx, res: ServerResponse): void {
    res.end();
    const ms = performance.now() - ctx.started;
    ctx.routeMetrics.observeDuration(ms / 1000);
    ctx.observer?.responseEnd(ms);
  }

  upstreamError(_ctx: Ctx, err: NodeJS.ErrnoException, req: IncomingMessage, res: ServerResponse): void {
    this.onError(err, req, res);
  }

  requestChunk(ctx: Ctx, chunk: Buffer): void {
    ctx.observer?.requestChunk(chunk);
  }

  requestSent(ctx: Ctx): void {
    ctx.observer?.requestEnd();
  }

  setUpstream(ctx: Ctx, upstream: { destroy(): void }): void {
    ctx.upstream = upstream;
  }

  private fail(ctx: Ctx, reason: LiveFailure, err: Error): void {
    if (ctx.failed) return;
    ctx.failed = true;
    this.metrics.liveErrors.inc({ route: ctx.route.name, reason });
    if (reason === 'client_abort') this.log.debug({ route: ctx.route.name, err: err.message }, 'client aborted');
    ctx.observer?.failed(reason);
  }

  private finish(req: CtxReq, res: ServerResponse): void {
    const ctx = req[kCtx];
    if (ctx !== undefined) {
      // 499: the client left before an answer could be sent (nginx's convention).
      const code = res.headersSent ? String(res.statusCode) : '499';
      ctx.routeMetrics.countRequest(req.method ?? 'GET', code);
      if (!res.writableFinished) {
        // The client left: cancel the live request too (http-proxy only does
        // so while the request body is still arriving).
        ctx.upstream?.destroy();
        if (!ctx.failed) this.fail(ctx, 'client_abort', new Error('client closed the connection'));
      }
      if (this.log.isLevelEnabled('debug')) {
        this.log.debug(
          { route: ctx.route.name, method: req.method, code, ms: Math.round(performance.now() - ctx.started) },
          'request',
        );
      }
    }
    this.inFlight--;
    if (this.draining && this.inFlight === 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }
}
