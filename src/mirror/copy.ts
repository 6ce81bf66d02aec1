// Bytes held for one mirrored exchange. A Reservation is the exchange's share
// of the shared memory budget; a BodyCopy keeps one body's chunks up to a size
// cap, counted against that reservation.
import type { ByteBudget } from '../compare/index.js';

export class Reservation {
  private bytes = 0;

  constructor(private readonly budget: ByteBudget) {}

  take(n: number): boolean {
    if (!this.budget.tryReserve(n)) return false;
    this.bytes += n;
    return true;
  }

  /** Bytes already reserved elsewhere on this exchange's behalf (a shadow answer). */
  adopt(n: number): void {
    this.bytes += n;
  }

  give(n: number): void {
    const k = Math.min(n, this.bytes);
    this.budget.release(k);
    this.bytes -= k;
  }

  /** Give everything back. Idempotent. */
  releaseAll(): void {
    this.give(this.bytes);
  }
}

const EMPTY: Buffer = Buffer.alloc(0);

/** `chunks` joined into a buffer of its own (never a slice of Node's shared pool), so it can be moved to a worker. */
export function joinOwned(chunks: readonly Buffer[], size: number): Buffer {
  const whole = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const c of chunks) at += c.copy(whole, at);
  return whole;
}

export type CopyResult = 'ok' | 'over_cap' | 'over_memory';

export class BodyCopy {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private joined = false;

  constructor(
    private readonly held: Reservation,
    private readonly cap: number,
  ) {}

  get size(): number {
    return this.bytes;
  }

  /** True when body() is a joined copy umbra owns outright (not a chunk the stream handed over). */
  get owned(): boolean {
    return this.chunks.length === 1 && this.joined;
  }

  /** Keep a chunk; past the cap or the budget nothing is kept, and the result says which. */
  add(chunk: Buffer): CopyResult {
    if (this.bytes + chunk.length > this.cap) return 'over_cap';
    if (!this.held.take(chunk.length)) return 'over_memory';
    this.bytes += chunk.length;
    this.chunks.push(chunk);
    return 'ok';
  }

  /**
   * The bytes as one buffer (empty when none), or null when joining them would
   * not fit the budget (the joined copy exists beside the chunks for a moment).
   * Later calls return the same buffer.
   */
  body(): Buffer | null {
    if (this.chunks.length === 1) return this.chunks[0] as Buffer;
    if (this.chunks.length === 0) return EMPTY;
    if (!this.held.take(this.bytes)) return null;
    const whole = joinOwned(this.chunks, this.bytes);
    this.chunks = [whole];
    this.joined = true;
    this.held.give(this.bytes);
    return whole;
  }

  /** Keep nothing more and give the bytes back. */
  drop(): void {
    this.held.give(this.bytes);
    this.bytes = 0;
    this.chunks = [];
  }
}
