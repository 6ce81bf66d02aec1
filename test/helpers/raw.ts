// Raw HTTP/1.1 for hostile-client tests: exact bytes over a net.Socket, a small
// parser that splits a byte stream into successive messages (so pipelined
// answers can be checked in order), and a backend that records the raw bytes
// it received on each connection as well as the requests node parsed from them.
// Every wait here is bounded; every server listens on 127.0.0.1 port 0.
import http from 'node:http';
import net from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { serveOnLoopback } from './net.js';

// ---------------------------------------------------------------------------
// Client side: exact bytes in, every byte out.

export interface RawOptions {
  /** ms of silence (after the last byte received, or after connecting) that ends the wait. Default 1000. */
  quiet?: number;
  /** ms: hard cap on the whole exchange. Default 5000. */
  timeout?: number;
  /** Stop as soon as this returns true for the bytes received so far (e.g. "two complete responses"). */
  done?: (received: Buffer) => boolean;
  /** Half-close (FIN) after writing. Default false: the connection stays open like a keep-alive client. */
  end?: boolean;
}

export interface RawResult {
  /** Everything the server sent, in order. */
  readonly bytes: Buffer;
  /** The same bytes as latin1 text (byte-for-byte), for matching. */
  readonly text: string;
  /** The server closed (FIN or reset) before the wait ended. */
  readonly closed: boolean;
  /** The connection was reset (ECONNRESET/EPIPE) rather than closed with a FIN. */
  readonly reset: boolean;
  /** Why the wait ended. */
  readonly endedBy: 'close' | 'quiet' | 'timeout' | 'done';
}

/** A connected raw socket that collects what the server sends; for multi-step exchanges. */
export class RawConnection {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private closedFlag = false;
  private resetFlag = false;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.length += c.length;
      this.wake?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.resetFlag = true;
    });
    socket.on('close', () => {
      this.closedFlag = true;
      this.wake?.();
    });
  }

  static async open(url: string, timeout = 5000): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    const socket = net.connect(Number(port), hostname);
    socket.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        once(socket, 'connect'),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`connect to ${url} timed out`)), timeout))),
      ]);
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return new RawConnection(socket);
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get reset(): boolean {
    return this.resetFlag;
  }

  /** Writes the bytes exactly as given (one write call). */
  write(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /**
   * Waits until the server closes, `done` holds, `quiet` ms pass with nothing new,
   * or `timeout` ms pass in all. Counts from the call.
   */
  async wait(opts: Omit<RawOptions, 'end'> = {}): Promise<RawResult['endedBy']> {
    const quiet = opts.quiet ?? 1000;
    const deadline = Date.now() + (opts.timeout ?? 5000);
    for (;;) {
      if (opts.done?.(this.bytes) === true) return 'done';
      if (this.closedFlag) return 'close';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      const before = this.length;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = null;
          resolve();
        }, Math.min(quiet, left));
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
      if (this.length === before && !this.closedFlag && opts.done?.(this.bytes) !== true) {
        return Date.now() >= deadline ? 'timeout' : 'quiet';
      }
    }
  }

  result(endedBy: RawResult['endedBy']): RawResult {
    const bytes = this.bytes;
    return { bytes, text: bytes.toString('latin1'), closed: this.closedFlag, reset: this.resetFlag, endedBy };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Opens a socket to `url`'s host and port, writes `bytes` exactly (strings as
 * latin1, one write per element when given a list), and collects everything
 * the server sends until it closes, `done` holds, or a quiet/overall timeout.
 * The socket is destroyed before this resolves.
 */
export async function rawExchange(url: string, bytes: Buffer | string | readonly (Buffer | string)[], opts: RawOptions = {}): Promise<RawResult> {
  const conn = await RawConnection.open(url, opts.timeout ?? 5000);
  try {
    for (const piece of Array.isArray(bytes) ? bytes : [bytes as Buffer | string]) conn.write(piece);
    if (opts.end === true) conn.socket.end();
    const endedBy = await conn.wait(opts);
    return conn.result(endedBy);
  } finally {
    conn.destroy();
  }
}

// ---------------------------------------------------------------------------
// Parsing: a byte stream into successive HTTP/1.1 messages.

export interface RawMessage {
  /** The first line, without CRLF. */
  readonly startLine: string;
  /** Name/value pairs in order, as sent (names keep their case). */
  readonly rawHeaders: readonly (readonly [string, string])[];
  /** The body with any chunked framing removed. */
  readonly body: Buffer;
  /** How the body was delimited. */
  readonly framing: 'content-length' | 'chunked' | 'none' | 'close';
  /** Every byte of this message on the wire, head and framed body. */
  readonly raw: Buffer;
  /** All values of a header (case-insensitive), in order. */
  all(name: string): string[];
  /** The single value of a header, its values joined with ", " when repeated, or undefined. */
  header(name: string): string | undefined;
}

export interface RawResponse extends RawMessage {
  readonly version: string;
  readonly status: number;
  readonly reason: string;
}

export interface RawRequest extends RawMessage {
  readonly method: string;
  readonly target: string;
  readonly version: string;
}

export interface Parsed<M> {
  readonly messages: M[];
  /** Bytes after the last complete message (an incomplete or unparseable message). */
  readonly rest: Buffer;
  /** Why parsing stopped before the end, when it did. */
  readonly error?: string;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

function makeMessage(startLine: string, rawHeaders: [string, string][], body: Buffer, framing: RawMessage['framing'], raw: Buffer): RawMessage {
  const all = (name: string): string[] => rawHeaders.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  return {
    startLine,
    rawHeaders,
    body,
    framing,
    raw,
    all,
    header: (name) => {
      const v = all(name);
      return v.length === 0 ? undefined : v.join(', ');
    },
  };
}

type Step = { ok: true; message: RawMessage; next: number } | { ok: false; error: string | null };

/** One message starting at `at`; error null = incomplete (more bytes needed). */
function parseOne(buf: Buffer, at: number, kind: 'request' | 'response', atEof: boolean): Step {
  const headEnd = buf.indexOf(CRLFCRLF, at);
  if (headEnd < 0) return { ok: false, error: null };
  const head = buf.subarray(at, headEnd).toString('latin1');
  const lines = head.split('\r\n');
  const startLine = lines[0] ?? '';
  const rawHeaders: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { ok: false, error: `bad header line ${JSON.stringify(line)}` };
    rawHeaders.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  const bodyStart = headEnd + 4;
  const values = (name: string): string[] => rawHeaders.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
  const te = values('transfer-encoding');
  const cl = values('content-length');
  let status = 0;
  if (kind === 'response') {
    const m = /^HTTP\/\d\.\d (\d{3})(?: .*)?$/.exec(startLine);
    if (m === null) return { ok: false, error: `bad status line ${JSON.stringify(startLine)}` };
    status = Number(m[1]);
  } else {
    if (!/^[A-Za-z]+ \S+ HTTP\/\d\.\d$/.test(startLine)) return { ok: false, error: `bad request line ${JSON.stringify(startLine)}` };
  }
  const noBody = kind === 'response' && ((status >= 100 && status < 200) || status === 204 || status === 304);
  if (noBody) {
    return { ok: true, message: makeMessage(startLine, rawHeaders, Buffer.alloc(0), 'none', buf.subarray(at, bodyStart)), next: bodyStart };
  }
  if (te.length > 0) {
    if (!/(^|,)\s*chunked\s*$/i.test(te.join(','))) return { ok: false, error: `transfer-encoding ${te.join(',')} without chunked last` };
    const parts: Buffer[] = [];
    let p = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', p, 'latin1');
      if (lineEnd < 0) return { ok: false, error: null };
      const sizeText = buf.subarray(p, lineEnd).toString('latin1').split(';')[0]?.trim() ?? '';
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) return { ok: false, error: `bad chunk size ${JSON.stringify(sizeText)}` };
      const size = parseInt(sizeText, 16);
      p = lineEnd + 2;
      if (size === 0) {
        // Trailers, then an empty line.
        for (;;) {
          const end = buf.indexOf('\r\n', p, 'latin1');
          if (end < 0) return { ok: false, error: null };
          const empty = end === p;
          p = end + 2;
          if (empty) break;
        }
        break;
      }
      if (buf.length < p + size + 2) return { ok: false, error: null };
      parts.push(buf.subarray(p, p + size));
      if (buf.subarray(p + size, p + size + 2).toString('latin1') !== '\r\n') return { ok: false, error: 'chunk not followed by CRLF' };
      p += size + 2;
    }
    return { ok: true, message: makeMessage(startLine, rawHeaders, Buffer.concat(parts), 'chunked', buf.subarray(at, p)), next: p };
  }
  if (cl.length > 0) {
    const distinct = new Set(cl.flatMap((v) => v.split(',').map((s) => s.trim())));
    const only = [...distinct][0] ?? '';
    if (distinct.size !== 1 || !/^\d+$/.test(only)) return { ok: false, error: `bad content-length ${cl.join(',')}` };
    const n = Number(only);
    if (buf.length < bodyStart + n) return { ok: false, error: null };
    return {
      ok: true,
      message: makeMessage(startLine, rawHeaders, buf.subarray(bodyStart, bodyStart + n), 'content-length', buf.subarray(at, bodyStart + n)),
      next: bodyStart + n,
    };
  }
  if (kind === 'request') {
    return { ok: true, message: makeMessage(startLine, rawHeaders, Buffer.alloc(0), 'none', buf.subarray(at, bodyStart)), next: bodyStart };
  }
  // A response without framing runs to the end of the connection.
  if (!atEof) return { ok: false, error: null };
  return { ok: true, message: makeMessage(startLine, rawHeaders, buf.subarray(bodyStart), 'close', buf.subarray(at)), next: buf.length };
}

function parseAll<M>(buf: Buffer, kind: 'request' | 'response', atEof: boolean, wrap: (m: RawMessage) => M): Parsed<M> {
  const messages: M[] = [];
  let at = 0;
  while (at < buf.length) {
    const step = parseOne(buf, at, kind, atEof);
    if (!step.ok) {
      return step.error === null ? { messages, rest: buf.subarray(at) } : { messages, rest: buf.subarray(at), error: step.error };
    }
    messages.push(wrap(step.message));
    at = step.next;
  }
  return { messages, rest: buf.subarray(at) };
}

/**
 * Splits what a server sent into successive responses. `closed`: the stream
 * ended there (a response without content-length or chunked runs to the end).
 */
export function parseResponses(buf: Buffer, closed = true): Parsed<RawResponse> {
  return parseAll(buf, 'response', closed, (m) => {
    const match = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(m.startLine) as RegExpExecArray;
    return Object.assign(m, { version: match[1] as string, status: Number(match[2]), reason: match[3] ?? '' });
  });
}

/** Splits what a client (umbra, seen from a backend) sent into successive requests. */
export function parseRequests(buf: Buffer): Parsed<RawRequest> {
  return parseAll(buf, 'request', true, (m) => {
    const [method, target, version] = m.startLine.split(' ') as [string, string, string];
    return Object.assign(m, { method, target, version });
  });
}

/** A `done` predicate for rawExchange: at least `n` complete responses received. */
export const responsesReceived =
  (n: number) =>
  (received: Buffer): boolean =>
    parseResponses(received, false).messages.length >= n;

// ---------------------------------------------------------------------------
// Server side: a backend that records bytes and requests.

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  /** Index into `connections`. */
  readonly connection: number;
}

export interface RecordedConnection {
  /** Every byte received on this connection so far. */
  readonly bytes: Buffer;
}

export interface RecordingBackend {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Requests node's parser delivered, with their full bodies, in arrival order. */
  readonly requests: RecordedRequest[];
  /** One entry per accepted TCP connection, in order. */
  readonly connections: RecordedConnection[];
  /** Parse errors node raised on a connection (the backend got bytes it could not parse). */
  readonly clientErrors: string[];
  /** Every byte received, all connections concatenated in connection order. */
  allBytes(): Buffer;
  close(): Promise<void>;
}

export type RecordingHandler = (req: IncomingMessage, res: ServerResponse, seen: RecordedRequest) => void;

/** What the default handler answers: 200 with a JSON description of the request. */
export interface SeenJson {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  bodyLength: number;
}

export const describeSeen = (r: RecordedRequest): SeenJson => ({
  method: r.method,
  url: r.url,
  headers: r.headers,
  rawHeaders: [...r.rawHeaders],
  body: r.body.toString('latin1'),
  bodyLength: r.body.length,
});

const answerWhatWasSeen: RecordingHandler = (_req, res, seen) => {
  const body = JSON.stringify(describeSeen(seen));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

/**
 * A node:http backend that records the raw bytes of each connection (a 'data'
 * listener beside node's parser) and each parsed request, then calls `handler`
 * (default: 200 with a JSON of what it saw).
 */
export async function startRecordingBackend(handler: RecordingHandler = answerWhatWasSeen): Promise<RecordingBackend> {
  const requests: RecordedRequest[] = [];
  const perConnection: Buffer[][] = [];
  const connections: RecordedConnection[] = [];
  const clientErrors: string[] = [];
  const index = new WeakMap<net.Socket, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        connection: index.get(req.socket) ?? -1,
      };
      requests.push(seen);
      handler(req, res, seen);
    });
  });
  server.on('connection', (socket: net.Socket) => {
    const chunks: Buffer[] = [];
    index.set(socket, perConnection.length);
    perConnection.push(chunks);
    connections.push({
      get bytes() {
        return Buffer.concat(chunks);
      },
    });
    // Adding a 'data' listener makes node feed its parser from JS too: both see every byte.
    socket.on('data', (c: Buffer) => chunks.push(c));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    clientErrors.push(err.code ?? err.message);
    socket.destroy();
  });
  return {
    ...(await serveOnLoopback(server)),
    server,
    requests,
    connections,
    clientErrors,
    allBytes: () => Buffer.concat(perConnection.map((c) => Buffer.concat(c))),
  };
}

/** A short printable excerpt of bytes for failure messages. */
export function excerpt(bytes: Buffer, max = 600): string {
  const text = bytes.toString('latin1');
  const cut = text.length > max ? `${text.slice(0, max)}…(${text.length - max} more bytes)` : text;
  return JSON.stringify(cut);
}
