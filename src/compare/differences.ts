// Collecting differences: deduplicated by (part, field, kind), capped, and with
// values trimmed so a sample never holds a whole body.

import type { Difference, Kind, Part } from './types.js';
import { BigNum } from './json-parse.js';

/** Longest string kept in a difference value. */
export const MAX_STRING = 200;
/** Most differences kept per comparison; the rest are dropped (they are usually repeats). */
export const MAX_DIFFERENCES = 100;
/** Budget, in characters of JSON, of an object or array kept whole in a difference. */
const MAX_VALUE_CHARS = 300;

export function trimString(s: string, max = MAX_STRING): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

/**
 * A bounded, JSON-safe copy of a value: strings trimmed, BigNum as its source
 * text, small objects/arrays copied, large ones summarised as a string.
 */
export function summarise(v: unknown): unknown {
  if (typeof v === 'string') return trimString(v);
  if (v instanceof BigNum) return trimString(v.raw);
  if (v === null || typeof v !== 'object') return v;
  const budget = { left: MAX_VALUE_CHARS };
  const copy = boundedCopy(v, budget);
  if (copy !== TOO_BIG) return copy;
  return Array.isArray(v) ? `[array of ${v.length} items]` : `[object with ${Object.keys(v).length} keys]`;
}

const TOO_BIG = Symbol('too big');

function boundedCopy(v: unknown, budget: { left: number }): unknown {
  if (budget.left < 0) return TOO_BIG;
  if (typeof v === 'string') {
    budget.left -= v.length + 2;
    return budget.left < 0 ? TOO_BIG : v;
  }
  if (v instanceof BigNum) {
    budget.left -= v.raw.length + 2;
    return budget.left < 0 ? TOO_BIG : v.raw;
  }
  if (v === null || typeof v !== 'object') {
    budget.left -= 6;
    return budget.left < 0 ? TOO_BIG : v;
  }
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    budget.left -= 2;
    for (const item of v as unknown[]) {
      const c = boundedCopy(item, budget);
      if (c === TOO_BIG) return TOO_BIG;
      out.push(c);
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  budget.left -= 2;
  for (const k of Object.keys(v)) {
    budget.left -= k.length + 3;
    const c = boundedCopy((v as Record<string, unknown>)[k], budget);
    if (c === TOO_BIG) return TOO_BIG;
    // defineProperty: a "__proto__" key stays data.
    Object.defineProperty(out, k, { value: c, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export class Collector {
  readonly list: Difference[] = [];
  private readonly seen = new Set<string>();
  constructor(private readonly max = MAX_DIFFERENCES) {}

  get full(): boolean {
    return this.list.length >= this.max;
  }

  /** Adds a difference; `live`/`dark` are summarised, and omitted when the side has no value. */
  add(part: Part, field: string, kind: Kind, live: unknown, dark: unknown): void {
    if (this.full) return;
    const key = `${part}\u0000${field}\u0000${kind}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const d: Difference = { part, field, kind };
    if (kind !== 'added') d.live = summarise(live);
    if (kind !== 'removed') d.dark = summarise(dark);
    this.list.push(d);
  }
}
