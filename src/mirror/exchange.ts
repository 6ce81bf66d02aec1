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
import type { Answer, Verdict } from '../compare/index.js';
import type { DropDecision, LiveFailure, SkipReason } from '../errors.js';
import type { FinishedExchange } from '../observe/record.js';
import { BodyCopy, Reservation } from './copy.js';
import type { LiveObserver } from './hook.js';
import type { Mirror } from './mirror.js';
import type { RouteRuntime } from './route.js';
import type { ShadowOutcome } from './shadow.js';

/** The live answer as it streams to the client: head, a bounded copy of the body, and how it ended. */
class LiveTap {
  status = 0;
  headers: IncomingHttpHeaders = {};
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

  answer(): Answer {
    return { status: this.status, headers: this.headers, body: this.body.body(), truncated: this.truncated };
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

const COMPARING: State = { kind: 'comparing' };
const SETTLED: State = { kind: 'settled' };

export class MirroredExchange implements LiveObserver {
  private state: State;
  private readonly held: Reservation;
  private readonly live: LiveTap;

  constructor(
    private readonly mirror: Mirror,
    private readonly rt: RouteRuntime,
    private readonly req: IncomingMessage,
  ) {
    this.held = new Reservation(mirror.budget);
    const cap = rt.config.mirror.maxBodyBytes;
    this.state = { kind: 'copying', request: new BodyCopy(this.held, cap) };
    this.live = new LiveTap(new BodyCopy(this.held, cap));
  }

  requestChunk(chunk: Buffer): void {
    if (this.state.kind !== 'copying') return;
    const r = this.state.request.add(chunk);
    if (r !== 'ok') this.drop(r === 'over_cap' ? 'body_too_large' : 'over_memory');
  }

  requestEnd(): void {
    const s = this.state;
    if (s.kind !== 'copying') return;
    const refusal = this.mirror.admit();
    if (refusal !== null) return this.drop(refusal);
    this.rt.decide('mirrored');
    const body = s.request.size === 0 ? null : s.request.body();
    const sent: State & { kind: 'sent' } = { kind: 'sent', body, dark: PENDING, secondary: NONE };
    this.state = sent;
    const maxBody = this.rt.config.mirror.maxBodyBytes;
    // Pending before sending: an answer may come back at once (a refused connection).
    if (this.mirror.hasSecondary) sent.secondary = PENDING;
    this.mirror.sendDark(this.req, body, maxBody, (o) => this.answered('dark', o));
    if (sent.secondary === PENDING && !this.mirror.sendSecondary(this.req, body, maxBody, (o) => this.answered('secondary', o))) {
      sent.secondary = NONE;
      this.advance();
    }
  }

  responseStart(status: number, headers: IncomingHttpHeaders): void {
    this.live.status = status;
    this.live.headers = headers;
  }

  responseChunk(chunk: Buffer): void {
    if (this.state.kind !== 'settled') this.live.chunk(chunk);
  }

  responseEnd(ms: number): void {
    this.live.ms = ms;
    this.live.outcome = 'done';
    this.advance();
  }

  failed(reason: LiveFailure): void {
    this.live.outcome = reason;
    // The request never completed, so no shadow was sent: nothing to compare.
    if (this.state.kind === 'copying') this.settle();
    else this.advance();
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
    if (skip !== null) {
      this.finish(s.body, dark, { result: 'skipped', differences: [], noise: [] }, skip);
      return;
    }
    this.state = COMPARING;
    const d = (dark as ShadowOutcome & { ok: true }).answer;
    const sec = s.secondary.kind === 'done' && s.secondary.outcome.ok ? s.secondary.outcome.answer : null;
    this.mirror
      .compare(this.live.answer(), d, sec, this.rt, this.req.method ?? 'GET')
      .then(
        (v) => this.finish(s.body, dark, v, v.reason ?? null),
        (err: unknown) => {
          const busy = (err as { code?: string }).code === 'UMBRA_COMPARE_BUSY';
          this.finish(s.body, dark, { result: 'skipped', differences: [], noise: [] }, busy ? 'busy' : 'compare_error');
        },
      );
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
      live: { status: this.live.status, ms: this.live.ms },
      dark: dark.ok ? { status: dark.answer.status, ms: dark.answer.ms } : null,
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
