// Field paths as the JSON walker uses them: a small automaton, compiled from
// the configured patterns ($.a.b, $.items[*].id, $..name), that advances as the
// walker descends; and the canonical text of a concrete path ($.items[*].price,
// $["we ird"]). The grammar itself (one parser for config validation and for
// the engine) is config/field-path.ts.
import type { FieldStep } from '../config/field-path.js';
import { INDEX_STEP, keyStep, parseFieldPath as parsePath } from '../config/field-path.js';

export type { FieldStep } from '../config/field-path.js';
/** parsePath: the grammar of DESIGN §4 plus `[N]`; throws PathSyntaxError. */
export { INDEX_STEP, MAX_PATH_STEPS, canonicalPath, formatFieldPath, isIdentifier, keyStep, parseFieldPath as parsePath } from '../config/field-path.js';
export { PathSyntaxError } from '../errors.js';

/** One step of a concrete path: an object key or an array index (null = unknown index). */
export type Segment = string | number | null;

/**
 * The canonical text of a concrete path: identifier keys with a dot, other keys
 * bracketed and JSON-quoted, every index (number or null) as `[*]`. Parsed as a
 * rule, it selects exactly that field (at every index).
 */
export function formatPath(segments: readonly Segment[]): string {
  let s = '$';
  for (const seg of segments) s += typeof seg === 'string' ? keyStep(seg) : INDEX_STEP;
  return s;
}

/** Parses a canonical reported path back into segments (indices unknown). */
export function canonicalSegments(field: string): Segment[] | null {
  let tokens: FieldStep[];
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
  private readonly patterns: FieldStep[][];
  private readonly initial: States;

  constructor(paths: readonly string[]) {
    // parsePath keeps a pattern within MAX_PATH_STEPS (255), so a position fits in the low 8 bits.
    this.patterns = paths.map(parsePath);
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

function matches(tok: FieldStep, seg: Segment): boolean {
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
