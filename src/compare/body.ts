// Body comparison by media type: JSON structurally, text by lines, the rest by
// length and hash. Bodies arrive already decoded.

import { createHash } from 'node:crypto';
import type { Collector } from './differences.js';
import { trimString } from './differences.js';
import { diffJson } from './json-diff.js';
import type { JsonRules } from './json-diff.js';
import { BigNum, parseJson } from './json-parse.js';
import type { JsonValue } from './json-parse.js';

export type BodyKind = 'json' | 'text' | 'binary';

export interface MediaType {
  readonly type: string;
  readonly charset: string | null;
}

export function parseMediaType(header: string | string[] | undefined): MediaType | null {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined) return null;
  const [type = '', ...params] = raw.split(';');
  const t = type.trim().toLowerCase();
  if (t === '') return null;
  let charset: string | null = null;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() === 'charset') {
      charset = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    }
  }
  return { type: t, charset };
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

export function decodeText(body: Buffer, charset: string | null): string {
  if (charset === null || charset === 'utf-8' || charset === 'utf8') return body.toString('utf8');
  try {
    return new TextDecoder(charset).decode(body);
  } catch {
    return body.toString('utf8'); // unknown label: best effort
  }
}

/** Compares two decoded bodies of the given kind; differences go to `out`. */
export function diffBodies(live: Buffer, dark: Buffer, mt: MediaType | null, rules: JsonRules, out: Collector): void {
  if (live.equals(dark)) return;
  const kind = bodyKind(mt);
  if (kind === 'json') {
    diffJsonBodies(live, dark, rules, out);
    return;
  }
  if (kind === 'text') {
    diffText(decodeText(live, mt?.charset ?? null), decodeText(dark, mt?.charset ?? null), out);
    return;
  }
  out.add('body', '$', 'changed', binarySummary(live), binarySummary(dark));
}

function tryParse(body: Buffer): { ok: true; value: JsonValue } | { ok: false } {
  try {
    return { ok: true, value: parseJson(body.toString('utf8')) };
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

function diffJsonBodies(live: Buffer, dark: Buffer, rules: JsonRules, out: Collector): void {
  const l = tryParse(live);
  const d = tryParse(dark);
  if (l.ok && d.ok) {
    diffJson(l.value, d.value, rules, out);
  } else if (!l.ok && !d.ok) {
    // Both broken the same way is not a type change: compare what they said.
    diffText(live.toString('utf8'), dark.toString('utf8'), out);
  } else {
    out.add('body', '$', 'type', l.ok ? jsonTypeName(l.value) : 'invalid JSON', d.ok ? jsonTypeName(d.value) : 'invalid JSON');
  }
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
    if (x === undefined) out.add('body', field, 'added', undefined, trimString(y ?? ''));
    else if (y === undefined) out.add('body', field, 'removed', trimString(x), undefined);
    else out.add('body', field, 'changed', trimString(x), trimString(y));
    return;
  }
}

export function binarySummary(b: Buffer): { bytes: number; sha256: string } {
  return { bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') };
}
