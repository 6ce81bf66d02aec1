// The live backend's connection pool: one undici Pool per live origin, driven
// through undici's low-level dispatch handler (no stream objects in between).
// Shadow targets have pools of their own (mirror/shadow.ts): shadow traffic
// never shares sockets or limits with live.
import type { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { BackendProtocol } from '../config/types.js';
import { protocolOptions } from '../http/protocol.js';

export interface LiveTarget {
  readonly url: string;
  /** auto, http1, h2c or h2 (config live.protocol). */
  readonly protocol?: BackendProtocol;
  /** ms of upstream inactivity (connecting, waiting for headers, between body chunks) before 504. */
  readonly timeout: number;
}

/** A request as dispatched: the handler is the live exchange itself (LiveExchange in proxy/live.ts). */
export interface Forward {
  readonly path: string;
  readonly method: string;
  readonly headers: string[];
  readonly body: Readable | null;
}

/** undici's legacy dispatch handler, as the live exchange implements it (raw headers, chunks as sent). */
export interface ForwardHandler {
  onConnect(abort: (err?: Error) => void): void;
  onBodySent(chunk: Buffer): void;
  onRequestSent(): void;
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  /** Trailers: a flat raw list from an HTTP/1.1 backend, an object from an HTTP/2 one. */
  onComplete(trailers?: Buffer[] | Record<string, string | string[] | undefined> | null): void;
  onError(err: Error): void;
}

export class LiveForwarder {
  private readonly pool: Pool;
  /** The live URL's path, prefixed to every request target ('' for none). */
  readonly prefix: string;
  /** The pool may speak HTTP/2 (h2c, h2, or auto on https). */
  readonly mayBeH2: boolean;

  constructor(target: LiveTarget, connections = 256) {
    const url = new URL(target.url);
    // headersTimeout and bodyTimeout are inactivity timeouts: a long stream
    // that keeps moving is not cut.
    this.pool = new Pool(url.origin, {
      ...protocolOptions(url, target.protocol ?? 'auto', connections, target.timeout),
      headersTimeout: target.timeout,
      bodyTimeout: target.timeout,
      keepAliveTimeout: 4000,
    });
    this.prefix = url.pathname.replace(/\/$/, '');
    const protocol = target.protocol ?? 'auto';
    this.mayBeH2 = protocol === 'h2c' || protocol === 'h2' || (protocol === 'auto' && url.protocol === 'https:');
  }

  dispatch(request: Forward, handler: ForwardHandler): void {
    // (undici's typings say onBodySent gets a size; its runtime passes the chunk.)
    this.pool.dispatch(
      { path: this.prefix === '' ? request.path : this.prefix + request.path, method: request.method, headers: request.headers, body: request.body },
      handler as unknown as Dispatcher.DispatchHandler,
    );
  }

  /** Let requests under way finish, then close the sockets. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}
