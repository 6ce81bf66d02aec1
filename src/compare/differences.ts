// Collecting differences: deduplicated by (part, field, kind), capped, each
// with its first occurrences as examples, and with values shortened so a
// sample never holds a whole body (sample-value.ts says what a value can be).

import type { Difference, Example, Kind, Part } from './types.js';
import { BigNum, Bytes } from './json-parse.js';
import { CUT, exactNumber, isExactNumber, type SampleValue } from './sample-value.js';

/** Longest string (or number text) kept whole; a longer one keeps this many characters as its head. */
export const MAX_STRING = 200;
/** Characters of JSON one value may take before it is cut. */
export const MAX_VALUE_CHARS = 512;
/** Most differences kept per comparison; the walk stops there. */
export const MAX_DIFFERENCES = 100;
/** Most examples (occurrences with their values) kept per difference. */
export const MAX_EXAMPLES = 10;
/**
 * Longest field path kept, in characters. A difference 100 000 levels down has a
 * path of 300 000 characters, which would be a metric label, a log field and part
 * of every sample: past this it is cut, ending in "…" (such a path is too long to
 * paste into a rule anyway).
 */
export const MAX_FIELD_CHARS = 512;
/**
 * Characters of JSON all values of one comparison may take together. Past it a
 * new difference's values get only CUT_ROOM characters each and no more
 * examples are kept; counts go on.
 */
export const MAX_COMPARISON_CHARS = 16 * 1024;
/**
 * Room for one marker, reserved by every container that may need one, so a
 * value never exceeds its budget however deep it nests: `{"…":{"string":N,"head":""}}`
 * with N up to 2^53 is 44 characters.
 */
export const CUT_ROOM = 48;

/** A bounded copy of a value (a parsed JSON value, or a number or string), within `chars` characters of JSON. */
export function summarise(v: unknown, chars = MAX_VALUE_CHARS): SampleValue {
  return shorten(v, { left: Math.max(chars, CUT_ROOM) });
}

interface Budget {
  left: number;
}

/** Spends at most `b.left` (which must be at least CUT_ROOM) on the copy. */
function shorten(v: unknown, b: Budget): SampleValue {
  if (v === null || typeof v === 'boolean') {
    b.left -= v === false ? 5 : 4;
    return v;
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) {
      b.left -= 4;
      return null;
    }
    b.left -= String(v).length;
    return v;
  }
  if (typeof v === 'string') return text(v, 'string', b);
  if (v instanceof BigNum) return text(v.raw, 'number', b);
  if (v instanceof Bytes) return text(v.base64, 'string', b);
  if (isExactNumber(v)) return v;
  if (Array.isArray(v)) return array(v, b);
  if (typeof v === 'object') return object(v, b);
  // Not JSON (undefined inside a value, a function): as JSON.stringify writes it in an array.
  b.left -= 4;
  return null;
}

function text(s: string, type: 'string' | 'number', b: Budget): SampleValue {
  if (s.length <= MAX_STRING) {
    const cost = type === 'string' ? JSON.stringify(s).length : s.length;
    if (cost <= b.left) {
      b.left -= cost;
      return type === 'string' ? s : exactNumber(s);
    }
  }
  let head = s.slice(0, Math.max(0, Math.min(MAX_STRING, b.left - CUT_ROOM)));
  // Escapes (control characters, quotes) can make the head longer as JSON: halve until it fits.
  while (head.length > 0 && JSON.stringify(head).length - 2 > b.left - CUT_ROOM) head = head.slice(0, head.length >> 1);
  // Never end on half a surrogate pair.
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  b.left -= CUT_ROOM + JSON.stringify(head).length - 2;
  return { [CUT]: type === 'string' ? { string: s.length, head } : { number: s.length, head } };
}

function array(v: readonly unknown[], b: Budget): SampleValue {
  const out: SampleValue[] = [];
  // The brackets, and room for the marker, given back if it is not needed.
  b.left -= 2 + CUT_ROOM;
  for (const item of v) {
    const sep = out.length > 0 ? 1 : 0;
    if (b.left - sep < CUT_ROOM) break;
    b.left -= sep;
    out.push(shorten(item, b));
  }
  b.left += CUT_ROOM;
  if (out.length < v.length) {
    const more = v.length - out.length;
    out.push({ [CUT]: { items: more } });
    b.left -= 16 + String(more).length + (out.length > 1 ? 1 : 0);
  }
  return out;
}

function object(v: object, b: Budget): SampleValue {
  const out: Record<string, SampleValue> = {};
  const keys = Object.keys(v);
  let kept = 0;
  b.left -= 2 + CUT_ROOM;
  for (const k of keys) {
    // A backend's own "…" member is left out: in a sample, "…" is always a marker.
    if (k === CUT) continue;
    const cost = JSON.stringify(k).length + 1 + (kept > 0 ? 1 : 0);
    if (b.left - cost < CUT_ROOM) break;
    b.left -= cost;
    // defineProperty: a "__proto__" key stays data.
    Object.defineProperty(out, k, { value: shorten((v as Record<string, unknown>)[k], b), enumerable: true, writable: true, configurable: true });
    kept++;
  }
  b.left += CUT_ROOM;
  if (kept < keys.length) {
    const more = keys.length - kept;
    out[CUT] = { keys: more };
    b.left -= 14 + String(more).length + (kept > 0 ? 1 : 0);
  }
  return out;
}

interface Entry {
  readonly d: Difference;
  count: number;
}

export class Collector {
  readonly list: Difference[] = [];
  private readonly seen = new Map<string, Entry>();
  /** Characters of JSON left for values in this comparison (MAX_COMPARISON_CHARS). */
  private left = MAX_COMPARISON_CHARS;

  constructor(private readonly max = MAX_DIFFERENCES) {}

  get full(): boolean {
    return this.list.length >= this.max;
  }

  /**
   * Adds one occurrence of a difference. The first occurrence of a (part, field,
   * kind) makes the difference; later ones add an example (up to MAX_EXAMPLES,
   * while the comparison's budget lasts) and count. `live`/`dark` are shortened,
   * and omitted when the side has no value (`added`: no live, `removed`: no dark).
   */
  add(part: Part, fullField: string, kind: Kind, live: unknown, dark: unknown, times = 1): void {
    const field = fullField.length <= MAX_FIELD_CHARS ? fullField : `${fullField.slice(0, MAX_FIELD_CHARS - 1)}…`;
    const key = `${part}\u0000${field}\u0000${kind}`;
    const known = this.seen.get(key);
    if (known !== undefined) {
      this.again(known, kind, live, dark, times);
      return;
    }
    if (this.full) return;
    const d: Difference = { part, field, kind, ...this.example(kind, live, dark) };
    const e = { d, count: 1 };
    this.seen.set(key, e);
    this.list.push(d);
    if (times > 1) this.again(e, kind, live, dark, times - 1);
  }

  /** `times` more occurrences: each counts, and adds an example while there is room (as many calls of one would). */
  private again(e: Entry, kind: Kind, live: unknown, dark: unknown, times: number): void {
    e.count += times;
    const d = e.d;
    d.count = e.count;
    // The first example shares its values with live/dark.
    const examples = (d.examples ??= [firstExample(d)]);
    for (let i = 0; i < times && examples.length < MAX_EXAMPLES && this.left >= 2 * CUT_ROOM; i++) examples.push(this.example(kind, live, dark));
  }

  /**
   * One occurrence's values, each side within half of what is left, at most
   * MAX_VALUE_CHARS, never under CUT_ROOM (a difference always shows something).
   */
  private example(kind: Kind, live: unknown, dark: unknown): Example {
    const ex: Example = {};
    const chars = Math.max(CUT_ROOM, Math.min(MAX_VALUE_CHARS, Math.floor(this.left / 2)));
    if (kind !== 'added') ex.live = this.spend(live, chars);
    if (kind !== 'removed') ex.dark = this.spend(dark, chars);
    return ex;
  }

  private spend(v: unknown, chars: number): SampleValue {
    const b = { left: chars };
    const copy = shorten(v, b);
    this.left = Math.max(0, this.left - (chars - b.left));
    return copy;
  }
}

function firstExample(d: Difference): Example {
  const ex: Example = {};
  if (d.live !== undefined) ex.live = d.live;
  if (d.dark !== undefined) ex.dark = d.dark;
  return ex;
}
