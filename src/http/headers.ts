// HTTP header rules, in one place for every hop umbra makes: the live forward,
// shadow copies, WebSocket tunnels, comparison and observability all use these
// and no copy of their own (DESIGN §2.7).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy proxy-connection): never forwarded. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Headers that say where a message goes and how its body is delimited. A
 * `Connection` header naming one of them is ignored for it: removing
 * Content-Length would forward the body unframed (request smuggling), removing
 * Host would forward HTTP/1.1 without one. Transfer-Encoding is hop-by-hop
 * anyway; the next hop frames the body itself.
 */
export const FRAMING: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'host']);

/** Header values that are secrets: redacted in logs, samples and replay commands (DESIGN §2.4). */
export const SECRET_HEADERS: readonly string[] = Object.freeze(['authorization', 'cookie', 'set-cookie', 'proxy-authorization']);

/** Methods without side effects: the only ones mirrored unless a route lists more (DESIGN §2.3). */
export const SAFE_METHODS = Object.freeze(['GET', 'HEAD', 'OPTIONS'] as const);

const SAFE: ReadonlySet<string> = new Set(SAFE_METHODS);

/** A method without side effects (any case); every other one is a write. */
export function isSafeMethod(method: string): boolean {
  return SAFE.has(method.toUpperCase());
}

/** Methods umbra knows by name (a route may list them); any other is the metric label OTHER. */
export const METHODS = Object.freeze(['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE', 'TRACE', 'CONNECT'] as const);
export type Method = (typeof METHODS)[number];
export const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

export function methodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
}

/** umbra's marker on every shadow request. A client's copy of it never reaches live or dark. */
export const SHADOW_MARKER = 'x-umbra-shadow';

/** Default cap on the number of header fields in a request (`limits.maxHeaderCount`). */
export const DEFAULT_MAX_HEADER_COUNT = 100;

/** Header edits for a shadow target (dark.headers): names removed, then names set (lower case). */
export interface HeaderEdits {
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

/** The X-Forwarded-* headers umbra sets on every hop (the client's copies are replaced). */
export const FORWARDED_HEADERS: ReadonlySet<string> = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/**
 * The names a `Connection` header lists (lower case), less `close`,
 * `keep-alive` and the framing headers, or null when it lists none.
 */
export function connectionListed(connection: string | readonly string[] | undefined): Set<string> | null {
  if (connection === undefined) return null;
  // The common values, without splitting a string on every request.
  if (connection === 'keep-alive' || connection === 'close' || connection === 'Keep-Alive') return null;
  const raw = typeof connection === 'string' ? connection : connection.join(',');
  let set: Set<string> | null = null;
  for (const part of raw.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive' || FRAMING.has(name)) continue;
    (set ??= new Set()).add(name);
  }
  return set;
}

/** Whether a (lower-case) header stays on this hop only. */
export function isHopByHop(name: string, listed: ReadonlySet<string> | null): boolean {
  return HOP_BY_HOP.has(name) || (listed !== null && listed.has(name));
}

/**
 * Whether a request names its Host more than once. RFC 9112 §3.2 makes that a
 * 400: Node keeps the first for `req.headers.host` (what umbra routes and sets
 * X-Forwarded-Host by) while a next hop may take the last.
 */
export function hasDuplicateHost(rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}

/**
 * The request target in origin-form (`/path?query`), as every hop sends it, or
 * null when umbra refuses it. Absolute-form (`http://host/path`) is accepted
 * only when its authority is the request's Host: a next hop must take the
 * authority over Host (RFC 9112 §3.2.2), and umbra routes and sets
 * X-Forwarded-Host by Host. Asterisk-form and authority-form are refused.
 */
export function originForm(target: string, host: string | undefined): string | null {
  if (target.charCodeAt(0) === 47 /* / */) return target;
  const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(target);
  if (m === null || host === undefined || (m[1] as string).toLowerCase() !== host.toLowerCase()) return null;
  const rest = m[2] as string;
  return rest === '' || rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest;
}

/** Number of header fields in a parsed request (Node's rawHeaders is flat: name, value, ...). */
export function headerCount(rawHeaders: readonly string[]): number {
  return rawHeaders.length >>> 1;
}

/** The X-Forwarded-* values a hop sends, the same for live, shadow copies and tunnels. */
export interface Forwarded {
  readonly for: string;
  readonly proto: string;
  readonly host: string | undefined;
}

/**
 * `trust` false (the default): umbra states the Host and scheme it saw itself
 * and appends the peer to X-Forwarded-For. `trust` true (behind a trusted
 * proxy): the client's X-Forwarded-Host/-Proto are kept when present.
 */
export function forwardedValues(req: IncomingMessage, trust: boolean): Forwarded {
  const h = req.headers;
  const peer = req.socket.remoteAddress ?? '';
  const xff = h['x-forwarded-for'];
  const proto = 'encrypted' in req.socket ? 'https' : 'http';
  const clientProto = trust ? firstValue(h['x-forwarded-proto']) : undefined;
  const clientHost = trust ? firstValue(h['x-forwarded-host']) : undefined;
  return {
    for: xff === undefined || xff === '' ? peer : `${String(xff)}, ${peer}`,
    proto: clientProto ?? proto,
    host: clientHost ?? h.host,
  };
}

function firstValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

/** What every upstream hop of one config does with a client's headers, decided once. */
export interface HopRules {
  /** forwarded.trust */
  readonly trust: boolean;
  /**
   * Headers a client may not send upstream: the shadow marker. (Not every name
   * dark.headers sets: that may be a credential for dark, which the client's own
   * must still reach live with.)
   */
  readonly markers: ReadonlySet<string>;
}

export function hopRules(trust: boolean): HopRules {
  return { trust, markers: new Set([SHADOW_MARKER]) };
}

/**
 * The request headers for an upstream hop, as a flat [name, value, ...] list
 * built from the client's raw headers (case and order kept): hop-by-hop headers
 * and those `Connection` names go (framing ones excepted), as do `expect` (Node
 * answered the 100-continue already), the client's copies of the shadow markers
 * and its X-Forwarded-* (replaced, see forwardedValues). `keepLength` keeps
 * Content-Length (a streamed live body is framed by it); a shadow copy's length
 * is set anew from the buffered body. `edits` (dark's) are applied last.
 */
export function upstreamHeaders(req: IncomingMessage, rules: HopRules, keepLength: boolean, edits: HeaderEdits | null = null): string[] {
  const fwd = forwardedValues(req, rules.trust);
  const listed = connectionListed(req.headers.connection);
  const raw = req.rawHeaders;
  const out: string[] = [];
  let host = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    // HTTP/2's pseudo-headers (:method, :path, :scheme, :authority) are the next hop's to make.
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const lower = name.toLowerCase();
    if (lower === 'te' && req.httpVersionMajor === 2 && (raw[i + 1] as string).trim().toLowerCase() === 'trailers') {
      // The one TE an HTTP/2 request may carry, and gRPC needs it end to end.
      out.push(lower, 'trailers');
      continue;
    }
    if (isHopByHop(lower, listed) || lower === 'expect' || rules.markers.has(lower) || FORWARDED_HEADERS.has(lower)) continue;
    if (lower === 'host') host = true;
    if (!keepLength && lower === 'content-length') continue;
    if (edits !== null && (edits.remove.includes(lower) || Object.hasOwn(edits.set, lower))) continue;
    out.push(name, raw[i + 1] as string);
  }
  // An HTTP/2 client names the host :authority (copied to headers.host by the listener).
  if (!host && req.headers.host !== undefined) out.push('host', req.headers.host);
  out.push('x-forwarded-for', fwd.for, 'x-forwarded-proto', fwd.proto);
  if (fwd.host !== undefined) out.push('x-forwarded-host', fwd.host);
  if (edits !== null) for (const name of Object.keys(edits.set)) out.push(name, edits.set[name] as string);
  return out;
}

/** Response headers as a flat list for the client (less hop-by-hop) and, when asked, as an object for comparison. */
export function downstreamHeaders(rawHeaders: readonly Buffer[], wantObject: boolean): { raw: string[]; headers: IncomingHttpHeaders } {
  const raw: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as Buffer).toString('latin1');
    const lower = name.toLowerCase();
    const value = (rawHeaders[i + 1] as Buffer).toString('latin1');
    if (lower === 'connection') connection = connection === undefined ? value : `${connection},${value}`;
    if (HOP_BY_HOP.has(lower)) continue;
    raw.push(name, value);
  }
  // One pass in the common case; a second only when Connection names more headers.
  const listed = connectionListed(connection);
  const kept = listed === null ? raw : raw.filter((_, i) => !listed.has((raw[i - (i % 2)] as string).toLowerCase()));
  const headers: Record<string, string | string[]> = {};
  if (wantObject) for (let i = 0; i + 1 < kept.length; i += 2) addHeader(headers, (kept[i] as string).toLowerCase(), kept[i + 1] as string);
  return { raw: kept, headers };
}

/**
 * A shadow answer's headers as an object for comparison only (what
 * downstreamHeaders(raw, true).headers gives, without the list for a client).
 */
export function answerHeaders(rawHeaders: readonly Buffer[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  let connection: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lower = (rawHeaders[i] as Buffer).toString('latin1').toLowerCase();
    const value = (rawHeaders[i + 1] as Buffer).toString('latin1');
    if (lower === 'connection') connection = connection === undefined ? value : `${connection},${value}`;
    if (!HOP_BY_HOP.has(lower)) addHeader(headers, lower, value);
  }
  const listed = connectionListed(connection);
  if (listed !== null) for (const name of listed) delete headers[name];
  return headers;
}

/** Adds one field to a header object the way Node joins repeats (set-cookie stays a list). */
export function addHeader(headers: Record<string, string | string[]>, lower: string, value: string): void {
  const prev = headers[lower];
  if (prev === undefined) headers[lower] = lower === 'set-cookie' ? [value] : value;
  else if (Array.isArray(prev)) prev.push(value);
  else headers[lower] = `${prev}, ${value}`;
}

/**
 * undici's trailers as header fields, or null when there are none: a flat raw
 * list from an HTTP/1.1 backend, an object from an HTTP/2 one.
 */
export function trailerFields(trailers: readonly (Buffer | string)[] | Readonly<Record<string, string | string[] | undefined>> | null | undefined): Record<string, string | string[]> | null {
  if (trailers === null || trailers === undefined) return null;
  const out: Record<string, string | string[]> = {};
  let any = false;
  const add = (name: string, value: string): void => {
    // A trailer may not frame or route the message (RFC 9110 §6.5.1).
    if (name.charCodeAt(0) === 58 /* : */ || name === 'content-length' || name === 'transfer-encoding' || name === 'host' || name === 'trailer' || name === 'connection') return;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    any = true;
  };
  if (isList(trailers)) {
    for (let i = 0; i + 1 < trailers.length; i += 2) add(latin1(trailers[i]).toLowerCase(), latin1(trailers[i + 1]));
  } else {
    for (const [name, value] of Object.entries(trailers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) add(name.toLowerCase(), v);
    }
  }
  return any ? out : null;
}


const latin1 = (v: Buffer | string | undefined): string => (v === undefined ? '' : typeof v === 'string' ? v : v.toString('latin1'));
const isList = (v: unknown): v is readonly (Buffer | string)[] => Array.isArray(v);
