// The inbound listener: Node's HTTP parser with its limits set from the config,
// and one place that turns a request umbra refuses into a clear 4xx.
import http from 'node:http';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Limits } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { LiveProxy } from './live.js';

interface Refusal {
  readonly status: number;
  readonly text: string;
  readonly reason: string;
  readonly message: string;
}

const REFUSALS: Record<string, Refusal> = {
  HPE_HEADER_OVERFLOW: { status: 431, text: 'Request Header Fields Too Large', reason: 'header_too_large', message: 'request headers too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, text: 'Request Timeout', reason: 'timeout', message: 'request not received in time' },
};
const MALFORMED: Refusal = { status: 400, text: 'Bad Request', reason: 'malformed', message: 'malformed request' };

export function refusalFor(code: string | undefined): Refusal {
  return (code !== undefined ? REFUSALS[code] : undefined) ?? MALFORMED;
}

export function createProxyServer(live: LiveProxy, limits: Limits, log: Logger, metrics: Metrics): Server {
  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      // Node checks the two timeouts above on this interval (30 s by default).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeout / 2))),
      keepAliveTimeout: 5000,
    },
    live.handle,
  );
  server.on('upgrade', live.upgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const r = refusalFor(err.code);
    metrics.clientErrors.inc({ reason: r.reason });
    log.info({ reason: r.reason, code: err.code, remote: socket.remoteAddress }, 'request refused');
    const body = JSON.stringify({ error: r.message, code: err.code ?? 'UMBRA_BAD_REQUEST' });
    socket.end(
      `HTTP/1.1 ${r.status} ${r.text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
