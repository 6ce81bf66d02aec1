// Field paths: parsing the configured patterns ($.a.b, $.items[*].id, $..name)
// into a small automaton that advances as a JSON walker descends, and writing
// canonical paths ($.items[*].price, $["we ird"]).
import { PathSyntaxError } from '../errors.js';

/** One step of a concrete path: an object key or an array index (null = unknown index). */
export type Segment = string | number | null;

type Token =
  | { readonly kind: 'key'; readonly name: string; readonly deep: boolean }
  | { readonly kind: 'anyKey'; readonly deep: boolean }
  | { readonly kind: 'anyIndex'; readonly deep: boolean }
  | { readonly kind: 'index'; readonly n: number; readonly deep: boolean };

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export { PathSyntaxError };

/** Parses `$.a`, `$["a b"]`, `$.a[*]`, `$.a[3]`, `$..a`, `$.*`. */
export function parsePath(path: string): Token[] {
  if (!path.startsWith('$')) throw new PathSyntaxError(path, 'must start with $');
  const tokens: Token[] = [];
  let i = 1;
  while (i < path.length) {
    let deep = false;
    if (path.startsWith('..', i)) {
      deep = true;
      i += 2;
      if (path[i] === '[') {
        i = bracket(path, i, deep, tokens);
        continue;
      }
    } else if (path[i] === '.') {
      i += 1;
    } else if (path[i] === '[') {
      i = bracket(path, i, deep, tokens);
      continue;
    } else {
      throw new PathSyntaxError(path, `unexpected ${JSON.stringify(path[i])} at ${i}`);
    }
    let j = i;
    while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
    const name = path.slice(i, j);
    if (name === '') throw new PathSyntaxError(path, `empty key at ${i}`);
    tokens.push(name === '*' ? { kind: 'anyKey', deep } : { kind: 'key', name, deep });
    i = j;
  }
  return tokens;
}

function bracket(path: string, i: number, deep: boolean, tokens: Token[]): number {
  const close = path[i + 1] === '"' ? closingQuote(path, i + 1) + 1 : path.indexOf(']', i);
  if (close < 0 || path[close] !== ']') throw new PathSyntaxError(path, `unclosed [ at ${i}`);
  const inner = path.slice(i + 1, close);
  if (inner === '*') tokens.push({ kind: 'anyIndex', deep });
  else if (/^\d+$/.test(inner)) tokens.push({ kind: 'index', n: Number(inner), deep });
  else if (inner.startsWith('"')) {
    let name: unknown;
    try {
      name = JSON.parse(inner);
    } catch {
      throw new PathSyntaxError(path, `bad quoted key at ${i}`);
    }
    tokens.push({ kind: 'key', name: String(name), deep });
  } else throw new PathSyntaxError(path, `bad [${inner}] at ${i}`);
  return close + 1;
}

function closingQuote(path: string, open: number): number {
  for (let k = open + 1; k < path.length; k++) {
    if (path[k] === '\\') k++;
    else if (path[k] === '"') return k;
  }
  throw new PathSyntaxError(path, `unclosed quote at ${open}`);
}

/** Canonical step text: `.key`, `["we ird"]`, `[*]` for any index. */
export function keyStep(key: string): string {
  return IDENT.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

export const INDEX_STEP = '[*]';

/** Parses a canonical reported path back into segments (indices unknown). */
export function canonicalSegments(field: string): Segment[] | null {
  let tokens: Token[];
  try {
    tokens = parsePath(field);
  } catch {
    return null;
  }
  const out: Segment[] = [];
  for (const t of tokens) {
    if (t.deep) return null;
    if (t.kind === 'key') out.push(t.name);
    else if (t.kind === 'anyIndex' || t.kind === 'index') out.push(null);
    else return null;
  }
  return out;
}

/**
 * Automaton states: a sorted array of (pattern << 8 | position). The empty
 * array is shared so a walk under no pattern allocates nothing.
 */
export type States = readonly number[];
const NONE: States = Object.freeze([]);

/** A compiled set of path patterns; `matched(states)` says a node is selected. */
export class PathSet {
  private readonly patterns: Token[][];
  private readonly initial: States;

  constructor(paths: readonly string[]) {
    this.patterns = paths.map(parsePath);
    for (const p of this.patterns) if (p.length > 255) throw new PathSyntaxError('$', 'path too long');
    this.initial = this.patterns.length === 0 ? NONE : this.patterns.map((_, i) => i << 8);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  start(): States {
    return this.initial;
  }

  /** Advances every state over one segment (string key, number index, null = any index). */
  step(states: States, seg: Segment): States {
    if (states.length === 0) return NONE;
    let next: number[] | null = null;
    for (const s of states) {
      const p = this.patterns[s >> 8];
      const pos = s & 0xff;
      const tok = p?.[pos];
      if (tok === undefined) continue; // already at the end: selected node, no children
      if (tok.deep) next = add(next, s);
      if (matches(tok, seg)) next = add(next, s + 1);
    }
    return next ?? NONE;
  }

  matched(states: States): boolean {
    for (const s of states) if ((s & 0xff) === this.patterns[s >> 8]?.length) return true;
    return false;
  }

  /** The lowest index (in the order given) of a pattern that selects this node; -1 for none. */
  matchedPattern(states: States): number {
    let best = -1;
    for (const s of states) {
      const i = s >> 8;
      if ((s & 0xff) === this.patterns[i]?.length && (best < 0 || i < best)) best = i;
    }
    return best;
  }

  /** States after following a whole concrete path from the root. */
  walk(segments: readonly Segment[]): States {
    let st = this.start();
    for (const seg of segments) st = this.step(st, seg);
    return st;
  }
}

function add(arr: number[] | null, s: number): number[] {
  if (arr === null) return [s];
  if (!arr.includes(s)) arr.push(s);
  return arr;
}

function matches(tok: Token, seg: Segment): boolean {
  switch (tok.kind) {
    case 'key':
      return typeof seg === 'string' && seg === tok.name;
    case 'anyKey':
      return typeof seg === 'string';
    case 'anyIndex':
      return typeof seg !== 'string';
    case 'index':
      // An unknown index (a canonical [*]) matches, so redaction errs on the safe side.
      return seg === null || seg === tok.n;
  }
}
