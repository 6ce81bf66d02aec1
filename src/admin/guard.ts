// Who may call the admin API (DESIGN §7). With a token, the bearer token proves
// the caller. Without one the listener is on loopback, which keeps other machines
// out but not other web sites: a page in a browser on this machine can send a
// cross-site POST (the browser only hides the answer), and DNS rebinding points a
// foreign name at 127.0.0.1 so the page can read answers too. Host is the name
// the browser thinks it is talking to and Origin the page that made the call; a
// page can set neither.
import { isSafeMethod } from '../http/headers.js';
import { timingSafeEqual } from 'node:crypto';
import { isLoopback, parseHostName } from '../config/values.js';

/** `Bearer <token>`: the scheme is case-insensitive (RFC 9110 §11.1), then one or more spaces. */
const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

export function tokenMatches(expected: string, header: string | undefined): boolean {
  const match = header === undefined ? null : BEARER.exec(header);
  if (match === null) return false;
  const given = Buffer.from(match[1] as string);
  const want = Buffer.from(expected);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Methods that change nothing; a call with any other method must also come from the listener's own origin. */
/** Calls with these methods change nothing: no Origin check. */

/** A name (lower-case, IPv6 without brackets) that only ever means this machine. */
export function isLoopbackName(name: string): boolean {
  return isLoopback(name) || name.endsWith('.localhost');
}

/** The name in a Host header value (`name`, `name:port`, `[v6]:port`), as parseHostName reads it; null when there is none. */
export function hostHeaderName(value: string): string | null {
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::\d*)?$/.exec(value);
  const parsed = m === null ? null : parseHostName(m[1] as string);
  return parsed === null || typeof parsed === 'string' ? null : parsed.host;
}

export interface Refusal {
  /** Which header failed, for the log line. */
  readonly reason: 'host' | 'origin';
  /** Why, and what to do, for the caller. */
  readonly message: string;
}

export type CallerCheck = (method: string, host: string | undefined, origin: string | undefined) => Refusal | null;

/** The check for a token-less admin: `hosts` are the names admin.hosts adds to the loopback ones. */
export function createCallerCheck(hosts: readonly string[]): CallerCheck {
  const listed: ReadonlySet<string> = new Set(hosts);
  return (method, host, origin) => {
    const name = host === undefined ? null : hostHeaderName(host);
    if (host === undefined || name === null || (!isLoopbackName(name) && !listed.has(name))) {
      return {
        reason: 'host',
        message:
          `Host ${JSON.stringify(host ?? '')} is neither a loopback name nor listed in admin.hosts ` +
          '(a foreign name pointed at this machine, as in DNS rebinding): set admin.token and send ' +
          '"Authorization: Bearer <token>", or add the host name to admin.hosts',
      };
    }
    if (!isSafeMethod(method) && origin !== undefined && origin !== `http://${host}`) {
      return {
        reason: 'origin',
        message:
          `cross-site call refused: Origin ${JSON.stringify(origin)} is not this admin listener's own ` +
          `(http://${host}): call from the listener's own page or without an Origin header (curl, scripts), ` +
          'or set admin.token and send "Authorization: Bearer <token>"',
      };
    }
    return null;
  };
}
