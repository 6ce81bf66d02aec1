// Shadow dispatch with undici, on a pool of its own per target: shadow traffic
// never shares sockets or limits with live. The answer is read up to a cap,
// counted against the memory budget, and handed back for comparison.
import { Pool, type Dispatcher } from 'undici';
import type { IncomingMessage } from 'node:http';
import type { BackendProtocol, HeaderEdits } from '../config/types.js';
import { protocolOptions } from '../http/protocol.js';
import { ShadowError, type ShadowErrorReason } from '../errors.js';
import { answerHeaders, trailerFields, upstreamHeaders, type HopRules } from '../http/headers.js';
import { classifyUpstreamError } from '../http/upstream.js';
import type { ByteBudget } from '../compare/index.js';
import { joinOwned } from './copy.js';

export interface ShadowAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Empty when truncated. */
  readonly body: Buffer;
  /** The body was over the cap; reading stopped there and nothing was kept. */
  readonly truncated: boolean;
  /** Time from dispatch to the end of the answer (or to the cap). */
  readonly ms: number;
  /** Bytes reserved in the memory budget for `body`; the caller releases them. */
  readonly reserved: number;
  /** `body` is a joined copy umbra owns outright (see Answer.owned). */
  readonly owned: boolean;
  /** The answer's trailers (gRPC's grpc-status, grpc-message), when it had any. */
  readonly trailers: Readonly<Record<string, string | string[]>> | null;
}

export type ShadowOutcome =
  | { readonly ok: true; readonly answer: ShadowAnswer }
  | { readonly ok: false; readonly reason: ShadowErrorReason | 'over_memory' | 'paused'; readonly message: string; readonly ms: number };

export interface ShadowRequest {
  readonly method: string;
  /** Request target as the client sent it (path and query). */
  readonly url: string;
  /** Flat [name, value, ...] list (http/headers.ts upstreamHeaders). */
  readonly headers: string[];
  readonly body: Buffer | null;
  /** A gRPC deadline (grpc-timeout), as a performance.now() time: the shadow request gives up then if sooner than its timeout. */
  readonly deadline?: number;
}

/** A shadow copy of a client's request: the same header rules as the live hop; `edits` (dark's) add the marker. */
export function shadowRequest(req: IncomingMessage, body: Buffer | null, rules: HopRules, edits: HeaderEdits | null, deadline?: number): ShadowRequest {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: upstreamHeaders(req, rules, false, edits),
    body,
    ...(deadline !== undefined ? { deadline } : {}),
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
  /** auto, http1, h2c or h2 (config dark/secondary.protocol). */
  readonly protocol?: BackendProtocol;
  /** ms: the whole shadow exchange, connect to last byte. */
  readonly timeout: number;
  readonly connections: number;
  /** Told of each connection to the target opened and closed (umbra_shadow_connections_total). */
  readonly onConnection?: (event: 'opened' | 'closed') => void;
}

const TRUNCATED = new ShadowError('too_large', 'shadow answer over the size cap: reading stopped');
/** The abort reason of a shadow request cut by the kill switch or a paused route: not the dark side's failure. */
const PAUSED = new Error('shadow request aborted: mirroring was paused');
const OVER_MEMORY = new ShadowError('too_large', 'shadow memory budget exhausted');

/**
 * One shadow request as undici's dispatch handler: the answer is collected
 * chunk by chunk against the cap and the budget, with no stream, iterator or
 * AbortController in between (each costs per request on a path taken for every
 * mirrored request).
 */
class ShadowCall {
  /** Neighbours in its target's list of calls under way (ShadowTarget.abort walks it). */
  prev: ShadowCall | null = null;
  next: ShadowCall | null = null;
  private abort: ((err?: Error) => void) | null = null;
  /** A timer of its own, for a call whose deadline is sooner than its target's timeout (a gRPC deadline); else the target's sweep ends it. */
  private readonly timer: NodeJS.Timeout | undefined;
  /** performance.now() time it was handed to undici (until then, when it was made): its latency counts from there. */
  private started = performance.now();
  /** performance.now() time by which it ends (as timeout). */
  readonly deadline: number;
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private chunks: Buffer[] = [];
  private size = 0;
  private reserved = 0;
  private done = false;
  private trailers: Record<string, string | string[]> | null = null;
  /** What undici is handed at the end of the turn (ShadowTarget.flush); let go once it has it. */
  private request: Dispatcher.DispatchOptions | null;

  constructor(
    /** The route it was mirrored for: a paused route's requests are aborted. */
    readonly route: string,
    request: Dispatcher.DispatchOptions,
    timeout: number,
    ownTimer: boolean,
    private readonly maxBody: number,
    private readonly budget: ByteBudget,
    private readonly callback: (outcome: ShadowOutcome) => void,
  ) {
    this.request = request;
    this.deadline = this.started + timeout;
    this.timer = ownTimer ? setTimeout(() => this.expire(), timeout) : undefined;
  }

  /**
   * Hand it to undici now; its latency is timed from here, not from the wait
   * before. One that ended while it waited (paused, out of time) is not sent.
   */
  sendOn(pool: Pool): void {
    const request = this.request;
    this.request = null;
    if (this.done || request === null) return;
    this.started = performance.now();
    try {
      pool.dispatch(request, this);
    } catch (err) {
      // undici refuses some requests synchronously (a closed pool, an invalid header).
      this.onError(err as Error);
    }
  }

  /** The kill switch: end it now, as paused. */
  pause(): void {
    this.stop(PAUSED);
  }

  /** Out of time: end it now, as timeout. */
  expire(): void {
    this.stop(TIMEOUT);
  }

  private stop(reason: Error): void {
    if (this.abort === null) return this.onError(reason);
    // undici's abort makes an error for the socket it destroys and node reads its
    // stack; nobody ever sees it (the outcome is `reason`), and capturing and
    // formatting that stack was about a fifth of a cut call's cost on the event loop.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      this.abort(reason);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    // Timed out before it was even connected: let the slot go at once.
    if (this.done) abort();
    else this.abort = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    if (status < 200) return true;
    this.status = status;
    this.headers = answerHeaders(rawHeaders) as Record<string, string | string[]>;
    // A declared length over the cap: nothing of it would be compared, so none of it is read.
    if (declaredLength(this.headers) > this.maxBody) {
      this.stop(TRUNCATED);
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.size + chunk.length > this.maxBody) {
      this.stop(TRUNCATED);
      return false;
    }
    if (!this.budget.tryReserve(chunk.length)) {
      this.stop(OVER_MEMORY);
      return false;
    }
    this.reserved += chunk.length;
    this.size += chunk.length;
    this.chunks.push(chunk);
    return true;
  }

  onComplete(trailers?: readonly (Buffer | string)[] | Readonly<Record<string, string | string[] | undefined>> | null): void {
    this.trailers = trailerFields(trailers);
    this.answer(false);
  }

  onError(err: Error): void {
    if (err === TRUNCATED && this.status !== 0) return this.answer(true);
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.budget.release(this.reserved);
    const ms = performance.now() - this.started;
    if (err === OVER_MEMORY) this.callback({ ok: false, reason: 'over_memory', message: err.message, ms });
    else if (err === PAUSED) this.callback({ ok: false, reason: 'paused', message: err.message, ms });
    else this.callback({ ok: false, reason: classifyShadowError(err), message: err.message, ms });
  }

  /**
   * The bytes now belong to the caller, who releases them after comparing. An
   * answer over the cap keeps nothing: it is never compared, so never copied on.
   */
  private answer(truncated: boolean): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    const c = this.chunks;
    this.chunks = [];
    let body: Buffer = EMPTY;
    let owned = false;
    if (truncated) {
      this.budget.release(this.reserved);
      this.reserved = 0;
    } else if (c.length === 1) {
      body = c[0] as Buffer;
    } else if (c.length > 1) {
      // The joined copy exists beside the chunks until they are let go: counted too.
      if (!this.budget.tryReserve(this.size)) {
        this.budget.release(this.reserved);
        this.callback({ ok: false, reason: 'over_memory', message: OVER_MEMORY.message, ms: performance.now() - this.started });
        return;
      }
      body = joinOwned(c, this.size);
      owned = true;
      this.budget.release(this.size);
    }
    this.callback({
      ok: true,
      answer: { status: this.status, headers: this.headers, body, truncated, ms: performance.now() - this.started, reserved: this.reserved, owned, trailers: this.trailers },
    });
  }
}

const EMPTY: Buffer = Buffer.alloc(0);

/** How often a target looks for calls out of time: a tenth of its timeout, from 5 ms to 100 ms. */
export function sweepInterval(timeout: number): number {
  return Math.min(100, Math.max(5, Math.floor(timeout / 10)));
}

/** The Content-Length an answer declares, or -1 when it declares none (or nonsense). */
export function declaredLength(headers: Readonly<Record<string, string | string[] | undefined>>): number {
  const v = headers['content-length'];
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return -1;
  return Number(v);
}

export class ShadowTarget {
  private readonly pool: Pool;
  readonly url: string;
  private readonly timeout: number;
  /** The target URL's path, prefixed to every request target ('' for none), as on the live hop. */
  private readonly prefix: string;
  /**
   * Shadow requests under way, for the kill switch: a list threaded through the
   * calls themselves. (A Set here, with an add and a delete per request, made V8
   * keep about 8% of all young objects alive across two scavenges, so a third of
   * the mirrored requests' garbage went to the old generation: measured with
   * --trace-gc-nvp, promoted 1.1 MB per scavenge instead of 0.1.)
   */
  private head: ShadowCall | null = null;

  /** Shadow requests to send at the end of this turn of the event loop (flush); a flush is due while it is not empty. */
  private queued: ShadowCall[] = [];
  /** The other queue, swapped in while one is sent (no array made per turn). */
  private spare: ShadowCall[] = [];

  /** Ends the calls whose time is up (the sweep, below). */
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: ShadowTargetOptions) {
    this.url = opts.url;
    this.timeout = opts.timeout;
    // One timer for all the calls under way rather than one per call (a timer made and
    // cleared on every mirrored request): a call ends at most a tenth of its timeout late.
    this.sweeper = setInterval(() => this.sweep(performance.now()), sweepInterval(opts.timeout));
    this.sweeper.unref();
    this.prefix = new URL(opts.url).pathname.replace(/\/$/, '');
    const url = new URL(opts.url);
    this.pool = new Pool(url.origin, {
      ...protocolOptions(url, opts.protocol ?? 'auto', opts.connections, opts.timeout),
      headersTimeout: opts.timeout,
      bodyTimeout: opts.timeout,
      keepAliveTimeout: 4000,
    });
    const told = opts.onConnection;
    if (told !== undefined) {
      this.pool.on('connect', () => told('opened'));
      this.pool.on('disconnect', () => told('closed'));
    }
  }

  /** Send one shadow request; `done` is called once with the outcome, never with an exception. */
  send(route: string, req: ShadowRequest, maxBody: number, budget: ByteBudget, done: (outcome: ShadowOutcome) => void): void {
    // A gRPC deadline that ends sooner than the target's timeout ends the shadow request then (timeout), on a timer of its own.
    const timeout = req.deadline === undefined ? this.timeout : Math.max(1, Math.min(this.timeout, req.deadline - performance.now()));
    const request = {
      path: this.prefix + req.url,
      method: req.method,
      headers: req.headers,
      body: req.body !== null && req.body.length > 0 ? req.body : null,
    };
    const call: ShadowCall = new ShadowCall(route, request, timeout, timeout < this.timeout, maxBody, budget, (o) => {
      this.unlink(call);
      done(o);
    });
    this.link(call);
    if (this.queued.length === 0) setImmediate(this.flush);
    this.queued.push(call);
  }

  /**
   * Hand the shadow requests queued in this turn of the event loop to undici, all
   * at once, after the turn's live work. undici writes a request on a reused
   * keep-alive socket from a setImmediate of its own (it first lets pending bytes
   * on the idle socket be read), so without this queue a turn's live and dark
   * writes went out interleaved in its check phase; with it, every live write of
   * the turn goes first and the dark ones follow together in the next. Measured at
   * 100 % mirroring in four A/B runs of alternating rounds (sent at once vs
   * queued): umbra's median CPU per request 150 -> 126, 170 -> 161, 188 -> 202 and
   * 126 -> 117 µs; live req/s with it / without it, median of 10 paired rounds, 1.06.
   */
  private readonly flush = (): void => {
    const q = this.queued;
    this.queued = this.spare;
    this.spare = q;
    for (const call of q) call.sendOn(this.pool);
    q.length = 0;
  };

  /**
   * The kill switch: abort every shadow request under way (of one route, or all).
   * Each ends at once with the outcome `paused`; undici closes its connection.
   */
  abort(route: string | null = null): number {
    const chosen: ShadowCall[] = [];
    for (let c = this.head; c !== null; c = c.next) if (route === null || c.route === route) chosen.push(c);
    // Each one's outcome unlinks it, so they are chosen before any is stopped.
    for (const c of chosen) c.pause();
    return chosen.length;
  }

  /** End every call under way whose deadline has passed. */
  sweep(now: number): void {
    const late: ShadowCall[] = [];
    for (let c = this.head; c !== null; c = c.next) if (c.deadline <= now) late.push(c);
    for (const c of late) c.expire();
  }

  private link(c: ShadowCall): void {
    c.next = this.head;
    if (this.head !== null) this.head.prev = c;
    this.head = c;
  }

  /** Take a call out of the list; a call not in it is left alone. */
  private unlink(c: ShadowCall): void {
    if (c.prev !== null) c.prev.next = c.next;
    else if (this.head === c) this.head = c.next;
    else return;
    if (c.next !== null) c.next.prev = c.prev;
    c.prev = null;
    c.next = null;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.pool.destroy();
  }
}
