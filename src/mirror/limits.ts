// The bounds on shadow work. Each one answers at once: there is no queue.

/** A counter with a ceiling. */
export class InFlight {
  private n = 0;
  constructor(readonly max: number) {}
  get current(): number {
    return this.n;
  }
  /** Whether an acquire would succeed now (the decision is taken again at dispatch). */
  get hasRoom(): boolean {
    return this.n < this.max;
  }
  tryAcquire(): boolean {
    if (this.n >= this.max) return false;
    this.n++;
    return true;
  }
  release(): void {
    if (this.n > 0) this.n--;
  }
}

/** A token bucket refilled continuously at `rps` per second, holding at most `rps` (min 1) tokens. 0 = no cap. */
export class RateLimit {
  private tokens: number;
  private last: number;
  private readonly burst: number;
  constructor(
    readonly rps: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.burst = Math.max(1, rps);
    this.tokens = this.burst;
    this.last = now();
  }
  tryTake(): boolean {
    if (!this.available()) return false;
    if (this.rps > 0) this.tokens -= 1;
    return true;
  }
  /** Whether a token is there now, without taking it. */
  available(): boolean {
    if (this.rps <= 0) return true;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rps);
    this.last = t;
    return this.tokens >= 1;
  }
}

// The memory budget is compare/budget.ts: shared with the compare workers.
