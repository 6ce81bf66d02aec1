// One mirrored request, from its first body byte to its verdict, as explicit
// states:
//
//   copying ──requestEnd──► sent ──all answers in──► comparing ──► settled
//      │                     (live, dark, secondary)                   ▲
//      └── over a limit, or live failed before the body ended ─────────┘
//
// The live answer is tapped alongside (LiveTap) whatever the state. Every byte
// held counts against the exchange's Reservation, released when it settles.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { engineSkipReason, type Answer, type Verdict } from '../compare/index.js';
import type { DropDecision, LiveFailure, SkipReason } from '../errors.js';
import { isSafeMethod } from '../http/headers.js';
import { grpcMessageCount, grpcStatusOf, grpcTimeoutMs, isGrpcContentType } from '../http/grpc.js';
import { requestPath } from '../http/routes.js';
import type { FinishedExchange } from '../observe/record.js';
import { BodyCopy, Reservation } from './copy.js';
import type { LiveObserver } from './hook.js';
import type { Mirror } from './mirror.js';
import type { Turn } from './order.js';
import type { RouteRuntime } from './route.js';
import { declaredLength, type ShadowOutcome, type ShadowRequest } from './shadow.js';

/** The live answer as it streams to the client: head, a bounded copy of the body, and how it ended. */
class LiveTap {
  status = 0;
  headers: IncomingHttpHeaders = {};
  trailers: Readonly<Record<string, string | string[]>> | null = null;
  truncated = false;
  ms = 0;
  /** 'pending' until the answer ends or fails. */
  outcome: 'pending' | 'done' | LiveFailure = 'pending';

  constructor(readonly body: BodyCopy) {}

  chunk(chunk: Buffer): void {
    if (this.truncated) return;
    if (this.body.add(chunk) !== 'ok') {
      // Over the cap (or the budget): this pair will not be compared; let go of what was held.
      this.truncated = true;
      this.body.drop();
    }
  }

  /** The answer to compare, or null when joining its chunks does not fit the budget. */
  answer(): Answer | null {
    const body = this.body.body();
    if (body === null) return null;
    const a: Answer = { status: this.status, headers: this.headers, body, truncated: this.truncated, owned: this.body.owned };
    if (this.trailers !== null) a.trailers = this.trailers;
    return a;
  }
}

/** Shadow answers as they come in; `none` for a target not asked. */
type Side = { readonly kind: 'pending' } | { readonly kind: 'none' } | { readonly kind: 'done'; readonly outcome: ShadowOutcome };

const PENDING: Side = { kind: 'pending' };
const NONE: Side = { kind: 'none' };

type State =
  | { readonly kind: 'copying'; readonly request: BodyCopy }
  | { readonly kind: 'sent'; readonly body: Buffer | null; dark: Side; secondary: Side }
  | { readonly kind: 'comparing' }
  | { readonly kind: 'settled' };

type Sent = State & { kind: 'sent' };

/**
 * An ordered shadow request (mirror.orderBy) from admission to its dark send:
 * `held` a place in its key's queue while live answers, `joined` the line once
 * live completed, `started` when its turn came; `abandoned` when it waited past
 * dark.timeout or live failed (then it is never sent).
 */
class OrderedTurn implements Turn {
  phase: 'held' | 'joined' | 'started' | 'abandoned' = 'held';
  readonly since = performance.now();
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly key: string,
    private readonly send: () => void,
  ) {}

  start(): void {
    clearTimeout(this.timer);
    this.phase = 'started';
    this.send();
  }
}

/** The dark side of an ordered exchange whose live answer failed before its turn: never sent, not a shadow error. */
const NOT_SENT: ShadowOutcome = { ok: false, reason: 'reset', message: 'not sent: the live exchange failed before its turn', ms: 0 };

const COMPARING: State = { kind: 'comparing' };
const SETTLED: State = { kind: 'settled' };

export class MirroredExchange implements LiveObserver {
  private state: State;
  private readonly held: Reservation;
  private readonly live: LiveTap;
  /** Set when the route orders shadow requests and this one has the key. */
  private turn: OrderedTurn | null = null;
  /** A gRPC call (its content type): mirrored only when unary. */
  private readonly grpc: boolean;
  /** The client's gRPC deadline (grpc-timeout) as a performance.now() time; shadow requests end by then. */
  private readonly deadline: number | undefined;

  constructor(
    private readonly mirror: Mirror,
    private readonly rt: RouteRuntime,
    private readonly req: IncomingMessage,
  ) {
    this.held = new Reservation(mirror.budget);
    const cap = rt.config.mirror.maxBodyBytes;
    this.state = { kind: 'copying', request: new BodyCopy(this.held, cap) };
    this.live = new LiveTap(new BodyCopy(this.held, cap));
    this.grpc = isGrpcContentType(req.headers['content-type']);
    const timeout = this.grpc ? grpcTimeoutMs(req.headers['grpc-timeout']) : null;
    this.deadline = timeout === null ? undefined : performance.now() + timeout;
  }

  requestChunk(chunk: Buffer): void {
    if (this.state.kind !== 'copying') return;
    const r = this.state.request.add(chunk);
    if (r !== 'ok') this.drop(r === 'over_cap' ? 'body_too_large' : 'over_memory');
  }

  requestEnd(): void {
    const s = this.state;
    if (s.kind !== 'copying') return;
    const body = s.request.size === 0 ? null : s.request.body();
    if (body === null && s.request.size > 0) return this.drop('over_memory');
    // A unary gRPC call sends exactly one message; client or bidirectional streaming is forwarded,
    // never mirrored, and so is a call compare.protos declares streaming (server streaming shows
    // in the request only there).
    if (this.grpc && (grpcMessageCount(body) !== 1 || this.rt.rules.isStreaming(requestPath(this.req.url)))) return this.drop('streaming');
    const key = this.rt.orderKey(this.req);
    if (key !== null && !this.mirror.order.hold(key, this.rt.config.mirror.maxQueuedPerKey)) return this.drop('over_queue');
    const refusal = this.mirror.admit(this.rt);
    if (refusal !== null) {
      if (key !== null) this.mirror.order.leave(key, null);
      return this.drop(refusal);
    }
    this.rt.decide('mirrored');
    const sent: Sent = { kind: 'sent', body, dark: PENDING, secondary: NONE };
    this.state = sent;
    const maxBody = this.rt.config.mirror.maxBodyBytes;
    // Pending before sending: an answer may come back at once (a refused connection).
    // The secondary is a LIVE instance: a mirrored write goes to dark alone (or live's
    // data would be written twice) and is compared without a noise baseline.
    if (this.mirror.hasSecondary && isSafeMethod(this.req.method ?? 'GET')) sent.secondary = PENDING;
    const request = this.mirror.darkRequest(this.req, body, this.deadline);
    if (key === null) this.mirror.sendDark(this.rt, request, maxBody, (o) => this.answered('dark', o));
    else this.awaitTurn(request, key, maxBody);
    if (sent.secondary === PENDING && !this.mirror.sendSecondary(this.rt, this.req, body, maxBody, (o) => this.answered('secondary', o), this.deadline)) {
      sent.secondary = NONE;
      this.advance();
    }
  }

  responseStart(status: number, headers: IncomingHttpHeaders): void {
    this.live.status = status;
    this.live.headers = headers;
    // Declared over the cap: never compared, so nothing of it is kept.
    if (declaredLength(headers) > this.rt.config.mirror.maxBodyBytes) this.live.truncated = true;
  }

  responseChunk(chunk: Buffer): void {
    if (this.state.kind !== 'settled') this.live.chunk(chunk);
  }

  responseEnd(ms: number, trailers?: Readonly<Record<string, string | string[]>> | null): void {
    this.live.ms = ms;
    this.live.trailers = trailers ?? null;
    this.live.outcome = 'done';
    this.joinLine();
    this.advance();
  }

  failed(reason: LiveFailure): void {
    this.live.outcome = reason;
    // The request never completed, so no shadow was sent: nothing to compare.
    if (this.state.kind === 'copying') this.settle();
    // An ordered shadow request follows live's completion order: with no completion it is never sent.
    else if (!this.abandonTurn('live_failed')) this.advance();
  }

  /**
   * An ordered shadow request: it holds a place in its key's queue now, joins
   * the line when live completes, and is sent when those ahead of it are done;
   * waiting is bounded by dark.timeout.
   */
  private awaitTurn(request: ShadowRequest, key: string, maxBody: number): void {
    const order = this.mirror.order;
    const turn = new OrderedTurn(key, () => {
      this.mirror.sendDark(this.rt, request, maxBody, (o) => {
        order.finish(key);
        this.answered('dark', o);
      });
      // sendDark counts its own work; the wait is over.
      this.mirror.ended();
    });
    turn.timer = setTimeout(() => this.abandonTurn('timeout'), this.mirror.darkTimeout);
    turn.timer.unref();
    this.mirror.started();
    this.turn = turn;
    // Live may have completed before the request body did.
    this.joinLine();
  }

  private joinLine(): void {
    const t = this.turn;
    if (t === null || t.phase !== 'held' || this.live.outcome !== 'done') return;
    t.phase = 'joined';
    this.mirror.order.join(t.key, t);
  }

  /** Give up an ordered shadow request that has not started: true when there was one. */
  private abandonTurn(why: 'timeout' | 'live_failed'): boolean {
    const t = this.turn;
    if (t === null || (t.phase !== 'held' && t.phase !== 'joined')) return false;
    clearTimeout(t.timer);
    this.mirror.order.leave(t.key, t.phase === 'joined' ? t : null);
    t.phase = 'abandoned';
    this.mirror.releaseDark();
    this.mirror.ended();
    if (why === 'timeout') {
      const message = `not sent: waited longer than dark.timeout for its turn behind earlier shadow requests with ${t.key}`;
      this.answered('dark', { ok: false, reason: 'timeout', message, ms: performance.now() - t.since });
    } else {
      const s = this.state;
      if (s.kind === 'sent') s.dark = { kind: 'done', outcome: NOT_SENT };
      this.advance();
    }
    return true;
  }

  private answered(target: 'dark' | 'secondary', outcome: ShadowOutcome): void {
    // The answer's bytes are this exchange's now, released when it settles.
    if (outcome.ok) this.held.adopt(outcome.answer.reserved);
    this.mirror.answered(this.rt, target, outcome);
    const s = this.state;
    if (s.kind !== 'sent') {
      if (outcome.ok) this.held.give(outcome.answer.reserved);
      return;
    }
    if (target === 'dark') s.dark = { kind: 'done', outcome };
    else s.secondary = { kind: 'done', outcome };
    this.advance();
  }

  /** From `sent` to `comparing` once live, dark and secondary have all answered (or failed). */
  private advance(): void {
    const s = this.state;
    if (s.kind !== 'sent' || this.live.outcome === 'pending' || s.dark.kind !== 'done' || s.secondary.kind === 'pending') return;
    const dark = s.dark.outcome;
    const skip = this.skipReason(dark);
    if (skip !== null) return this.skip(s.body, dark, skip);
    const d = (dark as ShadowOutcome & { ok: true }).answer;
    // An answer over the size cap was not kept: nothing to compare, nothing to hand on.
    if (this.live.truncated || d.truncated) return this.skip(s.body, dark, 'too_large');
    const live = this.live.answer();
    if (live === null) return this.skip(s.body, dark, 'over_memory');
    // Server streaming shows only in the answer: more than one message. Its copy went to dark; it is not compared.
    if (this.grpc && grpcMessageCount(live.body) > 1) return this.skip(s.body, dark, 'streaming');
    this.state = COMPARING;
    const sec = s.secondary.kind === 'done' && s.secondary.outcome.ok ? s.secondary.outcome.answer : null;
    const verdict = this.mirror.compare(live, d, sec, this.rt, this.req.method ?? 'GET', requestPath(this.req.url));
    // Inline work is done and a worker has copies of its own: the answers' bytes can go now.
    this.live.body.drop();
    this.held.give(d.reserved + (sec?.reserved ?? 0));
    if (!(verdict instanceof Promise)) return this.finish(s.body, dark, verdict, verdict.reason ?? null);
    verdict.then(
      (v) => this.finish(s.body, dark, v, v.reason ?? null),
      (err: unknown) => this.skip(s.body, dark, engineSkipReason(err)),
    );
  }

  private skip(body: Buffer | null, dark: ShadowOutcome, reason: SkipReason): void {
    this.finish(body, dark, { result: 'skipped', differences: [], noise: [] }, reason);
  }

  private skipReason(dark: ShadowOutcome): SkipReason | null {
    const live = this.live.outcome;
    if (live !== 'done' && live !== 'pending') return `live_${live}`;
    if (!dark.ok) return `dark_${dark.reason}`;
    return null;
  }

  private finish(body: Buffer | null, dark: ShadowOutcome, verdict: Verdict, skip: SkipReason | null): void {
    const record: FinishedExchange = {
      route: this.rt.name,
      stats: this.rt.stats,
      request: { method: this.req.method ?? 'GET', url: this.req.url ?? '/', headers: this.req.headers, body },
      live: { status: this.live.status, ms: this.live.ms, ...(this.grpc ? { grpcStatus: grpcStatusOf(this.live.headers, this.live.trailers) } : {}) },
      dark: dark.ok ? { status: dark.answer.status, ms: dark.answer.ms, ...(this.grpc ? { grpcStatus: grpcStatusOf(dark.answer.headers, dark.answer.trailers) } : {}) } : null,
      verdict,
      skip,
    };
    this.settle();
    this.mirror.recorder.record(record);
  }

  private drop(decision: DropDecision): void {
    this.settle();
    this.rt.decide(decision);
  }

  private settle(): void {
    this.state = SETTLED;
    this.held.releaseAll();
  }
}
