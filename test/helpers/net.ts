// Real loopback servers and a raw HTTP client for tests. Every server listens
// on 127.0.0.1 port 0 and is closed in teardown.
import http from 'node:http';
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';

export interface Backend {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Every request the backend saw, with its full body. */
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A backend that reads each request body fully, records it, then calls the handler. */
export async function startBackend(handler: Handler, opts: { raw?: boolean } = {}): Promise<Backend> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    if (opts.raw === true) {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) });
      handler(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  return { ...(await serveOnLoopback(server)), server, seen };
}

/** Listens on 127.0.0.1 port 0; `close` drops every connection and waits for the server to close. */
export async function serveOnLoopback(server: http.Server): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

/**
 * A port that refuses connections for the whole test: a privileged port, which
 * no `listen(0)` and no outgoing connection of a parallel test can ever be
 * given (closedPort's released port can be, and then the "refused" backend
 * answers). Checked to refuse; falls back to closedPort on a host where every
 * candidate is taken.
 */
export async function refusedPort(): Promise<number> {
  for (const port of [1, 3, 5, 7, 9, 11, 13]) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  return closedPort();
}

/** A port that nothing listens on (bound, then released): for a test that binds it later itself. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string;
  agent?: http.Agent | false;
}

/** One request over a real socket; resolves with the whole answer. */
export function request(url: string, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export async function json(url: string, opts: RequestOptions = {}): Promise<{ status: number; body: any }> {
  const r = await request(url, opts);
  return { status: r.status, body: r.body.length > 0 ? JSON.parse(r.body.toString('utf8')) : undefined };
}

export interface RawRequest {
  method?: string;
  /** The request target exactly as sent: `/a%E0`, `http://[/x`, ... */
  target: string;
  /** Header lines in order, sent as written (no Host is added for you). */
  headers?: readonly (readonly [string, string])[];
  body?: string;
}

/**
 * One request written byte for byte on a fresh socket, so nothing normalises the
 * target or the headers; `Connection: close` and, with a body, `Content-Length`
 * are added. Resolves with the answer once the server closes the connection.
 */
export async function rawRequest(url: string, req: RawRequest): Promise<Reply> {
  const { hostname, port } = new URL(url);
  const body = req.body ?? '';
  const lines = [`${req.method ?? 'GET'} ${req.target} HTTP/1.1`, ...(req.headers ?? []).map(([k, v]) => `${k}: ${v}`), 'Connection: close'];
  if (body !== '') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const socket = net.connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  await once(socket, 'close');
  const all = Buffer.concat(chunks);
  const split = all.indexOf('\r\n\r\n');
  if (split === -1) throw new Error(`no complete answer: ${JSON.stringify(all.toString('latin1'))}`);
  const [statusLine = '', ...headerLines] = all.subarray(0, split).toString('latin1').split('\r\n');
  const headers: IncomingHttpHeaders = {};
  const rawHeaders: string[] = [];
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push(name, value);
    headers[name.toLowerCase()] = value;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, rawHeaders, body: all.subarray(split + 4) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until fn returns a truthy value or the deadline passes. */
export async function until<T>(fn: () => T | Promise<T>, ms = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The value of one sample in Prometheus text, or 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const pair of (m[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) have[pair[1] as string] = pair[2] as string;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(m[4]);
      found = true;
    }
  }
  return found ? total : 0;
}
