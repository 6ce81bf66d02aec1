// The live path: every request goes to the live backend through undici and the
// answer streams back untouched (less hop-by-hop headers). Shadow work only
// observes (mirror/hook.ts); nothing here waits for it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { pipeline, Transform, type Duplex, type Readable } from 'node:stream';
import { LiveError, type LiveFailure, type UpstreamFailure } from '../errors.js';
import { downstreamHeaders, trailerFields, upstreamHeaders, type HopRules } from '../http/headers.js';
import { requestPath, type CompiledRoute, type Router } from '../http/routes.js';
import { classifyUpstreamError } from '../http/upstream.js';
import { grpcCodeName, grpcStatusOf, isGrpcContentType } from '../http/grpc.js';
import type { LiveObserver, ShadowHook } from '../mirror/hook.js';
import type { Logger } from '../observe/log.js';
import type { LiveRouteMetrics, Metrics } from '../observe/metrics.js';
import { LiveForwarder, type ForwardHandler, type LiveTarget } from './forward.js';

/** What a request is served with; swapped as a whole on hot reload. */
export interface LiveState {
  readonly target: LiveTarget;
  readonly router: Router;
  readonly shadow: ShadowHook | null;
  /** What the hop does with the client's headers (forwarded.trust, the shadow markers to strip). */
  readonly hop: HopRules;
}

const ERROR_BODIES = Object.fromEntries(
  (['connect', 'timeout', 'reset', 'protocol'] as const).map((r) => {
    const e = new LiveError(r);
    return [r, { status: e.status, body: JSON.stringify({ error: e.message, code: e.code }) }];
  }),
) as Record<UpstreamFailure, { status: number; body: string }>;

/** Response headers for an HTTP/2 client: lower-case names, repeats as lists (the hop-by-hop ones are already gone). */
export function h2Headers(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

/**
 * The client's body as forwarded, each chunk shown to the observer on its way
 * (the HTTP/2 live hop's stand-in for onBodySent). A client that aborts ends
 * the tap with an error, which aborts the live request.
 */
/** Why a body is ended when its client has left (an exchange that is already finished ignores it). */
const CLIENT_LEFT = new Error('the client closed the request');

function ignore(): void {
  /* the exchange already knows (finish, onError) */
}

function tapBody(req: IncomingMessage, observer: LiveObserver | null): Readable {
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      observer?.requestChunk(chunk);
      cb(null, chunk);
    },
  });
  pipeline(req, tap, () => undefined);
  return tap;
}

const kExchange = Symbol('umbra.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: LiveExchange };

function onResponseClose(this: TaggedResponse): void {
  this[kExchange]?.finish();
}

/**
 * One request to live, from dispatch to the client's socket letting go. It is
 * undici's dispatch handler itself: one object per request, no closures.
 */
class LiveExchange implements ForwardHandler {
  private abort: ((err?: Error) => void) | null = null;
  private resume: (() => void) | null = null;
  private failed = false;
  private closed = false;
  /** The answer was ended (complete, or umbra's error answer). An HTTP/2 response that was reset reads as finished too. */
  private ended = false;
  readonly started = performance.now();
  /** The client's connection (Node detaches it from req and res by the time they close). */
  readonly socket: Duplex;
  /** The client speaks HTTP/2: no reason phrase, no connection-specific headers, header names in lower case. */
  readonly h2: boolean;
  /** A gRPC call (by its content type): its status is counted by name. */
  private readonly grpc: boolean;
  /** grpc-status in the answer's headers (a trailers-only answer), when a gRPC call has one. */
  private grpcStatusHeader: string | null = null;
  /**
   * A gRPC answer's head for an HTTP/2 client, held until the first body byte:
   * an answer that turns out to have no body and no trailers is sent as one
   * HEADERS frame that ends the stream (gRPC's trailers-only form), as live sent it.
   */
  private heldHead: { status: number; headers: Record<string, string | string[]> } | null = null;

  constructor(
    private readonly proxy: LiveProxy,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    readonly route: CompiledRoute,
    private readonly metrics: LiveRouteMetrics,
    private readonly observer: LiveObserver | null,
  ) {
    this.socket = req.socket;
    this.h2 = req.httpVersionMajor === 2;
    this.grpc = isGrpcContentType(req.headers['content-type']);
  }

  // undici's handler interface (legacy dispatch handler: raw headers, no parsing we do not need).

  onConnect(abort: (err?: Error) => void): void {
    // The client may have left already.
    if (this.closed) abort();
    else this.abort = abort;
  }

  /** The request body reaches the observer through a tap (LiveProxy.handle), not through onBodySent. */
  tapped = false;
  /**
   * The body as handed to an HTTP/2-capable live pool, until it is all sent.
   * A client that leaves before then ends the exchange through it (an error on
   * the body) rather than through undici's abort(): undici 7 aborting an HTTP/2
   * request whose body is still being piped can leave the session spinning in
   * nghttp2 for good (the process stops answering).
   */
  streamingBody: Readable | null = null;
  /**
   * A request with a body to an HTTP/2-capable live pool. Once its body is sent,
   * a client that leaves does not abort the live request: undici 7's abort of
   * such a request can leave the session spinning in nghttp2 for good (the
   * process stops answering; reproduced without umbra in a 20-line forwarder).
   * The live answer is read to its end and dropped instead (bounded by
   * live.timeout). benchmarks/README.md and docs/http2.md say so.
   */
  h2Body = false;

  onBodySent(chunk: Buffer): void {
    // Over HTTP/2, undici 7 reports the ANSWER's chunks here (it listens for 'data'
    // on the stream it pipes the body into): a live pool that may speak HTTP/2
    // taps the client's body instead.
    if (!this.tapped) this.observer?.requestChunk(chunk);
  }

  onRequestSent(): void {
    this.streamingBody = null;
    this.observer?.requestEnd();
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return true; // 1xx: informational, not forwarded
    const res = this.res;
    if (res.headersSent || res.destroyed) return false;
    this.resume = resume;
    const { raw, headers } = downstreamHeaders(rawHeaders, this.observer !== null);
    if (this.grpc) for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'grpc-status') this.grpcStatusHeader = raw[i + 1] as string;
    if (this.h2 && this.grpc) this.heldHead = { status, headers: h2Headers(raw) };
    else if (this.h2) res.writeHead(status, h2Headers(raw));
    else if (statusText === '') res.writeHead(status, raw);
    else res.writeHead(status, statusText, raw);
    this.observer?.responseStart(status, headers, raw);
    return true;
  }

  private sendHeldHead(): void {
    const h = this.heldHead;
    if (h === null) return;
    this.heldHead = null;
    this.res.writeHead(h.status, h.headers);
  }

  onData(chunk: Buffer): boolean {
    // The client has left (an HTTP/2 live request that is not aborted): read on, drop it.
    if (this.closed) return true;
    this.observer?.responseChunk(chunk);
    this.sendHeldHead();
    if (this.res.write(chunk)) return true;
    // The client is slower than the backend: pause the upstream until it drains.
    if (this.resume !== null) this.res.once('drain', this.resume);
    return false;
  }

  onComplete(trailers?: Buffer[] | Record<string, string | string[] | undefined> | null): void {
    const t = trailerFields(trailers);
    const held = this.heldHead;
    this.ended = true;
    if (held !== null && t === null && !this.res.destroyed) {
      // Trailers-only: one HEADERS frame with END_STREAM.
      this.heldHead = null;
      (this.res as unknown as Http2ServerResponse).stream.respond({ ...held.headers, ':status': held.status }, { endStream: true });
    } else {
      this.sendHeldHead();
      // HTTP/1.1 carries trailers only in a chunked answer; Node leaves them out of one with a Content-Length.
      if (t !== null) this.res.addTrailers(t);
      this.res.end();
    }
    const ms = performance.now() - this.started;
    this.metrics.observeDuration(ms / 1000);
    if (this.grpc) this.proxy.countGrpc(this.route.name, grpcStatusOf(this.grpcStatusHeader === null ? null : { 'grpc-status': this.grpcStatusHeader }, t));
    this.observer?.responseEnd(ms, t);
  }

  onError(err: Error): void {
    const res = this.res;
    // (req.destroyed is no sign: a request whose body was read is destroyed.)
    if (this.closed || res.destroyed) {
      this.fail('client_abort', err);
      return;
    }
    const reason = classifyUpstreamError(err);
    this.fail(reason, err);
    // A held gRPC head counts as sent: the answer was under way.
    if (res.headersSent || this.heldHead !== null) {
      // The backend broke off mid-body: never end the client's answer as if complete.
      res.destroy();
      return;
    }
    const { status, body } = ERROR_BODIES[reason];
    this.proxy.log.warn({ route: this.route.name, method: this.req.method, reason, err: err.message }, 'live backend failed');
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    this.ended = true;
    res.end(body);
  }

  /** The client's response closed: finished, or the client left. */
  finish(): void {
    this.closed = true;
    const res = this.res;
    // 499: the client left before an answer could be sent (nginx's convention).
    const code = res.headersSent ? String(res.statusCode) : '499';
    this.metrics.countRequest(this.req.method ?? 'GET', code);
    if (!this.ended || !res.writableFinished) {
      if (this.streamingBody !== null) this.streamingBody.destroy(CLIENT_LEFT);
      else if (!this.h2Body) this.abort?.();
      this.fail('client_abort', null);
    }
    this.proxy.done(this, code);
  }

  private fail(reason: LiveFailure, err: Error | null): void {
    if (this.failed) return;
    this.failed = true;
    this.proxy.failed(this, reason, err);
    this.observer?.failed(reason);
  }
}

export interface LiveProxyOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
}

export class LiveProxy {
  private state: LiveState;
  private forwarder: LiveForwarder;
  readonly log: Logger;
  private readonly metrics: Metrics;
  private inFlight = 0;
  private draining = false;
  private drainWaiters: (() => void)[] = [];
  /** Told when a response on a connection is done (the listener's pipelining bookkeeping, proxy/server.ts). */
  onAnswered: ((socket: Duplex) => void) | null = null;

  constructor(state: LiveState, opts: LiveProxyOptions) {
    this.state = state;
    this.forwarder = new LiveForwarder(state.target);
    this.log = opts.log;
    this.metrics = opts.metrics;
  }

  get current(): LiveState {
    return this.state;
  }

  /** Swap the state in force (hot reload); requests under way keep the one they started with. */
  setState(state: LiveState): void {
    const old = this.forwarder;
    this.forwarder = new LiveForwarder(state.target);
    this.state = state;
    // Requests under way on the old pool finish there; then its sockets close.
    old.close().catch((err: unknown) => this.log.debug({ err }, 'closing the previous live pool'));
  }

  get active(): number {
    return this.inFlight;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Stop treating connections as reusable and resolve when in-flight requests are done. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.forwarder.destroy();
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const state = this.state;
    const method = req.method ?? 'GET';
    const route = state.router.match(method, requestPath(req.url));
    const observer = state.shadow === null ? null : state.shadow.begin(req, route);
    const exchange = new LiveExchange(this, req, res, route, this.metrics.liveRoute(route.name), observer);
    (res as TaggedResponse)[kExchange] = exchange;
    this.inFlight++;
    const h2 = req.httpVersionMajor === 2;
    // (HTTP/2 has no Connection header: its sessions get GOAWAY when umbra drains.)
    if (this.draining && !h2) res.setHeader('connection', 'close');
    res.once('close', onResponseClose);
    const h = req.headers;
    // An HTTP/2 request has a body unless its HEADERS frame ended the stream (Content-Length is optional there).
    // (Computed below; the observer reads the client's body chunks as they are forwarded.)
    const hasBody = h2
      ? (req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders !== true
      : (h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined;
    let body: Readable | null = hasBody ? req : null;
    if (hasBody && this.forwarder.mayBeH2) {
      exchange.tapped = true;
      exchange.h2Body = true;
      body = tapBody(req, observer);
      exchange.streamingBody = body;
    }
    // When the client leaves before its body was sent, undici destroys the body
    // with an error (UND_ERR_ABORTED): without a listener that would end the process.
    if (body !== null) body.on('error', ignore);
    this.forwarder.dispatch(
      {
        path: req.url ?? '/',
        method,
        headers: upstreamHeaders(req, state.hop, true),
        body,
      },
      exchange,
    );
  };

  /** @internal LiveExchange: a gRPC call's live answer ended with this status (null: none sent). */
  countGrpc(route: string, status: number | null): void {
    this.metrics.grpcResponses.inc({ route, code: grpcCodeName(status) });
  }

  /** @internal LiveExchange: the exchange failed (once per exchange). */
  failed(x: LiveExchange, reason: LiveFailure, err: Error | null): void {
    this.metrics.liveErrors.inc({ route: x.route.name, reason });
    if (reason === 'client_abort') this.log.debug({ route: x.route.name, err: err?.message ?? 'client closed the connection' }, 'client aborted');
  }

  /** @internal LiveExchange: the client's response is closed. */
  done(x: LiveExchange, code: string): void {
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ route: x.route.name, code, ms: Math.round(performance.now() - x.started) }, 'request');
    }
    if (!x.h2) this.onAnswered?.(x.socket);
    this.inFlight--;
    if (this.draining && this.inFlight === 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }
}
