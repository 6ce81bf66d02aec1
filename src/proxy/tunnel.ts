// WebSocket tunnels to live, on node:http's client: the upgrade request gets the
// same header rules as every other hop (http/headers.ts), and every open tunnel
// is tracked so that shutdown can close it politely (close code 1001, "going
// away") at the end of the drain instead of holding the process open.
//
// Why not http-proxy: its ws pass copies the client's headers as they are (the
// shadow marker and X-Forwarded-* included) and hides the upstream socket; this
// is the same job in fewer lines, with one set of header rules.
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { LiveError } from '../errors.js';
import { downstreamHeaders, upstreamHeaders } from '../http/headers.js';
import { classifyUpstreamError } from '../http/upstream.js';
import type { Logger } from '../observe/log.js';
import type { LiveState } from './live.js';

/** Bytes a client may send before live has answered its upgrade; more closes it. */
const MAX_EARLY_BYTES = 64 * 1024;

/** A server-to-client close frame, code 1001 (unmasked, RFC 6455 §5.5.1). */
const CLOSE_1001_TO_CLIENT = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** A client-to-server close frame, code 1001 (clients must mask). */
function close1001ToServer(): Buffer {
  const mask = randomBytes(4);
  return Buffer.from([0x88, 0x82, ...mask, 0x03 ^ (mask[0] as number), 0xe9 ^ (mask[1] as number)]);
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const up = req.headers.upgrade;
  return req.method === 'GET' && typeof up === 'string' && up.trim().toLowerCase() === 'websocket';
}

/** The status line and headers of an answer, as bytes for a raw socket. */
function head(status: number, message: string, raw: readonly string[]): string {
  let out = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i + 1 < raw.length; i += 2) out += `${raw[i] as string}: ${raw[i + 1] as string}\r\n`;
  return `${out}\r\n`;
}

interface Tunnel {
  readonly client: Duplex;
  readonly upstream: Duplex;
}

export class Tunnels {
  private readonly open = new Set<Tunnel>();
  /** Set by closeAll(): an upgrade that completes later is not kept open. */
  private closing = false;

  constructor(private readonly log: Logger) {}

  /** Open a tunnel for a WebSocket upgrade request (already checked with isWebSocketUpgrade). */
  connect(req: IncomingMessage, client: Duplex, clientHead: Buffer, state: LiveState): void {
    client.on('error', () => client.destroy());
    const target = new URL(state.target.url);
    const headers = upstreamHeaders(req, state.hop, false);
    headers.push('connection', 'Upgrade', 'upgrade', req.headers.upgrade as string);
    const prefix = target.pathname.replace(/\/$/, '');
    const up = (target.protocol === 'https:' ? https : http).request({
      host: target.hostname,
      port: target.port,
      method: 'GET',
      path: prefix + (req.url ?? '/'),
      headers,
      agent: false,
      timeout: state.target.timeout,
    });
    // Until live answers, the client's socket is read (so that its leaving is
    // seen: a FIN is an 'end' only once data flows) and anything it sends early
    // is kept, up to a bound, for the tunnel.
    const early: Buffer[] = clientHead.length > 0 ? [clientHead] : [];
    let earlyBytes = clientHead.length;
    const onEarly = (chunk: Buffer): void => {
      earlyBytes += chunk.length;
      if (earlyBytes > MAX_EARLY_BYTES) onClientGone();
      else early.push(chunk);
    };
    const onClientGone = (): void => {
      up.destroy();
      client.destroy();
    };
    client.on('data', onEarly);
    client.once('end', onClientGone);
    client.once('close', onClientGone);
    const settle = (): void => {
      client.off('data', onEarly);
      client.off('end', onClientGone);
      client.off('close', onClientGone);
      client.pause();
    };
    up.on('upgrade', (res: IncomingMessage, upstream: Duplex, upstreamHead: Buffer) => {
      settle();
      upstream.on('error', () => upstream.destroy());
      if (client.destroyed || this.closing) {
        upstream.destroy();
        client.destroy();
        return;
      }
      (upstream as Duplex & { setTimeout?: (ms: number) => void }).setTimeout?.(0);
      const { raw } = downstreamHeaders(res.rawHeaders.map((h) => Buffer.from(h, 'latin1')), false);
      client.write(head(101, res.statusMessage ?? 'Switching Protocols', ['Connection', 'Upgrade', 'Upgrade', String(res.headers.upgrade ?? 'websocket'), ...raw]));
      if (upstreamHead.length > 0) client.write(upstreamHead);
      for (const chunk of early) upstream.write(chunk);
      const tunnel: Tunnel = { client, upstream };
      this.open.add(tunnel);
      const end = (): void => {
        this.open.delete(tunnel);
        client.destroy();
        upstream.destroy();
      };
      client.once('close', end);
      upstream.once('close', end);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    up.on('response', (res: IncomingMessage) => {
      settle();
      // The backend declined the upgrade: pass its answer on and close.
      const { raw } = downstreamHeaders(res.rawHeaders.map((h) => Buffer.from(h, 'latin1')), false);
      // Transfer-Encoding is hop-by-hop: without a Content-Length the body ends with the connection.
      client.write(head(res.statusCode ?? 502, res.statusMessage ?? '', [...raw, 'Connection', 'close']));
      res.pipe(client);
    });
    up.on('timeout', () => up.destroy(new LiveError('timeout')));
    up.on('error', (err: Error) => {
      if (!client.writable) return;
      const e = err instanceof LiveError ? err : new LiveError(classifyUpstreamError(err), { cause: err });
      this.log.debug({ err: err.message, reason: e.reason }, 'websocket upstream failed');
      const body = JSON.stringify({ error: e.message, code: e.code });
      client.end(head(e.status, e.status === 504 ? 'Gateway Timeout' : 'Bad Gateway', ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)), 'connection', 'close']) + body);
    });
    up.end();
  }

  /**
   * Close every open tunnel politely: a close frame with code 1001 to both
   * ends, then the sockets. Resolves when all are closed, at most `graceMs` later.
   */
  async closeAll(graceMs: number): Promise<void> {
    this.closing = true;
    if (this.open.size === 0) return;
    const closed: Promise<unknown>[] = [];
    for (const t of this.open) {
      t.upstream.unpipe(t.client);
      t.client.unpipe(t.upstream);
      closed.push(new Promise((resolve) => t.client.once('close', resolve)));
      t.client.end(CLOSE_1001_TO_CLIENT);
      t.upstream.end(close1001ToServer());
    }
    this.log.info({ tunnels: closed.length }, 'closing websocket tunnels (1001 going away)');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const t of this.open) {
      t.client.destroy();
      t.upstream.destroy();
    }
  }
}
