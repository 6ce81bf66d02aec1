// A circuit breaker per shadow target (dark, secondary). A backend that refuses
// connections, resets them or answers garbage makes every shadow request a new
// connection that fails: measured at 100 % mirroring, 32 connections, a dark
// refusing connections cost umbra 123 µs of CPU per live request against 70 µs
// with a healthy dark, and live req/s fell to 0.60 x (answering garbage, at 8
// connections: 251 µs against 69, 0.29 x). Guarantee 2 says such a dark changes nothing for live, so after
// `failures` connection failures in a row the breaker opens: no shadow request
// goes to that target (decision dark_down) until `cooldown` has passed; then one
// probe goes. Its success closes the breaker; its failure opens it again for twice
// as long, up to `maxCooldown`. Timeouts, size caps and pauses are not connection
// failures: a slow or hung dark is bounded by maxInFlight and the timeout, and
// failures spread among good answers (a reset now and then) never add up to a run.
//
// Outcomes are counted against the state they were sent in (an epoch): a request
// sent before the breaker opened and failing after does not count again, and only
// the probe's outcome decides a half-open breaker.
import type { BreakerConfig } from '../config/types.js';
import type { ShadowOutcome } from './shadow.js';

export type BreakerState = 'closed' | 'open' | 'probing';

/** What a recorded outcome changed: the breaker opened (or opened again after a probe), closed, or nothing. */
export type BreakerChange =
  | { readonly to: 'open'; readonly probe: boolean; readonly failures: number; readonly cooldown: number; readonly reason: string }
  | { readonly to: 'closed' }
  | null;

/** Shadow failures that say the backend cannot be talked to at all. */
function connectionFailure(o: ShadowOutcome): boolean {
  return !o.ok && (o.reason === 'connect' || o.reason === 'reset' || o.reason === 'protocol');
}

export class Breaker {
  state: BreakerState = 'closed';
  /** Bumped on every change of state; a request carries the epoch it was sent in. */
  epoch = 0;
  /** Connection failures in a row while closed. */
  private run = 0;
  /** ms the breaker stays open this time. */
  private cooldown: number;
  /** performance.now() time from which a probe may go (open), or by which the probe is given up (probing). */
  private until = 0;

  constructor(
    private readonly config: BreakerConfig,
    /** ms, monotonic (tests pass their own). */
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.cooldown = config.cooldown;
  }

  /** Off when `failures` is 0: it never opens. */
  get enabled(): boolean {
    return this.config.failures > 0;
  }

  /** True when no request would be let through now (checked before anything is copied). */
  blocked(): boolean {
    return this.state !== 'closed' && this.clock() < this.until;
  }

  /**
   * At the moment of sending: true to send. An open breaker whose cooldown has
   * passed lets this one request through as its probe; a probe that never came
   * back within `probeMs` (the target's timeout) is given up and another may go.
   */
  admit(probeMs: number): boolean {
    if (this.state === 'closed') return true;
    const now = this.clock();
    if (now < this.until) return false;
    this.state = 'probing';
    this.until = now + probeMs;
    this.epoch++;
    return true;
  }

  /** The outcome of a request sent in `epoch`. */
  record(o: ShadowOutcome, epoch: number): BreakerChange {
    if (epoch !== this.epoch || !this.enabled) return null;
    if (this.state === 'closed') {
      if (!connectionFailure(o)) {
        if (o.ok) this.run = 0;
        return null;
      }
      if (++this.run < this.config.failures) return null;
      return this.open(this.config.cooldown, o);
    }
    if (this.state !== 'probing') return null;
    if (o.ok) {
      this.state = 'closed';
      this.run = 0;
      this.cooldown = this.config.cooldown;
      this.epoch++;
      return { to: 'closed' };
    }
    // Umbra's own cut (pause, budget) says nothing of the backend: another probe may go at once.
    if (o.reason === 'paused' || o.reason === 'over_memory') {
      this.state = 'open';
      this.until = this.clock();
      this.epoch++;
      return null;
    }
    return this.open(Math.min(this.config.maxCooldown, this.cooldown * 2), o);
  }

  private open(cooldown: number, o: ShadowOutcome): BreakerChange {
    const probe = this.state === 'probing';
    const failures = probe ? 1 : this.run;
    this.state = 'open';
    this.cooldown = cooldown;
    this.until = this.clock() + cooldown;
    this.run = 0;
    this.epoch++;
    return { to: 'open', probe, failures, cooldown, reason: o.ok ? '' : o.reason };
  }
}
