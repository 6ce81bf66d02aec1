// The listener's front door (DESIGN §13): one port for HTTP/1.1 and HTTP/2.
// In clear text, the first bytes of a connection decide: the HTTP/2 connection
// preface (h2c with prior knowledge) goes to the HTTP/2 server, anything else
// to the HTTP/1.1 server (proxy/server.ts, with its framing rules). With `tls`,
// ALPN decides (h2, else http/1.1). Both hand requests to the same LiveProxy.
//
// HTTP/2 limits (limits.http2, limits.maxHeaderBytes/-Count): concurrent
// streams, flow-control window, header list size and count are SETTINGS the
// client must respect; a client that resets streams faster than
// maxResetsPerSecond (the "rapid reset" attack, CVE-2023-44487) gets GOAWAY
// ENHANCE_YOUR_CALM and loses the connection; the streams it reset abort their
// live requests at once.
import type http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Limits, TlsConfig } from '../config/types.js';
import { REFUSALS, type Refusal } from '../errors.js';
import { headerCount } from '../http/headers.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { LiveProxy } from './live.js';

/** What a client sends first on an h2c connection with prior knowledge (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface FrontDeps {
  /** The HTTP/1.1 server (createProxyServer): it is never listened on itself. */
  readonly http1: http.Server;
  readonly live: LiveProxy;
  readonly tls: TlsConfig | null;
  readonly limits: () => Limits;
  readonly log: Logger;
  readonly metrics: Metrics;
}

export interface Front {
  /** The server that listens (net or tls). */
  readonly server: net.Server;
  readonly h2: http2.Http2Server;
  /** Stop accepting; HTTP/2 sessions get GOAWAY and finish the streams they have. */
  close(): void;
  closeIdleConnections(): void;
  /** Every connection, both protocols, closed now. */
  closeAllConnections(): void;
  /** limits.http2 and the header limits, for new HTTP/2 sessions (a reload). */
  applyLimits(limits: Limits): void;
  /** A reloaded certificate and key, for new TLS connections. */
  setTls(config: TlsConfig): void;
}

/** HTTP/2 SETTINGS and session options from the limits. */
export function http2Options(limits: Limits): http2.ServerOptions {
  return {
    settings: {
      maxConcurrentStreams: limits.http2.maxConcurrentStreams,
      initialWindowSize: limits.http2.initialWindowSize,
      maxHeaderListSize: limits.maxHeaderBytes,
      enablePush: false,
    },
    // Node resets a stream whose header block has more fields than this before umbra sees it;
    // a little over maxHeaderCount gets umbra's 431 instead (the pseudo-headers count here too).
    maxHeaderListPairs: limits.maxHeaderCount + 36,
    // Node's own flood limits, kept at its defaults: invalid frames, streams refused for being over the limit.
    maxSessionInvalidFrames: 1000,
    maxSessionRejectedStreams: 100,
    // Streams that wait for their live answer hold memory: a session may use at most this much (MB).
    maxSessionMemory: 32,
  };
}

/** An HTTP/2 answer umbra gives itself (a refused stream): status and a JSON `{error}`. */
function refuseStream(res: http2.Http2ServerResponse, reason: Refusal): void {
  const r = REFUSALS[reason];
  const body = JSON.stringify({ error: r.message });
  if (res.headersSent || res.destroyed) return;
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const kResets = Symbol('umbra.resets');
type Session = http2.ServerHttp2Session & { [kResets]?: { windowStart: number; count: number } };

export function createFront(deps: FrontDeps): Front {
  const { http1, live, log, metrics } = deps;
  let limits = deps.limits();
  const sessions = new Set<http2.ServerHttp2Session>();
  const h2 = http2.createServer(http2Options(limits));

  h2.on('session', (session: Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // A session's errors (a client that vanished, a protocol error) end that session only.
    session.on('error', (err: Error) => log.debug({ err: err.message }, 'http2 session error'));
  });

  h2.on('stream', (stream: http2.ServerHttp2Stream) => {
    stream.on('error', () => undefined);
    // (A closed stream no longer knows its session.)
    const session = stream.session as Session | undefined;
    stream.once('close', () => {
      // A reset before the answer ended: the client cancelled. Count it against the rapid-reset limit.
      if (!stream.aborted || stream.rstCode === http2.constants.NGHTTP2_NO_ERROR) return;
      if (session === undefined || session.destroyed) return;
      const now = Date.now();
      const r = (session[kResets] ??= { windowStart: now, count: 0 });
      if (now - r.windowStart >= 1000) {
        r.windowStart = now;
        r.count = 0;
      }
      if (++r.count <= limits.http2.maxResetsPerSecond) return;
      metrics.clientErrors.inc({ reason: 'rapid_reset' });
      log.warn({ remote: session.socket?.remoteAddress, resets: r.count, limit: limits.http2.maxResetsPerSecond }, 'http2 client resets streams too fast: connection closed (rapid reset)');
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    });
  });

  h2.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const l = deps.limits();
    const refuse = (reason: Refusal): void => {
      metrics.clientErrors.inc({ reason });
      log.info({ reason, remote: req.socket.remoteAddress, method: req.method }, 'request refused');
      req.resume();
      refuseStream(res, reason);
    };
    if (live.isDraining) return refuse('draining');
    // Pseudo-headers count: a client's fields are what it sent less the four of them.
    if (headerCount(req.rawHeaders) - 4 > l.maxHeaderCount) return refuse('too_many_headers');
    const path = req.headers[':path'];
    // CONNECT (no :path) and anything but origin-form: umbra forwards requests for resources only.
    if (typeof path !== 'string' || path.charCodeAt(0) !== 47 /* / */ || req.method === 'CONNECT') return refuse('malformed');
    // Routing, X-Forwarded-Host and the live hop read Host: an HTTP/2 client names it :authority.
    const authority = req.headers[':authority'];
    if (req.headers.host === undefined && typeof authority === 'string') req.headers.host = authority;
    live.handle(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
  });

  // The HTTP/1.1 server never listens itself: Node starts its headers/request
  // timeout checks (slowloris) on 'listening', so it is told it listens.
  http1.emit('listening');
  const toHttp1 = (socket: Duplex): void => {
    http1.emit('connection', socket);
  };

  let server: net.Server;
  if (deps.tls === null) {
    server = net.createServer((socket) => sniff(socket, h2, toHttp1, deps.limits().headersTimeout));
  } else {
    const t = deps.tls;
    server = tls.createServer({ cert: t.cert, key: t.key, ALPNProtocols: ['h2', 'http/1.1'] }, (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
      else toHttp1(socket);
    });
    // A failed handshake concerns that client only.
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      log.debug({ err: err.message, remote: socket.remoteAddress }, 'tls handshake failed');
    });
  }
  // Sockets are handed on; the front counts them to close them all at the end.
  const sockets = new Set<Duplex>();
  server.on(deps.tls === null ? 'connection' : 'secureConnection', (socket: Duplex) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  return {
    server,
    h2,
    close(): void {
      server.close();
      for (const s of sessions) s.close();
      http1.close();
    },
    closeIdleConnections(): void {
      http1.closeIdleConnections();
    },
    closeAllConnections(): void {
      http1.closeAllConnections();
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    },
    applyLimits(next: Limits): void {
      limits = next;
      h2.updateSettings(http2Options(next).settings ?? {});
    },
    setTls(config: TlsConfig): void {
      if (server instanceof tls.Server) server.setSecureContext({ cert: config.cert, key: config.key });
    },
  };
}

/**
 * Reads the first bytes of a clear-text connection: the HTTP/2 preface goes to
 * the HTTP/2 server, anything else to HTTP/1.1. The bytes read are put back
 * (unshift) for whichever takes it. Node's HTTP/2 session reads what is already
 * buffered on the socket; Node's HTTP/1.1 parser reads the socket's handle
 * directly, so for it the socket is resumed to deliver the buffered bytes first.
 */
export function sniff(socket: net.Socket, h2: http2.Http2Server, toHttp1: (socket: Duplex) => void, timeoutMs: number): void {
  let got: Buffer | null = null;
  // A client that connects and says nothing is closed like a slow request head (limits.headersTimeout).
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  timer.unref();
  const onData = (chunk: Buffer): void => {
    got = got === null ? chunk : Buffer.concat([got, chunk]);
    const n = Math.min(got.length, H2_PREFACE.length);
    const isH2 = got.compare(H2_PREFACE, 0, n, 0, n) === 0;
    if (isH2 && got.length < H2_PREFACE.length) return;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.pause();
    socket.unshift(got);
    if (isH2) {
      h2.emit('connection', socket);
    } else {
      toHttp1(socket);
      socket.resume();
    }
  };
  const onEnd = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.on('error', () => socket.destroy());
}
