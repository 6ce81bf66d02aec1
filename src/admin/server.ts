// The admin listener: health, readiness, metrics, and the JSON API. Everything
// but /healthz, /readyz and /metrics needs the bearer token when one is set.
import http from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import { AdminBodyError } from '../errors.js';

export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  /** Who made the call, for audit lines: the remote address. */
  readonly who: string;
}

export interface AdminResult {
  readonly status: number;
  readonly json?: unknown;
  readonly text?: string;
  readonly contentType?: string;
}

/** A handler for paths under the API; returns null when it does not know the path. */
export type ApiHandler = (req: AdminRequest) => AdminResult | null | Promise<AdminResult | null>;

export interface AdminOptions {
  readonly token: string;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly isReady: () => boolean;
  /** Handlers tried in order for every call past the open endpoints. */
  readonly handlers: readonly ApiHandler[];
  /**
   * Handlers that need no token: the divergence page's static files, which hold
   * no data (a browser cannot send a bearer token when it loads a page; the page
   * asks for it and sends it with every API call). Tried before the token check.
   */
  readonly openHandlers?: readonly ApiHandler[];
  /** Largest admin request body accepted. */
  readonly maxBodyBytes?: number;
}

const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function errorResult(status: number, error: string): AdminResult {
  return { status, json: { error } };
}

function send(res: ServerResponse, result: AdminResult, extra: Record<string, string> = {}): void {
  const body = result.text ?? JSON.stringify(result.json ?? {});
  res.writeHead(result.status, {
    'content-type': result.contentType ?? (result.text !== undefined ? 'text/plain; charset=utf-8' : 'application/json'),
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(body);
}

/** `Bearer <token>`: the scheme is case-insensitive (RFC 9110 §11.1), then one or more spaces. */
const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

export function tokenMatches(expected: string, header: string | undefined): boolean {
  const match = header === undefined ? null : BEARER.exec(header);
  if (match === null) return false;
  const given = Buffer.from(match[1] as string);
  const want = Buffer.from(expected);
  return given.length === want.length && timingSafeEqual(given, want);
}

async function readJsonBody(req: IncomingMessage, max: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new AdminBodyError(413, `request body over ${max} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new AdminBodyError(400, 'request body is not valid JSON');
  }
}

/**
 * The request target as a URL, or why it is not one. Origin-form (`/path?q`) is
 * read under a fixed origin, so `//x/y` stays a path rather than naming a host;
 * absolute-form (`http://host/path`) is read as it stands. Handlers decode path
 * segments, so a path that does not decode is refused here, once for all.
 */
export function parseTarget(target: string): URL | string {
  let url: URL;
  try {
    url = target.startsWith('/') ? new URL(`http://admin${target}`) : new URL(target);
  } catch {
    return `malformed URL: the request target ${JSON.stringify(target.slice(0, 200))} cannot be parsed`;
  }
  try {
    decodeURIComponent(url.pathname);
  } catch {
    return 'malformed URL: the path has a bad %-escape (% must start two hex digits that encode UTF-8)';
  }
  return url;
}

export function createAdminServer(opts: AdminOptions): Server {
  const maxBody = opts.maxBodyBytes ?? 64 * 1024;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = parseTarget(req.url ?? '/');
    if (typeof url === 'string') return send(res, errorResult(400, url));
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (OPEN_PATHS.has(path)) {
      if (method !== 'GET' && method !== 'HEAD') return send(res, errorResult(405, 'method not allowed'), { allow: 'GET' });
      if (path === '/healthz') return send(res, { status: 200, json: { status: 'ok' } });
      if (path === '/readyz') {
        const ready = opts.isReady();
        return send(res, { status: ready ? 200 : 503, json: { status: ready ? 'ready' : 'not ready' } });
      }
      const text = await opts.metrics.registry.metrics();
      return send(res, { status: 200, text, contentType: opts.metrics.registry.contentType });
    }
    const bare: AdminRequest = { method, path, query: url.searchParams, body: undefined, who: req.socket.remoteAddress ?? 'unknown' };
    for (const h of opts.openHandlers ?? []) {
      const result = await h(bare);
      if (result !== null) return send(res, result);
    }
    if (opts.token !== '' && !tokenMatches(opts.token, req.headers.authorization)) {
      return send(res, errorResult(401, 'missing or wrong bearer token'), { 'www-authenticate': 'Bearer realm="umbra"' });
    }
    let body: unknown;
    try {
      body = await readJsonBody(req, maxBody);
    } catch (err) {
      if (err instanceof AdminBodyError) return send(res, errorResult(err.status, err.message));
      throw err;
    }
    const areq: AdminRequest = { ...bare, body };
    for (const h of opts.handlers) {
      const result = await h(areq);
      if (result !== null) return send(res, result);
    }
    send(res, errorResult(404, `no such admin call: ${method} ${path}`));
  };
  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log.error({ err }, 'admin call failed');
      if (!res.headersSent) send(res, errorResult(500, 'internal error'));
      else res.destroy();
    });
  });
}
