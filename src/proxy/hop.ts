// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never
// forwarded, nor is any header the Connection header names.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

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

/** Lower-case names listed in the Connection header(s), or null when there are none. */
export function connectionListed(connection: string | string[] | undefined): Set<string> | null {
  if (connection === undefined) return null;
  const raw = Array.isArray(connection) ? connection.join(',') : connection;
  let set: Set<string> | null = null;
  for (const part of raw.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive') continue;
    (set ??= new Set()).add(name);
  }
  return set;
}

export function isHopByHop(name: string, listed: Set<string> | null): boolean {
  return HOP_BY_HOP.has(name) || (listed !== null && listed.has(name));
}

/**
 * Response headers to send to the client, as a flat [name, value, ...] list built
 * from the raw headers so that case and repeated headers (set-cookie) survive.
 */
export function forwardableRawHeaders(rawHeaders: readonly string[], headers: IncomingHttpHeaders): string[] {
  const listed = connectionListed(headers.connection);
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (isHopByHop(name.toLowerCase(), listed)) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  return out;
}

/** The X-Forwarded-* values a hop adds: the same for the live request and its shadow copies. */
export function forwardedFor(req: IncomingMessage): { for: string; proto: string | undefined; host: string | undefined } {
  const remote = req.socket.remoteAddress ?? '';
  const xff = req.headers['x-forwarded-for'];
  return {
    for: xff === undefined || xff === '' ? remote : `${String(xff)}, ${remote}`,
    proto: req.headers['x-forwarded-proto'] === undefined ? ('encrypted' in req.socket ? 'https' : 'http') : undefined,
    host: req.headers['x-forwarded-host'] === undefined ? req.headers.host : undefined,
  };
}
