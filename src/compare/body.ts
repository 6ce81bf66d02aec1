// Body comparison by media type: JSON structurally, text by lines, the rest by
// length and hash. Bodies arrive with their content codings undone.
//
// Each side is decoded strictly, with its own declared charset: bytes that do
// not decode are never turned into U+FFFD (two different bodies would then read
// the same); such a pair is compared as bytes instead.

import { createHash } from 'node:crypto';
import { TextDecoder } from 'node:util';
import type { Collector } from './differences.js';
import { diffJson } from './json-diff.js';
import type { JsonRules } from './json-diff.js';
import { BigNum, maybeLossyBytes, parseJson } from './json-parse.js';
import type { JsonValue } from './json-parse.js';

export type BodyKind = 'json' | 'text' | 'binary';

/** A parsed media type (RFC 9110 §8.3.1): `type/subtype *( OWS ";" OWS [ name=value ] )`. */
export interface MediaType {
  /** `type/subtype`, lower case. */
  readonly type: string;
  /** The first `charset` parameter, unquoted, lower case, ASCII whitespace trimmed; null when none. */
  readonly charset: string | null;
  /** Every parameter in order: name lower case, value unquoted and as sent. */
  readonly params: readonly (readonly [name: string, value: string])[];
  /** False when a parameter broke the grammar (it is kept as read, or skipped when it has no `=`). */
  readonly wellFormed: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const isOws = (c: string | undefined): boolean => c === ' ' || c === '\t';

function skipOws(s: string, i: number): number {
  while (isOws(s[i])) i++;
  return i;
}

/**
 * Parses a Content-Type value; null when there is none or `type/subtype` is not
 * two tokens. Malformed parameters do not fail the parse: they clear `wellFormed`.
 */
export function parseMediaType(header: string | string[] | undefined): MediaType | null {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined) return null;
  // A service answers with a handful of content types, each pair reads them several times.
  const known = MEDIA_TYPES.get(raw);
  if (known !== undefined) return known;
  const parsed = parseMediaTypeValue(raw);
  if (MEDIA_TYPES.size >= MEDIA_TYPES_KEPT) MEDIA_TYPES.clear();
  MEDIA_TYPES.set(raw, parsed);
  return parsed;
}

/** Parsed Content-Type values kept (the results are immutable; the map is emptied when full). */
const MEDIA_TYPES_KEPT = 64;
const MEDIA_TYPES = new Map<string, MediaType | null>();

function parseMediaTypeValue(raw: string): MediaType | null {
  const semi = raw.indexOf(';');
  const essence = (semi < 0 ? raw : raw.slice(0, semi)).replace(/^[ \t]+|[ \t]+$/g, '');
  const slash = essence.indexOf('/');
  if (slash < 0 || !TOKEN.test(essence.slice(0, slash)) || !TOKEN.test(essence.slice(slash + 1))) return null;
  const params: [string, string][] = [];
  let wellFormed = true;
  let i = semi < 0 ? raw.length : semi;
  while (i < raw.length) {
    // raw[i] is ';'
    i = skipOws(raw, i + 1);
    if (i >= raw.length || raw[i] === ';') continue; // an empty parameter is allowed
    let j = i;
    while (j < raw.length && raw[j] !== '=' && raw[j] !== ';') j++;
    const name = raw.slice(i, j);
    if (raw[j] !== '=' || !TOKEN.test(name)) {
      wellFormed = false;
      i = raw.indexOf(';', j);
      if (i < 0) break;
      continue;
    }
    j++;
    let value = '';
    if (raw[j] === '"') {
      let closed = false;
      for (j++; j < raw.length; j++) {
        const c = raw[j];
        if (c === '"') {
          closed = true;
          j++;
          break;
        }
        if (c === '\\' && j + 1 < raw.length) j++;
        value += raw[j];
      }
      if (!closed) wellFormed = false;
    } else {
      const start = j;
      while (j < raw.length && raw[j] !== ';' && !isOws(raw[j])) j++;
      value = raw.slice(start, j);
      if (!TOKEN.test(value)) wellFormed = false;
    }
    j = skipOws(raw, j);
    if (j < raw.length && raw[j] !== ';') {
      wellFormed = false; // text after the value: keep the value, drop the rest
      j = raw.indexOf(';', j);
      if (j < 0) j = raw.length;
    }
    params.push([name.toLowerCase(), value]);
    i = j;
  }
  const cs = params.find(([n]) => n === 'charset');
  const charset = cs === undefined ? null : cs[1].replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '').toLowerCase();
  return Object.freeze({ type: essence.toLowerCase(), charset, params: Object.freeze(params), wellFormed });
}

/**
 * True when two Content-Type values name the same media type: type/subtype and
 * parameter names case-insensitive, parameter order, optional whitespace and
 * quoting ignored, charset values case-insensitive with the spellings of UTF-8
 * as one. Other values compare exactly. A value that does not parse cleanly is
 * equal only to the same text.
 */
export function sameMediaType(a: string, b: string): boolean {
  if (a === b) return true;
  const x = parseMediaType(a);
  const y = parseMediaType(b);
  if (x === null || y === null || !x.wellFormed || !y.wellFormed) return false;
  if (x.type !== y.type || x.params.length !== y.params.length) return false;
  const px = canonicalParams(x);
  const py = canonicalParams(y);
  return px.every((p, i) => p === py[i]);
}

function canonicalParams(mt: MediaType): string[] {
  // Stable sort by name: repeated names keep their order (the first one wins for readers).
  return mt.params
    .map(([n, v]) => `${n}=${n === 'charset' ? charsetKey(v) : v}`)
    .sort((p, q) => {
      const np = p.slice(0, p.indexOf('='));
      const nq = q.slice(0, q.indexOf('='));
      return np < nq ? -1 : np > nq ? 1 : 0;
    });
}

/**
 * The charset label as compared in headers: lower case, and every label the
 * Encoding Standard maps to UTF-8 (`utf8`, `unicode-1-1-utf-8`) as `utf-8`.
 * Other aliases stay apart: the Encoding Standard folds charsets that other
 * clients tell apart (`us-ascii` and `iso-8859-1` are windows-1252 to it,
 * `utf-16` is utf-16le), so a change between them is reported.
 */
function charsetKey(label: string): string {
  const l = label.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '').toLowerCase();
  return decoderFor(l)?.encoding === 'utf-8' ? 'utf-8' : l;
}

const TEXT_TYPES = new Set([
  'application/xml',
  'application/javascript',
  'application/ecmascript',
  'application/x-www-form-urlencoded',
  'application/x-ndjson',
  'application/yaml',
  'application/x-yaml',
  'application/graphql',
  'application/csv',
  'application/sql',
]);

export function bodyKind(mt: MediaType | null): BodyKind {
  if (mt === null) return 'binary';
  const t = mt.type;
  if (t === 'application/json' || t.endsWith('+json')) return 'json';
  if (t.startsWith('text/') || t.endsWith('+xml') || TEXT_TYPES.has(t)) return 'text';
  return 'binary';
}

// Fatal decoders, one per label (a TextDecoder is reusable: decode() without
// `stream` starts afresh, also after an error). Known labels are a fixed set of
// about 200, so the map stays small; unknown labels are remembered up to a cap.
// The BOM of the decoder's own encoding is dropped (ignoreBOM false), as every
// Encoding Standard reader does: a BOM alone never makes a difference.
const decoders = new Map<string, TextDecoder | null>();
const MAX_UNKNOWN_LABELS = 64;
let unknownLabels = 0;

function decoderFor(label: string): TextDecoder | null {
  const known = decoders.get(label);
  if (known !== undefined) return known;
  let d: TextDecoder | null = null;
  try {
    d = new TextDecoder(label, { fatal: true });
  } catch {
    // RangeError ERR_ENCODING_NOT_SUPPORTED: a label this runtime's ICU does not know.
  }
  if (d !== null || unknownLabels++ < MAX_UNKNOWN_LABELS) decoders.set(label, d);
  return d;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The decoder for one side's body: its declared charset, UTF-8 without one.
 * (The RFC default for text/plain is US-ASCII, RFC 2046 and 6657, which UTF-8
 * reads the same; JSON is UTF-8, RFC 8259 §8.1.) An unknown label: null for
 * text (its bytes are compared), UTF-8 for JSON, whose media type defines no
 * charset parameter.
 */
function decoderOf(mt: MediaType | null): TextDecoder | null {
  if (mt === null || mt.charset === null) return UTF8;
  return decoderFor(mt.charset) ?? (bodyKind(mt) === 'json' ? UTF8 : null);
}

/** The body as text under `mt`'s charset; null when the label is unknown or the bytes do not decode. */
export function decodeText(body: Buffer, mt: MediaType | null): string | null {
  const d = decoderOf(mt);
  if (d === null) return null;
  try {
    return d.decode(body);
  } catch {
    return null; // TypeError ERR_ENCODING_INVALID_ENCODED_DATA
  }
}

/**
 * Compares two bodies whose bytes may differ; each side has its own media type
 * (`live` and `dark` may declare different ones). Differences go to `out`.
 */
export function diffBodies(
  live: Buffer,
  dark: Buffer,
  liveType: MediaType | null,
  darkType: MediaType | null,
  rules: JsonRules,
  out: Collector,
): void {
  if (live.equals(dark)) return;
  const how = readAs(liveType, darkType);
  if (how === 'json') diffJsonBodies(live, dark, liveType, darkType, rules, out);
  else if (how === 'text') diffTextBodies(live, dark, liveType, darkType, out);
  else diffBytes(live, dark, out);
}

/** How diffBodies reads bodies of these types: as JSON when either is, as text when both are, else as bytes. */
function readAs(liveType: MediaType | null, darkType: MediaType | null): 'json' | 'text' | 'bytes' {
  const lk = bodyKind(liveType);
  const dk = bodyKind(darkType);
  return lk === 'json' || dk === 'json' ? 'json' : lk === 'text' && dk === 'text' ? 'text' : 'bytes';
}

/** Whether diffBodies parses bodies of these types (as JSON or text), rather than comparing their bytes. */
export function bodiesParsed(liveType: MediaType | null, darkType: MediaType | null): boolean {
  return readAs(liveType, darkType) !== 'bytes';
}

type Parsed = { ok: true; value: JsonValue } | { ok: false };

/** `text` is `body` decoded under `mt` (decodeText), null when it does not decode. */
function tryParse(text: string | null, body: Buffer, mt: MediaType | null): Parsed {
  if (text === null) return { ok: false };
  // In UTF-8 a digit, a dot or an "e" is one byte: the pre-scan reads the bytes.
  const mayBeLossy = decoderOf(mt)?.encoding !== 'utf-8' || maybeLossyBytes(body);
  try {
    return { ok: true, value: parseJson(text, mayBeLossy) };
  } catch {
    return { ok: false };
  }
}

function jsonTypeName(v: JsonValue): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof BigNum) return 'number';
  return typeof v;
}

/** At least one side is JSON by media type: both are tried as JSON. */
function diffJsonBodies(
  live: Buffer,
  dark: Buffer,
  liveType: MediaType | null,
  darkType: MediaType | null,
  rules: JsonRules,
  out: Collector,
): void {
  // Both texts first, while the heap holds little else (heap-room.ts).
  const lt = decodeText(live, liveType);
  const dt = decodeText(dark, darkType);
  const l = tryParse(lt, live, liveType);
  const d = tryParse(dt, dark, darkType);
  if (l.ok && d.ok) diffJson(l.value, d.value, rules, out);
  else if (l.ok || d.ok) {
    out.add('body', '$', 'type', l.ok ? jsonTypeName(l.value) : 'invalid JSON', d.ok ? jsonTypeName(d.value) : 'invalid JSON');
  } else {
    // Both broken the same way is not a type change: compare what they said.
    diffTextBodies(live, dark, liveType, darkType, out);
  }
}

/** By lines when both sides decode, by bytes otherwise. Bytes that decode to the same text match. */
function diffTextBodies(live: Buffer, dark: Buffer, liveType: MediaType | null, darkType: MediaType | null, out: Collector): void {
  const l = decodeText(live, liveType);
  const d = l === null ? null : decodeText(dark, darkType);
  if (l === null || d === null) diffBytes(live, dark, out);
  else diffText(l, d, out);
}

/** Bodies known to differ (diffBodies checked), compared as bytes. */
function diffBytes(live: Buffer, dark: Buffer, out: Collector): void {
  out.add('body', '$', 'changed', binarySummary(live), binarySummary(dark));
}

/** Reports the first differing line only: `line:<n>` (1-based). */
export function diffText(live: string, dark: string, out: Collector): void {
  if (live === dark) return;
  const a = live.split('\n');
  const b = dark.split('\n');
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    const field = `line:${i + 1}`;
    if (x === undefined) out.add('body', field, 'added', undefined, y ?? '');
    else if (y === undefined) out.add('body', field, 'removed', x, undefined);
    else out.add('body', field, 'changed', x, y);
    return;
  }
}

export function binarySummary(b: Buffer): { bytes: number; sha256: string } {
  return { bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') };
}
