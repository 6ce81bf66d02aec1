// Field paths (DESIGN §4): the one grammar for every path written in the config
// (compare.ignore, unordered, keyed, allowAdded, tolerances, redact.fields) and
// every path umbra reports. This module reads and writes the text only; the
// automaton that matches paths against a JSON walk is compare/paths.ts, which
// imports this one. It lives in config/ because config sits below compare in
// the import order and validation must use the very parser the engine uses.
//
//   path = "$" step*
//   step = "." name | ".*" | "[" ( "*" | json-string | digits ) "]"
//        | ".." ( name | "*" | "[" ... "]" )            any depth below
//   name = [A-Za-z_$][A-Za-z0-9_$]*
//
// `[N]` (one array index) is an extension kept for configs written before the
// grammar (`$.items[0]`); reported paths never contain it, every index is `[*]`.

import { PathSyntaxError } from '../errors.js';

/** One step of a parsed path; `deep` means "at any depth below" (`..`). */
export type FieldStep =
  | { readonly kind: 'key'; readonly name: string; readonly deep: boolean }
  | { readonly kind: 'anyKey'; readonly deep: boolean }
  | { readonly kind: 'anyIndex'; readonly deep: boolean }
  | { readonly kind: 'index'; readonly n: number; readonly deep: boolean };

/** The most steps a path may have (the matcher packs a position into 8 bits). */
export const MAX_PATH_STEPS = 255;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Whether a key may be written `.key` (otherwise it is written `["key"]`). */
export function isIdentifier(key: string): boolean {
  return IDENT.test(key);
}

/** The canonical text of any array index. */
export const INDEX_STEP = '[*]';

/** Canonical text of one key step: `.key`, or `["we ird"]` for a key that is not an identifier. */
export function keyStep(key: string): string {
  return IDENT.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** Parses a field path; throws PathSyntaxError (with the position and, where one is clear, the fix). */
export function parseFieldPath(path: string): FieldStep[] {
  return new Parser(path).parse();
}

/** Writes steps in canonical form; `parseFieldPath(formatFieldPath(s))` gives `s` back. */
export function formatFieldPath(steps: readonly FieldStep[]): string {
  let s = '$';
  for (const step of steps) {
    const dots = step.deep ? '..' : '';
    switch (step.kind) {
      case 'key':
        s += step.deep ? (IDENT.test(step.name) ? `..${step.name}` : `..[${JSON.stringify(step.name)}]`) : keyStep(step.name);
        break;
      case 'anyKey':
        s += `${step.deep ? '..' : '.'}*`;
        break;
      case 'anyIndex':
        s += `${dots}${INDEX_STEP}`;
        break;
      case 'index':
        s += `${dots}[${step.n}]`;
        break;
    }
  }
  return s;
}

/** A written path in canonical form (`$["name"]` → `$.name`, `$.a[007]` → `$.a[7]`); throws PathSyntaxError. */
export function canonicalPath(path: string): string {
  return formatFieldPath(parseFieldPath(path));
}

const WHITESPACE = /\s/;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const HEX4 = /^[0-9A-Fa-f]{4}$/;

class Parser {
  readonly #path: string;
  #i = 1;
  readonly #steps: FieldStep[] = [];

  constructor(path: string) {
    this.#path = path;
  }

  parse(): FieldStep[] {
    const p = this.#path;
    if (p === '') throw new PathSyntaxError(p, 'empty; the whole body is $');
    if (WHITESPACE.test(p[0] ?? '')) this.#fail(0, 'whitespace outside quotes');
    if (p[0] !== '$') this.#fail(0, `must start with "$"${this.#fix(p.startsWith('.') || p.startsWith('[') ? `$${p}` : `$.${p}`)}`);
    while (this.#i < p.length) {
      const at = this.#i;
      const c = p[at] ?? '';
      if (c === '.') this.#dots(at);
      else if (c === '[') this.#bracket(at, false);
      else if (WHITESPACE.test(c)) this.#fail(at, 'whitespace outside quotes');
      else if (c === '$') this.#fail(at, '"$" (the root) comes only first');
      else this.#fail(at, `unexpected ${JSON.stringify(c)}: a step starts with ".", ".." or "["${this.#fix(`${p.slice(0, at)}.${p.slice(at)}`)}`);
      if (this.#steps.length > MAX_PATH_STEPS) this.#fail(at, `more than ${MAX_PATH_STEPS} steps`);
    }
    return this.#steps;
  }

  /** `.name`, `.*`, `..name`, `..*`, `..[...]`; `at` is the first dot. */
  #dots(at: number): void {
    const p = this.#path;
    const deep = p[at + 1] === '.';
    if (deep && p[at + 2] === '.') this.#fail(at, '"..." is not a step; ".." (any depth) is followed by a key, * or [...]');
    const start = at + (deep ? 2 : 1);
    if (start >= p.length) this.#fail(at, deep ? 'trailing "..": follow it with a key, * or [...]' : 'trailing ".": follow it with a key or *');
    const c = p[start] ?? '';
    if (c === '[') {
      if (!deep) this.#fail(at, `empty key between "." and "["; write ${p.slice(0, at)}${p.slice(start)}`);
      this.#bracket(start, true);
      return;
    }
    if (c === '"') {
      const { name, end } = this.#string(start);
      this.#fail(at, `a quoted key goes in brackets; write ${p.slice(0, at)}${deep ? '..' : ''}[${JSON.stringify(name)}]${p.slice(end)}`);
    }
    let end = start;
    while (end < p.length && p[end] !== '.' && p[end] !== '[') end++;
    const name = p.slice(start, end);
    if (name === '*') this.#steps.push({ kind: 'anyKey', deep });
    else if (IDENT.test(name)) this.#steps.push({ kind: 'key', name, deep });
    else {
      const space = WHITESPACE.test(name[0] ?? '') ? start : WHITESPACE.test(name.at(-1) ?? '') ? end - 1 : -1;
      if (space >= 0) this.#fail(space, 'whitespace outside quotes');
      const fix = (step: string): string => `${p.slice(0, at)}${deep ? '..' : ''}${step}${p.slice(end)}`;
      const index = !deep && /^\d+$/.test(name) ? ` (the key), or ${fix(`[${name}]`)} (an array index)` : '';
      this.#fail(start, `${JSON.stringify(name)} is not an identifier; write ${fix(`[${JSON.stringify(name)}]`)}${index}`);
    }
    this.#i = end;
  }

  /** `[*]`, `[N]`, `["key"]` from the `[` at `open`. */
  #bracket(open: number, deep: boolean): void {
    const p = this.#path;
    const c = p[open + 1];
    let close: number;
    if (c === undefined) this.#fail(open, 'unclosed "["');
    if (c === '*') {
      close = open + 2;
      this.#steps.push({ kind: 'anyIndex', deep });
    } else if (c === '"') {
      const { name, end } = this.#string(open + 1);
      close = end;
      this.#steps.push({ kind: 'key', name, deep });
    } else if (c >= '0' && c <= '9') {
      close = open + 1;
      while (close < p.length && (p[close] ?? '') >= '0' && (p[close] ?? '') <= '9') close++;
      const n = Number(p.slice(open + 1, close));
      if (!Number.isSafeInteger(n)) this.#fail(open + 1, 'array index too large');
      this.#steps.push({ kind: 'index', n, deep });
    } else if (WHITESPACE.test(c)) {
      this.#fail(open + 1, 'whitespace outside quotes');
    } else {
      this.#badBracket(open);
    }
    if (close >= p.length) this.#fail(open, 'unclosed "["');
    if (p[close] !== ']') {
      if (WHITESPACE.test(p[close] ?? '')) this.#fail(close, 'whitespace outside quotes');
      this.#badBracket(open);
    }
    this.#i = close + 1;
  }

  /** Brackets holding something else: `['a']`, `[a-b]`, `[1x]`. */
  #badBracket(open: number): never {
    const p = this.#path;
    if (p[open + 1] === "'") {
      const end = p.indexOf("'", open + 2);
      const fix = end > 0 && p[end + 1] === ']' ? `; write ${p.slice(0, open)}[${JSON.stringify(p.slice(open + 2, end))}]${p.slice(end + 2)}` : '';
      this.#fail(open + 1, `a key in brackets is a JSON string in double quotes${fix}`);
    }
    const close = p.indexOf(']', open);
    if (close < 0) this.#fail(open, 'unclosed "["');
    const inner = p.slice(open + 1, close);
    const fix = `${p.slice(0, open)}[${JSON.stringify(inner)}]${p.slice(close + 1)}`;
    this.#fail(open + 1, `[${inner}] is not a step: brackets hold *, an array index or a key as a JSON string (write ${fix})`);
  }

  /** A JSON string from the `"` at `open`: its value and the index just past the closing quote. */
  #string(open: number): { name: string; end: number } {
    const p = this.#path;
    let name = '';
    let run = open + 1;
    for (let k = open + 1; k < p.length; k++) {
      const ch = p.charCodeAt(k);
      if (ch === 0x22) return { name: name + p.slice(run, k), end: k + 1 };
      if (ch < 0x20) this.#fail(k, `control character in a quoted key; write it as ${JSON.stringify(p[k]).slice(1, -1)}`);
      if (ch !== 0x5c) continue;
      name += p.slice(run, k);
      const e = p[k + 1];
      if (e === undefined) break;
      const simple = ESCAPES[e];
      if (simple !== undefined) {
        name += simple;
        k += 1;
      } else if (e === 'u' && HEX4.test(p.slice(k + 2, k + 6))) {
        name += String.fromCharCode(parseInt(p.slice(k + 2, k + 6), 16));
        k += 5;
      } else {
        const shown = e === 'u' ? 2 + (/^[0-9A-Fa-f]{0,3}/.exec(p.slice(k + 2))?.[0].length ?? 0) : 2;
        this.#fail(k, `bad escape ${JSON.stringify(p.slice(k, k + shown))} in a quoted key (JSON escapes: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)`);
      }
      run = k + 1;
    }
    this.#fail(open, 'unclosed quote');
  }

  /** `; write <candidate>` when the candidate is a path, else nothing. */
  #fix(candidate: string): string {
    try {
      parseFieldPath(candidate);
      return `; write ${candidate}`;
    } catch {
      return '';
    }
  }

  #fail(at: number, detail: string): never {
    throw new PathSyntaxError(this.#path, detail, at);
  }
}
