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
  /** The live answer's status and headers. */
  responseStart(status: number, headers: IncomingHttpHeaders): void;
  /** A chunk of the live answer's body, as it was sent to the client. */
  responseChunk(chunk: Buffer): void;
  /** The live answer is complete; `ms` is the time to its last byte. */
  responseEnd(ms: number): void;
  /** The exchange failed; no comparison can be made. */
  failed(reason: LiveFailure): void;
}

export interface ShadowHook {
  /** Decide at the start of a request: an observer when it is mirrored, else null. */
  begin(req: IncomingMessage, route: CompiledRoute): LiveObserver | null;
}
