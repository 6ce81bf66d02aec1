// The one memory budget for shadow work (DESIGN §2.8), shared by the main
// thread and the compare workers: its counters live in a SharedArrayBuffer and
// change only through Atomics, so a worker decoding a body counts its output in
// the same budget the proxy checks before copying a request.
//
// Cells (Int32): 0 bytes held, 1 the maximum, 2 the peak, 3.. what each worker
// slot holds now (so a worker that dies mid-job gives its bytes back).

const USED = 0;
const MAX = 1;
const PEAK = 2;
const SLOTS = 3;

/** The largest budget a 32-bit shared counter holds with room to spare. */
export const MAX_BUDGET_BYTES = 1024 ** 3;

export interface ByteBudget {
  tryReserve(n: number): boolean;
  release(n: number): void;
  /** Bytes that would fit now (another thread may take them first). */
  room(): number;
}

/** A budget that counts nothing and always has room (tests, tools, callers with no budget). */
export const UNCOUNTED: ByteBudget = { tryReserve: () => true, release: () => {}, room: () => Number.MAX_SAFE_INTEGER };

export class MemoryBudget implements ByteBudget {
  private readonly cells: Int32Array;

  /** `max` is mirror.maxBufferedBytes; `workerSlots` how many workers may count in it. */
  constructor(max: number, workerSlots = 4, shared?: SharedArrayBuffer) {
    this.cells = new Int32Array(shared ?? new SharedArrayBuffer((SLOTS + workerSlots) * 4));
    if (shared === undefined) this.max = max;
  }

  /** Hand this to a worker (workerData); `forSlot` there opens it. */
  get shared(): SharedArrayBuffer {
    return this.cells.buffer as SharedArrayBuffer;
  }

  get slots(): number {
    return this.cells.length - SLOTS;
  }

  get max(): number {
    return Atomics.load(this.cells, MAX);
  }

  /** A reload changes it in place: the bytes held stay counted. */
  set max(n: number) {
    Atomics.store(this.cells, MAX, Math.max(0, Math.min(MAX_BUDGET_BYTES, Math.floor(n))));
  }

  get bytes(): number {
    return Atomics.load(this.cells, USED);
  }

  get peak(): number {
    return Atomics.load(this.cells, PEAK);
  }

  room(): number {
    return Math.max(0, this.max - this.bytes);
  }

  /** True when nothing more fits: new mirrors are refused. */
  get full(): boolean {
    return this.bytes >= this.max;
  }

  tryReserve(n: number): boolean {
    if (n <= 0) return true;
    const c = this.cells;
    for (;;) {
      const used = Atomics.load(c, USED);
      const next = used + n;
      if (next > Atomics.load(c, MAX)) return false;
      if (Atomics.compareExchange(c, USED, used, next) === used) {
        let peak = Atomics.load(c, PEAK);
        while (next > peak) {
          const seen = Atomics.compareExchange(c, PEAK, peak, next);
          if (seen === peak) break;
          peak = seen;
        }
        return true;
      }
    }
  }

  release(n: number): void {
    if (n <= 0) return;
    const c = this.cells;
    for (;;) {
      const used = Atomics.load(c, USED);
      const next = Math.max(0, used - n);
      if (Atomics.compareExchange(c, USED, used, next) === used) return;
    }
  }

  /** The budget as seen by worker slot `slot`: what it reserves is also noted in its cell. */
  forSlot(slot: number): ByteBudget {
    const c = this.cells;
    const cell = SLOTS + slot;
    return {
      tryReserve: (n) => {
        if (!this.tryReserve(n)) return false;
        Atomics.add(c, cell, n);
        return true;
      },
      release: (n) => {
        Atomics.sub(c, cell, n);
        this.release(n);
      },
      room: () => this.room(),
    };
  }

  /** A worker slot ended (its worker exited or was stopped): give back what it still held. */
  drainSlot(slot: number): number {
    const held = Atomics.exchange(this.cells, SLOTS + slot, 0);
    if (held > 0) this.release(held);
    return Math.max(0, held);
  }
}
