// Shadow traffic: decide per request whether to mirror it (sampling, methods,
// body size, the limits), send the copies to the dark (and secondary) backend
// on their own pools, and hand complete answers to the comparison, all off the
// path of the client's answer. Every limit drops and counts; nothing queues.
// What happens to one mirrored request is in exchange.ts; how its outcome is
// written down is observe/record.ts.
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/types.js';
import type { Answer, ComparePool, MemoryBudget, Verdict } from '../compare/index.js';
import { InternalError, type DropDecision } from '../errors.js';
import { hopRules, type HopRules } from '../http/headers.js';
import type { CompiledRoute } from '../http/routes.js';
import type { DivergenceStore, RouteView } from '../observe/divergences.js';
import type { Counts, RouteMinute } from '../observe/counts.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import { Recorder } from '../observe/record.js';
import { compileRedactor } from '../observe/redact.js';
import { MirroredExchange } from './exchange.js';
import type { LiveObserver, ShadowHook } from './hook.js';
import { Breaker, type BreakerChange } from './breaker.js';
import { InFlight, RateLimit } from './limits.js';
import { OrderQueues } from './order.js';
import type { RampMove } from './ramp.js';
import { RouteRuntime } from './route.js';
import { judge, overall, type RouteVerdict, type VerdictName } from '../observe/verdict.js';
import { sampled } from './sample.js';
import { ShadowTarget, shadowRequest, type ShadowAnswer, type ShadowOutcome, type ShadowRequest } from './shadow.js';

export interface MirrorDeps {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly pool: ComparePool;
  readonly store: DivergenceStore;
  /** The mirror this one replaces on hot reload: its route stats, noise memory and pause state carry over. */
  readonly previous?: Mirror | null;
}

/** What the admin API sees of a route. */
export type { RouteView };

/** A route's `expires` day has come (from 00:00 UTC of that date, as the expiry gauge and its alert read it). */
export function isExpired(expires: string | null, now = Date.now()): boolean {
  return expires !== null && now >= Date.parse(`${expires}T00:00:00Z`);
}

/** Who moved a dial or a pause, for audit lines: an admin caller's address, or the ramp. */
export type Actor = string;

/** The ramp looks at its route's verdict this often: a quarter of the shortest hold, from 25 ms to 5 s. */
export function rampTick(holds: readonly number[]): number {
  return Math.min(5000, Math.max(25, Math.min(...holds) / 4));
}

/** A shadow answer as the comparison reads it. */
function asAnswer(a: ShadowAnswer): Answer {
  const out: Answer = { status: a.status, headers: a.headers, body: a.body, truncated: a.truncated, owned: a.owned };
  if (a.trailers !== null) out.trailers = a.trailers;
  return out;
}

export class Mirror implements ShadowHook {
  /** The kill switch: nothing is mirrored while it is set (pause() also aborts what is under way). */
  paused = false;
  readonly runtimes: readonly RouteRuntime[];
  readonly budget: MemoryBudget;
  readonly recorder: Recorder;
  /** Per-key queues of ordered shadow requests (mirror.orderBy), kept across reloads. */
  readonly order: OrderQueues;
  /** ms: dark.timeout, which also bounds how long an ordered shadow request waits for its turn. */
  readonly darkTimeout: number;
  private readonly dark: ShadowTarget;
  private readonly secondary: ShadowTarget | null;
  private readonly darkInFlight: InFlight;
  private readonly secondaryInFlight: InFlight;
  private readonly rate: RateLimit;
  private readonly hop: HopRules;
  private readonly gauges: { readonly dark: { inc(): void; dec(): void }; readonly secondary: { inc(): void; dec(): void } };
  /** Circuit breakers: a target failing every connection gets no shadow requests but a probe per cooldown. */
  readonly breakers: { readonly dark: Breaker; readonly secondary: Breaker };
  /** Shadow requests and comparisons under way, and who waits for them to end (close()). */
  private pending = 0;
  private idle: (() => void)[] = [];
  private rampTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: MirrorDeps) {
    const { config, metrics } = deps;
    if (config.dark === null) throw new InternalError('mirroring needs a dark backend');
    const prev = deps.previous ?? null;
    this.runtimes = config.routes.map((r) => new RouteRuntime(r, metrics, { maxDecodedBytes: config.limits.maxDecodedBytes, maxDecodeRatio: config.limits.maxDecodeRatio }, prev?.runtime(r.name)));
    if (prev !== null) this.paused = prev.paused;
    // One budget, the compare pool's (its workers count decoded bodies in it), kept
    // across reloads: exchanges begun under the old config still hold bytes in it.
    this.budget = deps.pool.budget;
    this.budget.max = config.mirror.maxBufferedBytes;
    // Requests admitted before a reload still hold places: the new mirror waits behind them.
    this.order = prev?.order ?? new OrderQueues();
    const dark = config.dark;
    this.darkTimeout = dark.timeout;
    this.dark = new ShadowTarget({ url: dark.url, protocol: dark.protocol, timeout: dark.timeout, connections: dark.maxInFlight, onConnection: metrics.shadowConnection('dark') });
    this.secondary =
      config.secondary === null
        ? null
        : new ShadowTarget({ url: config.secondary.url, protocol: config.secondary.protocol, timeout: dark.timeout, connections: dark.maxInFlight, onConnection: metrics.shadowConnection('secondary') });
    this.darkInFlight = new InFlight(dark.maxInFlight);
    this.secondaryInFlight = new InFlight(dark.maxInFlight);
    this.rate = new RateLimit(dark.maxRps);
    this.hop = hopRules(config.forwarded.trust);
    this.gauges = { dark: metrics.inFlight('dark'), secondary: metrics.inFlight('secondary') };
    // A new breaker per config (a reload may point dark elsewhere); the gauge follows the new ones.
    this.breakers = { dark: new Breaker(dark.breaker), secondary: new Breaker(dark.breaker) };
    this.recorder = new Recorder({
      metrics,
      log: deps.log,
      store: deps.store,
      redactor: compileRedactor(config.redact),
      liveUrl: config.live.url,
      darkUrl: dark.url,
      logLimit: new RateLimit(config.limits.mismatchLogsPerSecond),
      failureLogLimit: new RateLimit(config.limits.mismatchLogsPerSecond),
      service: config.service,
      instance: config.instance,
    });
    const ramps = this.runtimes.filter((rt) => rt.ramp !== null);
    for (const rt of ramps) {
      if (!rt.rampIsNew) continue;
      const steps = rt.ramp?.config.steps ?? [];
      this.audit('ramp', 'ramp start', { route: rt.name, old: null, new: rt.sample, step: 1, steps: steps.length }, `ramp: ${rt.name} starts at ${rt.sample} (steps ${steps.join(', ')})`);
    }
    if (ramps.length > 0) {
      this.rampTimer = setInterval(() => this.tickRamps(), rampTick(ramps.map((rt) => rt.ramp?.config.hold ?? 0)));
      this.rampTimer.unref();
    }
  }

  /** Each ramp looks at its route's verdict and moves (DESIGN §12). */
  tickRamps(now = Date.now()): void {
    for (const rt of this.runtimes) {
      const ramp = rt.ramp;
      if (ramp === null || ramp.phase !== 'ramping') continue;
      const v = this.verdict(rt, null, now);
      const move = ramp.tick(v.verdict, now);
      if (move !== null) this.applyRamp(rt, move, v);
    }
  }

  private applyRamp(rt: RouteRuntime, move: RampMove, v: RouteVerdict): void {
    const fields = { route: rt.name, verdict: v.verdict, reasons: v.reasons };
    if (move.action === 'step') {
      rt.setSample(move.to);
      this.audit('ramp', 'ramp step', { ...fields, old: move.from, new: move.to, step: move.step + 1, steps: rt.ramp?.config.steps.length }, `ramp: ${rt.name} ${move.from} -> ${move.to}`);
    } else if (move.action === 'pause') {
      const aborted = this.setRoutePaused(rt, true, 'ramp');
      this.audit('ramp', 'ramp pause', { ...fields, old: 'running', new: 'paused', sample: rt.sample, aborted }, `ramp: ${rt.name} paused: its gate failed`);
    } else {
      this.audit('ramp', 'ramp hold', { ...fields, sample: rt.sample }, `ramp: ${rt.name} holds at ${rt.sample}: its gate failed`);
    }
  }

  /** An audit line (who, when, what, old, new): the admin API's and the ramp's. */
  audit(who: Actor, action: string, fields: Record<string, unknown>, msg = `admin: ${action}`): void {
    this.deps.log.info({ audit: true, action, who, when: new Date().toISOString(), ...fields }, msg);
  }

  /**
   * The kill switch. Pausing aborts every shadow request under way (they end as
   * skipped, reason dark_paused) and stops new ones; returns how many were aborted.
   */
  setPaused(paused: boolean): number {
    this.paused = paused;
    return paused ? this.dark.abort() + (this.secondary?.abort() ?? 0) : 0;
  }

  /** Pause or resume one route's mirroring (its ramp pauses and resumes with it); returns the shadow requests aborted. */
  setRoutePaused(rt: RouteRuntime, paused: boolean, who: Actor): number {
    rt.paused = paused;
    rt.pausedBy = paused ? who : null;
    if (!paused) {
      rt.ramp?.resume(Date.now());
      return 0;
    }
    rt.ramp?.pause();
    return this.dark.abort(rt.name) + (this.secondary?.abort(rt.name) ?? 0);
  }

  /** The minute counts a route's verdict reads: its gate window (or `windowMs`) back from now, from the start of that minute. */
  window(rt: RouteRuntime, windowMs: number | null = null, now = Date.now()): { counts: Counts; ms: number; since: number } {
    const ms = windowMs ?? rt.config.gate.window;
    const from = now - ms;
    const since = from - (from % 60_000);
    return { counts: rt.stats.counts.since(since, now), ms, since };
  }

  /** A route's release verdict over its gate window (or `windowMs`), from its minute counts in this instance. */
  verdict(rt: RouteRuntime, windowMs: number | null = null, now = Date.now()): RouteVerdict {
    const w = this.window(rt, windowMs, now);
    return judge(rt.name, w.counts, rt.config.gate, w);
  }

  /** Every route's verdict, and all of them together. */
  verdicts(windowMs: number | null = null): { verdict: VerdictName; routes: RouteVerdict[] } {
    const now = Date.now();
    const routes = this.runtimes.map((rt) => this.verdict(rt, windowMs, now));
    return { verdict: overall(routes), routes };
  }

  begin(req: IncomingMessage, route: CompiledRoute): LiveObserver | null {
    const rt = this.runtimes[route.index] as RouteRuntime;
    const decision = this.precheck(req, rt);
    if (decision !== null) {
      rt.decide(decision);
      return null;
    }
    return new MirroredExchange(this, rt, req);
  }

  /** Why a request is not mirrored, decided before anything is copied; null to start copying. */
  private precheck(req: IncomingMessage, rt: RouteRuntime): DropDecision | null {
    if (this.paused || rt.paused) return 'paused';
    if (!rt.methods.has(req.method ?? '')) return 'method_excluded';
    if (!sampled(req, rt.sample, rt.config.mirror.sampleBy)) return 'not_sampled';
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > rt.config.mirror.maxBodyBytes) return 'body_too_large';
    // The limits are checked again when the shadow is sent (after the body);
    // checking them here too keeps a saturated dark side cheap: no copy is made.
    if (this.breakers.dark.blocked()) return 'dark_down';
    if (!this.darkInFlight.hasRoom) return 'over_in_flight';
    if (this.budget.full) return 'over_memory';
    if (!this.rate.available()) return 'over_rate';
    return null;
  }

  /** At the end of the request body: take a dark slot and a rate token, or say why not. */
  admit(rt: RouteRuntime): DropDecision | null {
    if (this.paused || rt.paused) return 'paused';
    if (!this.darkInFlight.tryAcquire()) return 'over_in_flight';
    if (this.budget.full) {
      this.darkInFlight.release();
      return 'over_memory';
    }
    if (!this.rate.tryTake()) {
      this.darkInFlight.release();
      return 'over_rate';
    }
    // Last: an open breaker's probe is let through only for a request that is sure to be sent.
    if (!this.breakers.dark.admit(this.darkTimeout)) {
      this.darkInFlight.release();
      return 'dark_down';
    }
    return null;
  }

  /** Give back the dark slot admit() took, for a shadow request that will never be sent (it waited too long for its turn). */
  releaseDark(): void {
    this.darkInFlight.release();
  }

  get hasSecondary(): boolean {
    return this.secondary !== null;
  }

  /**
   * The dark copy of a client's request, built while the client's request is
   * at hand (its socket, which X-Forwarded-For is read from, is let go once
   * the answer ends: an ordered shadow request is sent later).
   */
  darkRequest(req: IncomingMessage, body: Buffer | null, deadline?: number): ShadowRequest {
    return shadowRequest(req, body, this.hop, (this.deps.config.dark as NonNullable<Config['dark']>).headers, deadline);
  }

  /** Send the dark copy (its in-flight slot was taken by admit()); `done` gets the outcome. */
  sendDark(rt: RouteRuntime, request: ShadowRequest, maxBody: number, done: (o: ShadowOutcome) => void): void {
    this.started();
    // An ordered request whose turn came after a pause is not sent.
    if (this.paused || rt.paused) {
      this.darkInFlight.release();
      done({ ok: false, reason: 'paused', message: 'not sent: mirroring was paused', ms: 0 });
      this.ended();
      return;
    }
    this.gauges.dark.inc();
    const epoch = this.breakers.dark.epoch;
    this.dark.send(rt.name, request, maxBody, this.budget, (o) => {
      this.darkInFlight.release();
      this.gauges.dark.dec();
      this.breakerSaw('dark', o, epoch);
      done(o);
      this.ended();
    });
  }

  /** Send the secondary copy when there is a secondary with room (false otherwise); `done` gets the outcome. */
  sendSecondary(rt: RouteRuntime, req: IncomingMessage, body: Buffer | null, maxBody: number, done: (o: ShadowOutcome) => void, deadline?: number): boolean {
    const secondary = this.secondary;
    if (secondary === null || !this.secondaryInFlight.tryAcquire()) return false;
    // A secondary whose breaker is open: compared without a noise baseline, as when it has no room.
    if (!this.breakers.secondary.admit(this.darkTimeout)) {
      this.secondaryInFlight.release();
      return false;
    }
    this.started();
    this.gauges.secondary.inc();
    const epoch = this.breakers.secondary.epoch;
    // A second live instance: the live hop's headers, without the shadow marker.
    const request = shadowRequest(req, body, this.hop, null, deadline);
    secondary.send(rt.name, request, maxBody, this.budget, (o) => {
      this.secondaryInFlight.release();
      this.gauges.secondary.dec();
      this.breakerSaw('secondary', o, epoch);
      done(o);
      this.ended();
    });
    return true;
  }

  /** A shadow outcome, as its target's breaker counts it; opening and closing are logged and shown in umbra_shadow_breaker_open. */
  private breakerSaw(target: 'dark' | 'secondary', o: ShadowOutcome, epoch: number): void {
    const change: BreakerChange = this.breakers[target].record(o, epoch);
    if (change === null) return;
    if (change.to === 'open') {
      const what = change.probe ? 'its probe failed' : `${change.failures} connection failures in a row`;
      this.deps.log.warn({ target, reason: change.reason, failures: change.failures, cooldownMs: change.cooldown }, `${target} breaker open: ${what} (last: ${change.reason}); no shadow requests to it for ${change.cooldown} ms, then one probe`);
    } else {
      this.deps.log.info({ target }, `${target} breaker closed: its probe was answered; shadow requests to it resume`);
    }
  }

  /** A shadow answer came in: recorded (latency or failure) before it is compared. */
  answered(rt: RouteRuntime, target: 'dark' | 'secondary', o: ShadowOutcome): void {
    if (o.ok) this.recorder.shadowAnswered(rt.name, rt.stats, target, o.answer.ms, o.answer.truncated ? 'too_large' : null);
    else if (o.reason !== 'over_memory' && o.reason !== 'paused') this.recorder.shadowAnswered(rt.name, rt.stats, target, o.ms, o.reason, o.message);
  }

  /**
   * Compare live with dark (secondary as the noise baseline): the verdict at
   * once when it is made on this thread, else a promise of a worker's.
   */
  compare(live: Answer, dark: ShadowAnswer, secondary: ShadowAnswer | null, rt: RouteRuntime, method: string, path: string): Verdict | Promise<Verdict> {
    const d = asAnswer(dark);
    const s = secondary === null ? null : asAnswer(secondary);
    // The path names a gRPC method (/pkg.Service/Method): with compare.protos its messages decode by field name.
    const ctx = { method, path };
    const pool = this.deps.pool;
    const here = pool.compareHere(live, d, s, rt.rules, rt.learner, ctx);
    if (here !== null) return here;
    this.started();
    const p = pool.compareWithBaseline(live, d, s, rt.rules, rt.learner, ctx);
    p.then(this.ended, this.ended);
    return p;
  }

  /** The admin API's view of every route: since start, or over the minutes from `since` (ms since the epoch). */
  views(since: number | null = null): RouteView[] {
    const now = Date.now();
    return this.runtimes.map((rt) => ({
      ...rt.stats.view(rt.name, rt.sample, rt.learner.noisyFields(), since),
      owner: rt.config.owner,
      expires: rt.config.expires,
      expired: isExpired(rt.config.expires, now),
      paused: rt.paused,
      pausedBy: rt.pausedBy,
      ramp: rt.ramp?.status() ?? null,
      verdict: this.verdict(rt, null, now).verdict,
    }));
  }

  /** Every route's minute buckets from the minute of `after` (ms) on: what the fleet store writes. */
  minutes(after: number): RouteMinute[] {
    return this.runtimes.flatMap((rt) => rt.stats.counts.minutesSince(after).map((b) => ({ route: rt.name, start: b.start, counts: b.counts })));
  }

  runtime(name: string): RouteRuntime | undefined {
    return this.runtimes.find((r) => r.name === name);
  }

  /** Shadow work under way, with stats for tests and the bounded wait in close(). */
  get inFlight(): { dark: number; secondary: number } {
    return { dark: this.darkInFlight.current, secondary: this.secondaryInFlight.current };
  }

  /** Shadow work begins (also an ordered shadow request waiting for its turn): close() waits for it. */
  started(): void {
    this.pending++;
  }

  readonly ended = (): void => {
    if (--this.pending === 0) for (const w of this.idle.splice(0)) w();
  };

  /**
   * Wait (bounded) for shadow work under way, then close the pools. What is still
   * under way then and not yet out of time is cut by umbra, not failed by the
   * dark side: it ends as paused (skip dark_paused), never as a shadow error.
   * (Destroying the pools under it made it a `reset`, and at shutdown the fleet
   * store's last write carried those into the fleet's error rate.)
   */
  async close(waitMs: number): Promise<void> {
    // The ramps' state lives on in the routes of a mirror that replaces this one, which ticks them.
    if (this.rampTimer !== null) clearInterval(this.rampTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => (this.pending === 0 ? r() : this.idle.push(r))),
      new Promise((r) => {
        timer = setTimeout(r, waitMs);
      }),
    ]);
    clearTimeout(timer);
    // Those already past their time are the dark side's timeouts (the sweep may not have run yet); the rest umbra cuts.
    const now = performance.now();
    this.dark.sweep(now);
    this.secondary?.sweep(now);
    this.dark.abort();
    this.secondary?.abort();
    await Promise.allSettled([this.dark.close(), this.secondary?.close()]);
  }
}
