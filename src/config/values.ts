// Pure parsers for the value syntaxes of the config file. Each returns the
// parsed value or a string that says what is wrong (without the key path,
// which the caller knows).

import { isIP } from 'node:net';
import { PathSyntaxError } from '../errors.js';
import { METHODS } from '../http/headers.js';
import { canonicalPath } from './field-path.js';
import type { ListenAddress, Method, OrderKey, SampleKey } from './types.js';

export { METHODS };

export function parseMethod(input: string): Method | undefined {
  const upper = input.toUpperCase();
  return METHODS.find((m) => m === upper);
}

/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A header name, lower-cased, or undefined when it is not a valid name. */
export function parseHeaderName(input: string): string | undefined {
  return HEADER_NAME.test(input) ? input.toLowerCase() : undefined;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

const LISTEN_HINT = 'expected host:port, :port or a port number';

/** `host:port`, `[v6]:port`, `:port` or a bare port (string or number). */
export function parseListen(input: string | number, defaultHost: string): ListenAddress | string {
  const raw = typeof input === 'number' ? String(input) : input.trim();
  let host = defaultHost;
  let portText = raw;
  if (!/^\d+$/.test(raw)) {
    const colon = raw.lastIndexOf(':');
    if (colon === -1) return LISTEN_HINT;
    portText = raw.slice(colon + 1);
    const hostPart = raw.slice(0, colon);
    if (hostPart !== '') {
      if (hostPart.startsWith('[') && hostPart.endsWith(']')) {
        host = hostPart.slice(1, -1);
        if (isIP(host) !== 6) return `"${hostPart}" is not an IPv6 address`;
      } else if (isIP(hostPart) === 4 || HOSTNAME.test(hostPart)) {
        host = hostPart;
      } else {
        return `${LISTEN_HINT} ("${hostPart}" is not a host; write IPv6 addresses in brackets)`;
      }
    }
  }
  if (!/^\d+$/.test(portText)) return LISTEN_HINT;
  const port = Number(portText);
  if (port > 65535) return 'port must be from 0 to 65535';
  return { host, port };
}

/**
 * A host name or IP address with no port, as `admin.hosts` lists it and a Host
 * header carries it: lower-cased, an IPv6 address without brackets and in its
 * short form (so `[FD00::0:1]` and `fd00::1` are one host). A problem otherwise.
 */
export function parseHostName(input: string): { readonly host: string } | string {
  const bare = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  // A zone (`fe80::1%eth0`) never reaches a Host header, and URL cannot read one.
  if (isIP(bare) === 6 && !bare.includes('%')) return { host: new URL(`http://[${bare}]`).hostname.slice(1, -1) };
  if (isIP(input) === 4 || HOSTNAME.test(input)) return { host: input.toLowerCase() };
  const why = input.includes('/')
    ? 'write it without a scheme or path, like "umbra-admin.internal"'
    : /^(?:[^:]+|\[.*\]):\d*$/.test(input)
      ? 'write it without the port'
      : 'letters, digits, dots and dashes, or an IP address (no wildcards)';
  return `${JSON.stringify(input)} is not a host name: ${why}`;
}

/** Whether connections to this listen host can only come from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** An http(s) URL with a host and no query or fragment; returned as written. */
export function checkBackendUrl(input: string): string | undefined {
  const hint = 'expected an http(s) URL like "http://127.0.0.1:3000"';
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return hint;
  }
  // "localhost:3000" parses as scheme "localhost:"; what is missing is "http://".
  if (!input.includes('://')) return hint;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `expected an http(s) URL, not ${url.protocol.slice(0, -1)}:`;
  if (url.hostname === '') return 'expected an http(s) URL with a host';
  if (url.search !== '' || url.hash !== '') return 'a backend URL cannot have a query or a fragment';
  if (url.username !== '' || url.password !== '') return 'a backend URL cannot carry credentials; set a header instead';
  return undefined;
}

const GRPC_SERVICE = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A gRPC route name: `pkg.Service/Method` (one call) or `pkg.Service/*` (every call of the service). */
export function checkGrpcName(input: string): string | undefined {
  const slash = input.indexOf('/');
  const service = slash === -1 ? input : input.slice(0, slash);
  const method = slash === -1 ? '' : input.slice(slash + 1);
  if (slash === -1 || !GRPC_SERVICE.test(service) || (method !== '*' && !GRPC_METHOD.test(method))) {
    return `"${input}" is not a gRPC call: expected pkg.Service/Method, or pkg.Service/* for every call of a service`;
  }
  return undefined;
}

/** `header:NAME`, `cookie:NAME` or `query:NAME`; header names are lower-cased. */
export function parseSampleBy(input: string, hint = 'expected header:NAME, cookie:NAME or query:NAME'): SampleKey | string {
  const colon = input.indexOf(':');
  const kind = input.slice(0, colon);
  const name = input.slice(colon + 1);
  if (colon === -1 || name === '') return hint;
  switch (kind) {
    case 'header': {
      const header = parseHeaderName(name);
      return header === undefined ? `"${name}" is not a valid header name` : { kind, name: header };
    }
    case 'cookie':
      return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) ? { kind, name } : `"${name}" is not a valid cookie name`;
    case 'query':
      return /^[^\s&=#]+$/.test(name) ? { kind, name } : `"${name}" is not a valid query parameter name`;
    default:
      return hint;
  }
}

/** `mirror.orderBy`: a sample key (header:, cookie:, query:) or a route path parameter (path:PARAM). */
export function parseOrderBy(input: string): OrderKey | string {
  const hint = 'expected header:NAME, cookie:NAME, query:NAME or path:PARAM';
  if (input.startsWith('path:')) {
    const name = input.slice(5);
    return /^[A-Za-z0-9_]+$/.test(name) ? { kind: 'path', name } : `"${name}" is not a path parameter name (as in /carts/:id, give path:id)`;
  }
  return parseSampleBy(input, hint);
}

/**
 * A field path (DESIGN §4; grammar and messages in field-path.ts) in canonical
 * form, so that `$["name"]` and `$.name` are one rule; or the problem with it.
 */
export function canonicalFieldPath(input: string): { readonly path: string } | string {
  try {
    return { path: canonicalPath(input) };
  } catch (err) {
    if (err instanceof PathSyntaxError) return err.message;
    throw err;
  }
}

const PARAM = /^:[A-Za-z_][A-Za-z0-9_]*$/;

/** A route path pattern: starts with `/`; `:name` segments; `*` only at the end. */
export function checkPathPattern(input: string): string | undefined {
  if (!input.startsWith('/')) return 'must start with "/"';
  if (/[?#\s]/.test(input)) return 'may not contain "?", "#" or whitespace (the query string never takes part in matching)';
  const star = input.indexOf('*');
  if (star !== -1 && star !== input.length - 1) return '"*" is only allowed at the end';
  const seen = new Set<string>();
  for (const segment of input.slice(1).split('/')) {
    if (!segment.startsWith(':')) {
      if (segment.includes(':')) return `segment "${segment}": a parameter is a whole segment like ":id"`;
      continue;
    }
    if (!PARAM.test(segment)) return `segment "${segment}": a parameter is ":" and a name like ":id"`;
    if (seen.has(segment)) return `parameter "${segment}" appears twice`;
    seen.add(segment);
  }
  return undefined;
}

export function checkPrefix(input: string): string | undefined {
  if (!input.startsWith('/')) return 'must start with "/"';
  if (/[?#*\s]/.test(input)) return 'is a literal path prefix: no "?", "#", "*" or whitespace';
  return undefined;
}
