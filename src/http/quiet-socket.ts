// Backend sockets whose events capture no stack traces.
//
// Every connection umbra ends because of its backend (an answer with
// `Connection: close`, a reset, a close mid-answer, bytes that are not HTTP) makes
// undici build an error inside the socket's event handler (InformationalError
// 'reset', SocketError 'other side closed', HTTPParserError), and node's
// socket.destroy(err) then reads err.stack (streams/destroy.js checkError), so V8
// both captures and formats a stack of undici's parser frames. Nobody ever sees
// it: umbra reports such errors by reason and message only (metrics, the 502's
// body, the log line). Measured with benchmarks/churn.js --quiet, a backend that
// closes every second connection cost an undici client 4.33x the CPU per request
// of one that keeps them, and 3.45x with these sockets (docs/architecture.md,
// "Measured: stack traces on connection churn").
//
// So for the time each event of such a socket is handled, Error.stackTraceLimit
// is 0, and then it is what it was. Errors made elsewhere (umbra's own code,
// timers, the admin API) keep their stacks.

import net from 'node:net';
import { buildConnector } from 'undici';

// eslint-disable-next-line @typescript-eslint/unbound-method -- called through Reflect.apply with each socket as `this`
const emit = net.Socket.prototype.emit;

/** socket.emit with Error.stackTraceLimit at 0 while listeners run; one function for all sockets. */
function quietEmit(this: net.Socket, ...args: [event: string | symbol, ...rest: unknown[]]): boolean {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Reflect.apply(emit, this, args) as boolean;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Make `socket`'s events capture no stacks (above). Returns the socket. */
export function quiet<S extends net.Socket>(socket: S): S {
  socket.emit = quietEmit;
  return socket;
}

/** undici connector options umbra sets (the rest keep undici's defaults). */
export interface QuietConnectorOptions {
  /** ms to establish the connection (and the TLS handshake). */
  readonly timeout: number;
  /** Offer h2 by ALPN on https. */
  readonly allowH2?: boolean;
  /** Speak HTTP/2 without TLS, with prior knowledge. */
  readonly useH2c?: boolean;
}

/** undici's own connector (TCP or TLS, keep-alive, no delay, connect timeout), with quiet sockets. */
export function quietConnector(opts: QuietConnectorOptions): buildConnector.connector {
  // useH2c is read by undici's buildConnector (core/connect.js) but missing from its types.
  const build: (o: { timeout: number; allowH2: boolean; useH2c: boolean }) => buildConnector.connector = buildConnector;
  const connect = build({ timeout: opts.timeout, allowH2: opts.allowH2 === true, useH2c: opts.useH2c === true });
  return (options, callback) =>
    connect(options, (err, socket) => {
      // A failed connect calls back with the error alone (socket undefined, whatever the types say).
      const s = socket ?? null;
      if (err === null && s !== null) quiet(s);
      (callback as (err: Error | null, socket: net.Socket | null) => void)(err, s);
    });
}
