// The seam between the live path and shadow work. The live path (proxy/) tells
// an observer what passed through; the observer never gets a say in what the
// client receives, and every call is cheap and synchronous.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { LiveFailure } from '../errors.js';
import type { CompiledRoute } from '../http/routes.js';

export interface LiveObserver {
  /** A chunk of the client's request body, as it was forwarded to live. */
  requestChunk(chunk: Buffer): void;
  /** The client's request body is complete (and sent to live). */
  requestEnd(): void;
  /**
   * The live answer's status and headers: as an object (repeats joined as Node
   * does) and as the flat `[name, value, ...]` list sent to the client.
   */
  responseStart(status: number, headers: IncomingHttpHeaders, raw: readonly string[]): void;
  /** A chunk of the live answer's body, as it was sent to the client. */
  responseChunk(chunk: Buffer): void;
  /** The live answer is complete; `ms` is the time to its last byte; its trailers, if it had any. */
  responseEnd(ms: number, trailers?: Readonly<Record<string, string | string[]>> | null): void;
  /** The exchange failed; no comparison can be made. */
  failed(reason: LiveFailure): void;
}

export interface ShadowHook {
  /** Decide at the start of a request: an observer when it is mirrored, else null. */
  begin(req: IncomingMessage, route: CompiledRoute): LiveObserver | null;
}

/** Two observers of one exchange (mirror and capture), told the same things in turn. */
class BothObservers implements LiveObserver {
  constructor(
    private readonly a: LiveObserver,
    private readonly b: LiveObserver,
  ) {}

  requestChunk(chunk: Buffer): void {
    this.a.requestChunk(chunk);
    this.b.requestChunk(chunk);
  }

  requestEnd(): void {
    this.a.requestEnd();
    this.b.requestEnd();
  }

  responseStart(status: number, headers: IncomingHttpHeaders, raw: readonly string[]): void {
    this.a.responseStart(status, headers, raw);
    this.b.responseStart(status, headers, raw);
  }

  responseChunk(chunk: Buffer): void {
    this.a.responseChunk(chunk);
    this.b.responseChunk(chunk);
  }

  responseEnd(ms: number, trailers?: Readonly<Record<string, string | string[]>> | null): void {
    this.a.responseEnd(ms, trailers);
    this.b.responseEnd(ms, trailers);
  }

  failed(reason: LiveFailure): void {
    this.a.failed(reason);
    this.b.failed(reason);
  }
}

/**
 * One hook from two (either may be null): with one, that hook itself, so the
 * live path pays nothing for the other; with both, each decides on its own and
 * an exchange only both want gets an observer that tells both.
 */
export function combineHooks(a: ShadowHook | null, b: ShadowHook | null): ShadowHook | null {
  if (a === null) return b;
  if (b === null) return a;
  return {
    begin(req: IncomingMessage, route: CompiledRoute): LiveObserver | null {
      const x = a.begin(req, route);
      const y = b.begin(req, route);
      if (x === null) return y;
      return y === null ? x : new BothObservers(x, y);
    },
  };
}
