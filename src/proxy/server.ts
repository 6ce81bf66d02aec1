// The inbound listener: Node's HTTP parser with its limits from the config, and
// the framing rules of DESIGN §2.7 before anything is forwarded. A request umbra
// refuses gets a 4xx with a short JSON body (never a parser's internal code) and
// the connection closes; answers to requests pipelined before a bad one are sent
// first, in order.
import http from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Limits } from '../config/types.js';
import { REFUSALS, type Refusal } from '../errors.js';
import { hasDuplicateHost, headerCount, originForm } from '../http/headers.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { LiveProxy } from './live.js';
import { isWebSocketUpgrade, type Tunnels } from './tunnel.js';

/** Node's parser error codes mapped to umbra's refusals; anything else is `malformed`. */
const PARSER_REFUSALS: Readonly<Record<string, Refusal>> = {
  HPE_HEADER_OVERFLOW: 'header_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'timeout',
};

export function refusalFor(code: string | undefined): Refusal {
  return (code !== undefined ? PARSER_REFUSALS[code] : undefined) ?? 'malformed';
}

/**
 * What Node's parser lets through but umbra refuses: too many header fields,
 * two Hosts, a request target that is not origin-form (or absolute-form naming
 * the Host). An absolute-form target is rewritten to origin-form here, once,
 * so that routing, the live hop, shadow copies and samples all see one target.
 */
export function framingRefusal(req: IncomingMessage, limits: Limits): Refusal | null {
  if (headerCount(req.rawHeaders) > limits.maxHeaderCount) return 'too_many_headers';
  if (hasDuplicateHost(req.rawHeaders)) return 'malformed';
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */) {
    const target = originForm(url, req.headers.host);
    if (target === null) return 'malformed';
    req.url = target;
  }
  return null;
}

/** The bytes of a refusal: status, a JSON `{error}`, and Connection: close. */
export function refusalBytes(reason: Refusal): string {
  const r = REFUSALS[reason];
  const body = JSON.stringify({ error: r.message });
  return `HTTP/1.1 ${r.status} ${r.text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

const kPending = Symbol('umbra.pending');
const kRefusal = Symbol('umbra.refusal');

/** Per-connection state: answers still owed, and a refusal waiting for them. */
type Conn = Duplex & { [kPending]?: number; [kRefusal]?: Refusal | null };

function sendRefusal(socket: Conn): void {
  const reason = socket[kRefusal];
  if (reason === undefined || reason === null || !socket.writable) return;
  socket[kRefusal] = null; // sent: later errors on this socket change nothing
  socket.write(refusalBytes(reason));
  (socket as Duplex & { destroySoon?: () => void }).destroySoon?.();
}

/** A response on this connection is done; a refusal waiting for it goes out once none is left. */
function onAnswered(socket: Conn): void {
  socket[kPending] = (socket[kPending] ?? 1) - 1;
  if (socket[kPending] === 0 && socket[kRefusal] != null) sendRefusal(socket);
}

export interface ProxyServerDeps {
  readonly live: LiveProxy;
  readonly tunnels: Tunnels;
  /** The limits in force (they change on hot reload). */
  readonly limits: () => Limits;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/**
 * Node drops header fields past `maxHeadersCount` silently (Host or a framing
 * header included), so Node's own cap is off (0) and umbra counts every field
 * itself: a request over `maxHeaderCount` gets a 431, never a truncated forward.
 * `maxHeaderBytes` still bounds the header section's size, and so its count.
 */
export function applyLimits(server: Server, limits: Limits): void {
  server.maxHeadersCount = 0;
  // Read by Node for each new connection.
  (server as Server & { maxHeaderSize: number }).maxHeaderSize = limits.maxHeaderBytes;
  server.headersTimeout = limits.headersTimeout;
  server.requestTimeout = limits.requestTimeout;
}

export function createProxyServer(deps: ProxyServerDeps): Server {
  const { live, tunnels, log, metrics } = deps;
  const initial = deps.limits();
  live.onAnswered = onAnswered;

  const refuse = (socket: Conn, reason: Refusal, detail: Record<string, unknown>): void => {
    if (socket[kRefusal] !== undefined) return;
    metrics.clientErrors.inc({ reason });
    log.info({ reason, remote: (socket as Duplex & { remoteAddress?: string }).remoteAddress, ...detail }, 'request refused');
    socket[kRefusal] = reason;
    if ((socket[kPending] ?? 0) === 0) sendRefusal(socket);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket as Conn;
    // After a refusal nothing more on this connection is forwarded.
    if (socket[kRefusal] !== undefined) {
      req.resume();
      return;
    }
    const refusal = framingRefusal(req, deps.limits());
    if (refusal !== null) {
      refuse(socket, refusal, { method: req.method });
      req.resume();
      return;
    }
    socket[kPending] = (socket[kPending] ?? 0) + 1;
    live.handle(req, res);
  };

  const server = http.createServer(
    {
      maxHeaderSize: initial.maxHeaderBytes,
      headersTimeout: initial.headersTimeout,
      requestTimeout: initial.requestTimeout,
      // Node checks the two timeouts above on this interval (30 s by default).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(initial.headersTimeout / 2))),
      keepAliveTimeout: 5000,
    },
    onRequest,
  );
  applyLimits(server, initial);

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!isWebSocketUpgrade(req)) {
      // `Upgrade: h2c` (curl --http2) and any other upgrade: served as HTTP/1.1.
      reparseWithoutUpgrade(server, req, socket, head);
      return;
    }
    const refusal = framingRefusal(req, deps.limits());
    if (refusal !== null) {
      refuse(socket, refusal, { upgrade: 'websocket' });
      return;
    }
    if (live.isDraining) {
      refuse(socket, 'draining', { upgrade: 'websocket' });
      return;
    }
    tunnels.connect(req, socket, head, live.current);
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    refuse(socket, refusalFor(err.code), { code: err.code });
  });
  return server;
}

/**
 * Node hands a request with `Connection: upgrade` to the 'upgrade' listener
 * with its body unparsed. To serve it as HTTP/1.1, the head is written back
 * without the upgrade (and HTTP2-Settings) and the socket goes through Node's
 * parser again, body and any pipelined requests included.
 */
export function reparseWithoutUpgrade(server: Server, req: IncomingMessage, socket: Duplex, rest: Buffer): void {
  let head = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    let value = raw[i + 1] as string;
    if (lower === 'upgrade' || lower === 'http2-settings') continue;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && !/^(upgrade|http2-settings)$/i.test(t))
        .join(', ');
      if (value === '') continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  socket.unshift(Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), rest]));
  server.emit('connection', socket);
}
