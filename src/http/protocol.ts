// How umbra speaks to a backend (`protocol`, DESIGN §4), as undici pool options:
// the same choice for the live forward and for shadow targets.
import type { buildConnector } from 'undici';
import type { BackendProtocol } from '../config/types.js';
import { quietConnector } from './quiet-socket.js';

/** Streams one HTTP/2 connection carries at once (undici's pipelining over HTTP/2). */
export const H2_STREAMS_PER_CONNECTION = 100;

export interface ProtocolOptions {
  readonly allowH2?: boolean;
  readonly pipelining: number;
  readonly connections: number;
  /**
   * undici's connector with quiet sockets (quiet-socket.ts), built from these
   * options. (A Pool handed a connector function ignores its own allowH2 and a
   * top-level useH2c for connecting, so both are given to the connector.)
   */
  readonly connect: buildConnector.connector;
}

/**
 * undici Pool options for a protocol. `auto` on https offers h2 and http/1.1 by
 * ALPN and takes what the server picks (one request per connection at a time,
 * as HTTP/1.1 needs); `h2` and `h2c` multiplex up to H2_STREAMS_PER_CONNECTION
 * streams on a connection. undici 7 sends a request that is not idempotent
 * (POST: every gRPC call) or has a streamed body only when nothing else runs on
 * its connection, so an HTTP/2 pool keeps as many connections as an HTTP/1.1
 * one: GETs share them, each POST has one to itself while it runs.
 */
export function protocolOptions(url: URL, protocol: BackendProtocol, connections: number, connectTimeout: number): ProtocolOptions {
  const h1 = (): ProtocolOptions => ({ pipelining: 1, connections, connect: quietConnector({ timeout: connectTimeout }) });
  switch (protocol) {
    case 'http1':
      return h1();
    case 'h2c':
      return { allowH2: true, pipelining: H2_STREAMS_PER_CONNECTION, connections, connect: quietConnector({ timeout: connectTimeout, allowH2: true, useH2c: true }) };
    case 'h2':
      return { allowH2: true, pipelining: H2_STREAMS_PER_CONNECTION, connections, connect: quietConnector({ timeout: connectTimeout, allowH2: true }) };
    case 'auto':
      return url.protocol === 'https:' ? { allowH2: true, pipelining: 1, connections, connect: quietConnector({ timeout: connectTimeout, allowH2: true }) } : h1();
  }
}
