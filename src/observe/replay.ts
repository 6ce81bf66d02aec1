// "Copy as curl" for a divergence: one shell line that sends the same request
// to the live and the dark backend (to the target alone for `umbra replay`),
// with secret headers and fields left out.
import type { IncomingHttpHeaders } from 'node:http';
import type { Redactor } from './redact.js';
import { FORWARDED_HEADERS, HOP_BY_HOP } from '../http/headers.js';

const SKIP = new Set(['host', 'content-length', 'expect', ...FORWARDED_HEADERS]);
const SECRET_QUERY = /token|key|secret|pass|auth|sig|session|credential/i;
/** Request bodies above this are not put on a command line. */
export const MAX_REPLAY_BODY = 4096;

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The request target with the values of secret-looking query parameters redacted. */
export function redactTarget(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  let changed = false;
  for (const [k] of params) {
    if (SECRET_QUERY.test(k)) {
      params.set(k, 'REDACTED');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, q)}?${params.toString()}` : url;
}

export interface ReplayInput {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer | null;
  /** null when there is no live backend to send it to (`umbra replay`: live's answer was recorded). */
  readonly liveUrl: string | null;
  /** The dark backend, or the replay target. */
  readonly darkUrl: string;
  /** A request with side effects (not GET, HEAD or OPTIONS): replayed against dark only. */
  readonly write?: boolean;
}

/**
 * JSON text with its secret fields redacted; text that is not JSON as it came;
 * null when it is JSON but cannot be written back (nested past what
 * JSON.stringify can write): then it is left out, never sent unredacted.
 */
function redactedJson(text: string, redactor: Redactor): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text; // not JSON after all: no fields to redact
  }
  try {
    return JSON.stringify(redactor.redactJson(value));
  } catch {
    return null;
  }
}

export function replayCommand(input: ReplayInput, redactor: Redactor): string {
  const parts = ['curl', '-sS', '-i', '-X', input.method];
  const omitted: string[] = [];
  for (const name of Object.keys(input.headers).sort()) {
    const v = input.headers[name];
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are curl's to make.
    if (v === undefined || SKIP.has(name) || HOP_BY_HOP.has(name) || name.charCodeAt(0) === 58 /* : */) continue;
    if (redactor.isSecretHeader(name)) {
      omitted.push(name);
      continue;
    }
    for (const one of Array.isArray(v) ? v : [v]) parts.push('-H', shellQuote(`${name}: ${one}`));
  }
  if (input.body !== null && input.body.length > 0) {
    if (input.body.length > MAX_REPLAY_BODY) {
      omitted.push(`body (${input.body.length} bytes)`);
    } else {
      const text = input.body.toString('utf8');
      const type = String(input.headers['content-type'] ?? '');
      const redacted = /json/i.test(type) ? redactedJson(text, redactor) : text;
      if (redacted === null) omitted.push(`body (${input.body.length} bytes, nested too deeply to redact)`);
      else parts.push('--data-binary', shellQuote(redacted));
    }
  }
  const target = redactTarget(input.url);
  // A write would change live's data a second time: it replays against dark alone.
  const againstLive = input.liveUrl !== null && input.write !== true;
  const targets = againstLive ? `${shellQuote(input.liveUrl)} ${shellQuote(input.darkUrl)}` : shellQuote(input.darkUrl);
  const line = `for u in ${targets}; do ${parts.join(' ')} "$u"${shellQuote(target)}; echo; done`;
  const writeNote = input.write === true && input.liveUrl !== null ? ['a write: replayed against dark only'] : [];
  const notes = [...writeNote, ...(omitted.length > 0 ? [`left out: ${omitted.join(', ')}`] : [])];
  return notes.length > 0 ? `${line}  # ${notes.join('; ')}` : line;
}
