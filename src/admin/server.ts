// The admin listener: health, readiness, metrics, and the JSON API. The open
// calls and the page's files need nothing; every other call needs the bearer
// token when one is set, and without one must pass the Host and Origin checks
// of guard.ts (DESIGN §7).
import http from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import { writeJson } from '../compare/index.js';
import { AdminBodyError } from '../errors.js';
import { createCallerCheck, type CallerCheck, tokenMatches } from './guard.js';

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
  /** More response headers (allow, www-authenticate). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A handler for paths under the API; returns null when it does not know the path. */
export type ApiHandler = (req: AdminRequest) => AdminResult | null | Promise<AdminResult | null>;

export interface AdminOptions {
  /** The bearer token in force ('' for none); read per call, so a reload applies at once. Without one, the Host and Origin checks apply. */
  readonly token: () => string;
  /** Host names accepted besides loopback ones when there is no token (admin.hosts); read per call. */
  readonly hosts?: () => readonly string[];
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly isReady: () => boolean;
  /** Handlers tried in order, after the built-in /healthz, /readyz and /metrics. */
  readonly handlers: readonly ApiHandler[];
  /**
   * Handlers that need no token: the divergence page's static files, which hold
   * no data (a browser cannot send a bearer token when it loads a page; the page
   * asks for it and sends it with every API call). Tried before the guard.
   */
  readonly openHandlers?: readonly ApiHandler[];
  /** Largest admin request body accepted. */
  readonly maxBodyBytes?: number;
}

/**
 * Calls anyone may make: no token, no Host or Origin check. They only read
 * aggregates and change nothing (DESIGN §7): Flagger cannot send a header with a
 * webhook, and a token in a Canary spec would be a secret in plain sight.
 */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics', '/api/verdict', '/api/gate']);

export function errorResult(status: number, error: string): AdminResult {
  return { status, json: { error } };
}

function send(res: ServerResponse, result: AdminResult): void {
  // writeJson: exact numbers in divergence samples go out digit for digit.
  const body = result.text ?? writeJson(result.json ?? {});
  res.writeHead(result.status, {
    'content-type': result.contentType ?? (result.text !== undefined ? 'text/plain; charset=utf-8' : 'application/json'),
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...result.headers,
  });
  res.end(body);
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

/** /healthz, /readyz and /metrics. */
function createProbeHandler(opts: AdminOptions): ApiHandler {
  return async (req) => {
    if (req.path !== '/healthz' && req.path !== '/readyz' && req.path !== '/metrics') return null;
    if (req.method !== 'GET' && req.method !== 'HEAD') return { ...errorResult(405, 'method not allowed'), headers: { allow: 'GET' } };
    if (req.path === '/healthz') return { status: 200, json: { status: 'ok' } };
    if (req.path === '/readyz') {
      const ready = opts.isReady();
      return { status: ready ? 200 : 503, json: { status: ready ? 'ready' : 'not ready' } };
    }
    return { status: 200, text: await opts.metrics.registry.metrics(), contentType: opts.metrics.registry.contentType };
  };
}

/** Decides whether a call past the open ones may go on: null, or the answer that refuses it. */
type Guard = (req: IncomingMessage, call: AdminRequest) => AdminResult | null;

function createGuard(opts: AdminOptions): Guard {
  const { log } = opts;
  const unauthorized: AdminResult = { ...errorResult(401, 'missing or wrong bearer token'), headers: { 'www-authenticate': 'Bearer realm="umbra"' } };
  // The token and the host list are read per call (a reload applies at once); the check is rebuilt when the list changes.
  let checkedHosts: readonly string[] | null = null;
  let check: CallerCheck = createCallerCheck([]);
  return (req, call) => {
    const token = opts.token();
    if (token !== '') return tokenMatches(token, req.headers.authorization) ? null : unauthorized;
    const hosts = opts.hosts?.() ?? [];
    if (hosts !== checkedHosts) {
      check = createCallerCheck(hosts);
      checkedHosts = hosts;
    }
    const { host, origin } = req.headers;
    const refusal = check(call.method, host, origin);
    if (refusal === null) return null;
    log.warn({ reason: refusal.reason, method: call.method, path: call.path, host, origin, who: call.who }, 'admin call refused');
    return errorResult(403, refusal.message);
  };
}

export function createAdminServer(opts: AdminOptions): Server {
  const maxBody = opts.maxBodyBytes ?? 64 * 1024;
  const guard = createGuard(opts);
  const handlers = [createProbeHandler(opts), ...opts.handlers];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = parseTarget(req.url ?? '/');
    if (typeof url === 'string') return send(res, errorResult(400, url));
    const method = req.method ?? 'GET';
    let call: AdminRequest = { method, path: url.pathname, query: url.searchParams, body: undefined, who: req.socket.remoteAddress ?? 'unknown' };
    if (!OPEN_PATHS.has(call.path)) {
      for (const h of opts.openHandlers ?? []) {
        const result = await h(call);
        if (result !== null) return send(res, result);
      }
      const denied = guard(req, call);
      if (denied !== null) return send(res, denied);
    }
    // No admin call reads a GET or HEAD body; the probes stay as cheap as they were.
    if (method !== 'GET' && method !== 'HEAD') {
      try {
        call = { ...call, body: await readJsonBody(req, maxBody) };
      } catch (err) {
        if (err instanceof AdminBodyError) return send(res, errorResult(err.status, err.message));
        throw err;
      }
    }
    for (const h of handlers) {
      const result = await h(call);
      if (result !== null) return send(res, result);
    }
    send(res, errorResult(404, `no such admin call: ${method} ${call.path}`));
  };
  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log.error({ err }, 'admin call failed');
      if (!res.headersSent) send(res, errorResult(500, 'internal error'));
      else res.destroy();
    });
  });
}
