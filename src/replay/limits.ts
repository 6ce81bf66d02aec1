// The bounds on a replay. Unlike the mirror's limits, which drop what does not
// fit, these wait: every captured exchange is sent, only later.

/** At most `max` holders at a time; the rest wait in arrival order. */
export class Slots {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {}

  get current(): number {
    return this.held;
  }

  acquire(): Promise<void> {
    if (this.held < this.max) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot straight to the next waiter, if any. */
  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.held--;
  }
}

/**
 * Starts spaced `1000 / rps` ms apart, without bursts: the n-th start is never
 * earlier than `(n - 1) / rps` seconds after the first. 0 = no cap. A pause in
 * the input (a slow target) is not made up for with a burst afterwards.
 */
export class Pacer {
  private next = -Infinity;

  constructor(
    readonly rps: number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Resolves when the next start may go; call once per start. */
  async wait(): Promise<void> {
    if (this.rps <= 0) return;
    const t = this.now();
    const at = Math.max(t, this.next);
    this.next = at + 1000 / this.rps;
    if (at > t) await this.sleep(at - t);
  }
}
