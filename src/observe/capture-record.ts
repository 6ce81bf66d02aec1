// One captured exchange as a JSON line (DESIGN §10), secrets redacted. Pure and
// synchronous: it runs in the capture worker (capture-worker.ts), never on the
// event loop that serves live traffic, because redacting a JSON body means
// parsing it.
//
// A body that cannot be redacted with certainty (content-encoded, or declared
// JSON that does not parse, or JSON in a charset other than UTF-8) while
// `redact.fields` is set is never written: `body` is null and `bodyOmitted`
// says why. A body with nothing to redact keeps its bytes exactly; one with a
// redacted field is written anew (compact JSON, exact numbers kept) and its
// content-length follows.
import type { JsonValue } from '../compare/index.js';
import { BigNum, exactNumber, parseJson, writeJson } from '../compare/index.js';
import { bodyKind, decodeText, parseMediaType } from '../compare/body.js';
import { HOP_BY_HOP, SHADOW_MARKER, connectionListed } from '../http/headers.js';
import { REDACTED, type Redactor } from './redact.js';

/** Format version written as `v`. */
export const CAPTURE_VERSION = 1;

/** The value of `bodyOmitted`: the body was left out because redacting it was not certain. */
export const CANNOT_REDACT = 'cannot redact';

/** What the live path hands over for one exchange (bodies are whole; headers flat `[name, value, ...]`). */
export interface CaptureInput {
  /** ms since the epoch, when the request arrived. */
  readonly time: number;
  readonly route: string;
  readonly method: string;
  /** The request target as the client sent it (path and query). */
  readonly path: string;
  /** The client's raw headers (hop-by-hop ones are left out here). */
  readonly requestHeaders: readonly string[];
  readonly requestBody: Uint8Array;
  readonly status: number;
  /** The live answer's headers as sent to the client (hop-by-hop ones already gone). */
  readonly liveHeaders: readonly string[];
  readonly liveBody: Uint8Array;
  /** Time to the live answer's last byte. */
  readonly ms: number;
}

type Headers = Record<string, string | string[]>;

interface WrittenBody {
  readonly body: string | null;
  readonly bodyOmitted?: typeof CANNOT_REDACT;
}

/** Header values umbra never records: hop-by-hop ones, `expect`, the shadow marker a client might send. */
function requestHeaderSkipped(lower: string, listed: ReadonlySet<string> | null): boolean {
  return HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower)) || lower === 'expect' || lower === SHADOW_MARKER;
}

/**
 * Flat raw headers as an object: lower-case names, a repeated field as an array
 * of its values in order, a secret's every value `[REDACTED]`. Null prototype:
 * a field named `__proto__` stays a field.
 */
export function headerObject(raw: readonly string[], redactor: Redactor, isRequest: boolean): Headers {
  let listed: Set<string> | null = null;
  if (isRequest) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if ((raw[i] as string).toLowerCase() !== 'connection') continue;
      const more = connectionListed(raw[i + 1]);
      if (more !== null) for (const n of more) (listed ??= new Set()).add(n);
    }
  }
  const out = Object.create(null) as Headers;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (isRequest && requestHeaderSkipped(lower, listed)) continue;
    const value = redactor.isSecretHeader(lower) ? REDACTED : (raw[i + 1] as string);
    const prev = out[lower];
    if (prev === undefined) out[lower] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[lower] = [prev, value];
  }
  return out;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Numbers a double would round (BigNum) as the exact numbers redactJson and writeJson keep digit for digit. */
function withExactNumbers(v: JsonValue): unknown {
  if (v instanceof BigNum) return exactNumber(v.raw);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(withExactNumbers);
  const out = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(v)) out[k] = withExactNumbers(v[k] as JsonValue);
  return out;
}

const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'us-ascii', 'ascii']);

/** True when the first byte that is not white space opens a JSON object or array. */
function looksLikeJson(body: Uint8Array): boolean {
  for (const b of body) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b /* { */ || b === 0x5b /* [ */;
  }
  return false;
}

const OMITTED: WrittenBody = { body: null, bodyOmitted: CANNOT_REDACT };

/**
 * The body as written: base64 (an empty body is ""), with `redact.fields`
 * applied to JSON, or left out when redacting it is not certain. `headers` is
 * the message's header object; its content-length is updated when the body is
 * rewritten.
 */
export function writtenBody(body: Uint8Array, headers: Headers, redactor: Redactor, redactFields: boolean): WrittenBody {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (!redactFields || bytes.length === 0) return { body: bytes.toString('base64') };
  const encoding = first(headers['content-encoding'])?.trim().toLowerCase();
  // Compressed bytes cannot be searched for fields; decoding them here would be a decompression bomb's door.
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') return OMITTED;
  const mt = parseMediaType(headers['content-type']);
  const declaredJson = bodyKind(mt) === 'json';
  // Undeclared bodies that look like JSON are treated as JSON: a missing header must not let a password through.
  if (!declaredJson && !(mt === null && looksLikeJson(bytes))) return { body: bytes.toString('base64') };
  if (mt !== null && mt.charset !== null && !UTF8_LABELS.has(mt.charset)) return OMITTED;
  const text = decodeText(bytes, mt);
  if (text === null) return OMITTED;
  let before: string;
  let after: string;
  try {
    const value = withExactNumbers(parseJson(text));
    before = writeJson(value);
    after = writeJson(redactor.redactJson(value));
  } catch {
    // Not JSON (or nested past the call stack): what it holds cannot be told.
    return OMITTED;
  }
  if (after === before) return { body: bytes.toString('base64') };
  const rewritten = Buffer.from(after, 'utf8');
  if (headers['content-length'] !== undefined) headers['content-length'] = String(rewritten.length);
  return { body: rewritten.toString('base64') };
}

/** The JSON line for one exchange (without its newline). `id` is unique per record. */
export function captureLine(input: CaptureInput, id: string, redactor: Redactor, redactFields: boolean): string {
  const reqHeaders = headerObject(input.requestHeaders, redactor, true);
  const liveHeaders = headerObject(input.liveHeaders, redactor, false);
  const reqBody = writtenBody(input.requestBody, reqHeaders, redactor, redactFields);
  const liveBody = writtenBody(input.liveBody, liveHeaders, redactor, redactFields);
  return JSON.stringify({
    v: CAPTURE_VERSION,
    id,
    time: new Date(input.time).toISOString(),
    route: input.route,
    request: { method: input.method, path: input.path, headers: reqHeaders, ...reqBody },
    live: { status: input.status, headers: liveHeaders, ...liveBody, ms: Math.round(input.ms * 10) / 10 },
  });
}
