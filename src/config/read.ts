// Typed reading of a parsed YAML document that never throws: every problem is
// recorded with its key path and line, and reading goes on so that all problems
// are reported together.

import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Document, LineCounter, Node as YamlNode, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import type { ConfigProblem } from '../errors.js';

type Resolved = Scalar | YAMLMap | YAMLSeq;

/** A value in the config: where it is and its node; `node` is null for an
 *  explicitly empty value (`key:` or `key: null`). */
export interface Value {
  readonly path: string;
  readonly node: Resolved | null;
  /** Line of the value itself. */
  readonly line: number | null;
  /** Line of the key that holds the value (the item's own line in a list). */
  readonly keyLine: number | null;
}

export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

export class Reader {
  readonly problems: ConfigProblem[] = [];
  readonly #doc: Document;
  readonly #lines: LineCounter | null;

  constructor(doc: Document, lines: LineCounter | null) {
    this.#doc = doc;
    this.#lines = lines;
  }

  report(path: string, line: number | null, message: string): void {
    this.problems.push({ path, line, message });
  }

  lineOf(node: unknown): number | null {
    if (this.#lines === null || node === null || typeof node !== 'object' || !('range' in node)) return null;
    const range = (node as YamlNode).range;
    return range ? this.#lines.linePos(range[0]).line : null;
  }

  /** Wraps a raw node (alias resolved, null scalar -> null) as a Value. */
  value(path: string, raw: unknown, keyLine: number | null): Value {
    const line = this.lineOf(raw) ?? keyLine;
    const at = { path, line, keyLine: keyLine ?? line };
    let node: unknown = raw;
    if (isAlias(node)) node = node.resolve(this.#doc);
    if (isScalar(node)) return { ...at, node: node.value === null ? null : node };
    if (isMap(node) || isSeq(node)) return { ...at, node };
    return { ...at, node: null };
  }
}

/** Damerau-Levenshtein (optimal string alignment) distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const prev = d[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (d[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(best);
    }
    d.push(row);
  }
  return d[a.length]?.[b.length] ?? Math.max(a.length, b.length);
}

export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const dist = candidate.toLowerCase() === key.toLowerCase() ? 0 : distance(key, candidate);
    const limit = Math.max(1, Math.floor(candidate.length / 3));
    if (dist <= limit && dist < bestDistance) {
      best = candidate;
      bestDistance = dist;
    }
  }
  return best;
}

/** A mapping in the config with a fixed set of known keys. Unknown keys are
 *  reported when the section is opened; an absent or empty section reads as
 *  an empty one. */
export class Section {
  readonly path: string;
  /** The line of the key that holds this section, for "required" problems. */
  readonly line: number | null;
  /** False when the section was absent, empty or not a mapping. */
  readonly present: boolean;
  readonly #entries = new Map<string, Value>();

  constructor(r: Reader, at: Value | undefined, path: string, known: readonly string[], misplaced: Readonly<Record<string, string>> = {}) {
    this.path = path;
    this.line = at?.keyLine ?? null;
    const node = at?.node ?? null;
    if (node === null) {
      this.present = false;
      return;
    }
    if (!isMap(node)) {
      r.report(path, at?.line ?? null, 'expected a mapping of keys to values');
      this.present = false;
      return;
    }
    this.present = true;
    for (const pair of node.items) {
      const keyLine = r.lineOf(pair.key) ?? this.line;
      const keyNode: unknown = isAlias(pair.key) ? null : pair.key;
      const key = isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof key !== 'string') {
        r.report(path, keyLine, 'keys must be plain strings');
        continue;
      }
      const keyPath = childPath(path, key);
      const hint = misplaced[key];
      if (hint !== undefined) {
        r.report(keyPath, keyLine, hint);
        continue;
      }
      if (!known.includes(key)) {
        const near = closest(key, known);
        r.report(keyPath, keyLine, near === undefined ? `unknown key "${key}"` : `unknown key "${key}", did you mean "${near}"?`);
        continue;
      }
      this.#entries.set(key, r.value(keyPath, pair.value, keyLine));
    }
  }

  /** The value under `key`: undefined when absent, a Value with node null when
   *  explicitly empty. */
  get(key: string): Value | undefined {
    return this.#entries.get(key);
  }

  /** Like get(), but an explicit empty value counts as absent. */
  given(key: string): Value | undefined {
    const v = this.#entries.get(key);
    return v === undefined || v.node === null ? undefined : v;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Path and line for a problem about a missing key of this section. */
  missing(key: string): { path: string; line: number | null } {
    return { path: childPath(this.path, key), line: this.line };
  }
}

/** A scalar as text. Plain scalars give their source text, so `token: 0123`
 *  stays "0123" rather than becoming the number 123. */
export function text(v: Value): string | undefined {
  const node = v.node;
  if (!isScalar(node)) return undefined;
  if (typeof node.value === 'string') return node.value;
  if (node.type === 'PLAIN' && typeof node.source === 'string') return node.source;
  if (typeof node.value === 'number' || typeof node.value === 'boolean' || typeof node.value === 'bigint') return String(node.value);
  return undefined;
}

/** A YAML number, or a string that is a plain decimal number. */
/** A YAML boolean (true/false), or undefined for anything else. */
export function flag(v: Value): boolean | undefined {
  const node = v.node;
  return isScalar(node) && typeof node.value === 'boolean' ? node.value : undefined;
}

export function numeric(v: Value): number | undefined {
  const node = v.node;
  if (!isScalar(node)) return undefined;
  if (typeof node.value === 'number') return node.value;
  if (typeof node.value === 'string' && /^-?\d+(\.\d+)?$/.test(node.value.trim())) return Number(node.value);
  return undefined;
}

/** A scalar that is a number or a string, for durations and sizes. */
export function quantity(v: Value): string | number | undefined {
  const node = v.node;
  if (!isScalar(node)) return undefined;
  return typeof node.value === 'number' || typeof node.value === 'string' ? node.value : undefined;
}

/** The items of a sequence; an empty value is an empty list; anything else is
 *  reported and reads as an empty list. */
export function items(r: Reader, v: Value): Value[] {
  if (v.node === null) return [];
  if (!isSeq(v.node)) {
    r.report(v.path, v.line, 'expected a list');
    return [];
  }
  return v.node.items.map((item, i) => {
    const value = r.value(childPath(v.path, i), item, null);
    return value.line === null ? { ...value, line: v.line, keyLine: v.line } : value;
  });
}

/** Where in the document `offset` falls, as a key path ('' when nowhere in
 *  particular). Used to give env-substitution and YAML problems a key path. */
export function pathAt(doc: Document, offset: number): string {
  let found = '';
  const visit = (node: unknown, path: string): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '?';
        const keyRange = isScalar(pair.key) ? pair.key.range : undefined;
        const valueRange = (pair.value as YamlNode | null)?.range;
        const inKey = keyRange !== undefined && keyRange !== null && keyRange[0] <= offset && offset <= keyRange[1];
        const inValue = valueRange !== undefined && valueRange !== null && valueRange[0] <= offset && offset <= valueRange[1];
        if (inKey || inValue) {
          found = childPath(path, key);
          if (inValue) visit(pair.value, found);
          return;
        }
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const range = (item as YamlNode | null)?.range;
        if (range && range[0] <= offset && offset <= range[1]) {
          found = childPath(path, i);
          visit(item, found);
        }
      });
    }
  };
  visit(doc.contents, '');
  return found;
}
