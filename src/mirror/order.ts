// Ordered shadow requests (DESIGN §2.9): shadow requests that share a key value
// (cart 42) reach dark one at a time, in the order their live answers
// completed, so a mirrored read never overtakes the mirrored write before it.
// One queue per key value, shared by every route ordering by the same key and
// kept across hot reloads. A queue exists only while something holds a place in
// it, so the map is bounded by the shadow requests under way.

/** A shadow request waiting for its turn; `start` sends it. */
export interface Turn {
  start(): void;
}

class KeyQueue {
  /** Places held: from admission until the shadow request is done or abandoned. */
  held = 0;
  /** A turn has started and not yet finished. */
  running = false;
  /** Turns whose live answer completed, in that order, behind the running one. */
  readonly waiting: Turn[] = [];
}

export class OrderQueues {
  private readonly keys = new Map<string, KeyQueue>();

  /**
   * Hold a place for a shadow request with this key: false when one is under
   * way and `maxQueued` more already wait behind it (the request is dropped,
   * decision over_queue).
   */
  hold(key: string, maxQueued: number): boolean {
    let q = this.keys.get(key);
    if (q === undefined) {
      q = new KeyQueue();
      this.keys.set(key, q);
    }
    if (q.held > maxQueued) return false;
    q.held++;
    return true;
  }

  /** The live answer completed: join the line; `turn.start()` runs now or when those ahead are done. */
  join(key: string, turn: Turn): void {
    const q = this.keys.get(key);
    if (q === undefined) return;
    if (q.running) {
      q.waiting.push(turn);
      return;
    }
    q.running = true;
    turn.start();
  }

  /** A started turn is over (its dark answer came in or failed): the next one's turn. */
  finish(key: string): void {
    const q = this.keys.get(key);
    if (q === undefined) return;
    q.held--;
    const next = q.waiting.shift();
    if (next === undefined) {
      q.running = false;
      if (q.held === 0) this.keys.delete(key);
      return;
    }
    next.start();
  }

  /** Give up a place that never started (waited too long, or live failed): `turn` leaves the line if it joined. */
  leave(key: string, turn: Turn | null): void {
    const q = this.keys.get(key);
    if (q === undefined) return;
    q.held--;
    if (turn !== null) {
      const i = q.waiting.indexOf(turn);
      if (i !== -1) q.waiting.splice(i, 1);
    }
    if (q.held === 0 && !q.running) this.keys.delete(key);
  }

  /** Key values with a queue (for tests and the bounded-map invariant). */
  get size(): number {
    return this.keys.size;
  }

  /** Places held for one key value. */
  held(key: string): number {
    return this.keys.get(key)?.held ?? 0;
  }
}
