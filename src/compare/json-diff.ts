// Structural JSON comparison.
//
// Our own walker rather than deep-diff: deep-diff cannot compare numbers within
// a tolerance or exactly as decimals (BigNum), has no multiset or keyed mode with
// rules inside elements, reports array moves as per-index edits instead of one
// `order`, and reports a type change as an ordinary edit. deep-diff stays the
// reference the walker is tested against (test/compare/oracle.test.ts).
//
// Iterative throughout (an explicit stack; depth is bounded by memory, not by the
// call stack). The walk goes position by position and key by key; arrays that need
// more than positions ask for 53-bit content hashes of their elements, computed on
// demand and memoised per container (ignored fields left out, unordered and keyed
// arrays hashed as multisets): to pair equal elements of an unordered array, to pair
// keyed elements by their member, and to tell a reorder from a change in a
// same-length array, whose reports are held back until that check at its end.

import type { Kind } from './types.js';
import { MAX_DIFFERENCES, MAX_EXAMPLES, type Collector } from './differences.js';
import type { TreeValue as JsonValue } from './json-parse.js';
import { BigNum, Bytes } from './json-parse.js';
import type { PathSet, States } from './paths.js';
import { formatPath } from './paths.js';

export interface JsonRules {
  readonly ignore: PathSet;
  readonly unordered: PathSet;
  /** Relative tolerance for every number; 0 = exact. */
  readonly tolerance: number;
  readonly keyed: PathSet;
  readonly keyedMembers: readonly string[];
  readonly allowAdded: PathSet;
  readonly tolerances: PathSet;
  readonly fieldTolerances: readonly { readonly absolute: number; readonly relative: number }[];
}

/** Leftover pairs scored by a full comparison of the two elements; past it, by their members' hashes. */
export const MAX_PROBED_PAIRS = 1024;
/** Leftover pairs scored at all; past it, leftovers are reported as removed and added. */
export const MAX_SCORED_PAIRS = 250_000;
/** A probe stops counting differences here: beyond it, a pair is simply "very different". */
const PROBE_LIMIT = 64;

// ---- work --------------------------------------------------------------------
//
// A walk is linear in the documents except where leftovers of unordered arrays
// are paired: every pair is scored, so that part grows with the square of the
// elements. On the event loop (compareInline) no walk may run long unseen: a
// comparison there runs under a limit of steps (a node walked or hashed, an
// object member, an array element or a pair of leftovers looked at; a report
// counts as four), and one that reaches it is abandoned and handed to a worker,
// which has no limit but its job timeout.

/** Thrown through a walk whose work ran out; withWorkLimit catches it. */
const OUT_OF_WORK = new Error('comparison work limit reached');
/** Steps left under the current limit; metered is false outside withWorkLimit. */
let metered = false;
let workLeft = 0;

function charge(steps: number): void {
  if (metered && (workLeft -= steps) < 0) throw OUT_OF_WORK;
}

/**
 * `fn()` with every JSON walk inside it limited to `steps` in all; null when
 * they ran out (what `fn` had collected by then is the caller's to drop).
 */
export function withWorkLimit<T>(steps: number, fn: () => T): T | null {
  const outer = metered;
  const outerLeft = workLeft;
  metered = true;
  workLeft = steps;
  try {
    return fn();
  } catch (err) {
    if (err === OUT_OF_WORK) return null;
    throw err;
  } finally {
    metered = outer;
    workLeft = outerLeft;
  }
}

type JType = 'null' | 'boolean' | 'number' | 'string' | 'bytes' | 'array' | 'object';
type Obj = { readonly [key: string]: JsonValue };

function typeOf(v: JsonValue): JType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof BigNum) return 'number';
  if (v instanceof Bytes) return 'bytes';
  return typeof v as JType;
}

function isContainer(v: JsonValue): v is JsonValue[] | Obj {
  return v !== null && typeof v === 'object' && !(v instanceof BigNum) && !(v instanceof Bytes);
}

/** A node's place: a linked list to the root, so a step costs one small object. */
interface Place {
  readonly parent: Place | null;
  /** An object key, or null for an array element (reported as [*]). */
  readonly seg: string | null;
  /** The number of its canonical path within one comparison, once asked for (Walker.pathId). */
  id?: number;
}

function placeText(p: Place | null): string {
  const segs: (string | null)[] = [];
  for (let q = p; q !== null; q = q.parent) segs.push(q.seg);
  return formatPath(segs.reverse());
}

/** Where differences go: the collector, or a probe that counts them. */
interface Sink {
  readonly done: boolean;
  /** `times` occurrences of one difference (a held-back report's later occurrences, all alike). */
  report(place: Place | null, kind: Kind, live: unknown, dark: unknown, times: number): void;
}

class CollectorSink implements Sink {
  constructor(private readonly c: Collector) {}
  get done(): boolean {
    return this.c.full;
  }
  report(place: Place | null, kind: Kind, live: unknown, dark: unknown, times: number): void {
    this.c.add('body', placeText(place), kind, live, dark, times);
  }
}

class CountingSink implements Sink {
  count = 0;
  constructor(private readonly limit: number) {}
  get done(): boolean {
    return this.count >= this.limit;
  }
  report(_place: Place | null, _kind: Kind, _live: unknown, _dark: unknown, times: number): void {
    this.count += times;
  }
}

/** Rule states at a node, one per rule set; `allow` = at or under an allowAdded path. */
interface St {
  readonly ign: States;
  readonly uno: States;
  readonly key: States;
  readonly add: States;
  readonly tol: States;
  readonly allow: boolean;
}

const NONE: States = Object.freeze([]);
/** The states of a node no rule can reach any more: shared, so rule-free subtrees allocate nothing. */
const FREE: St = Object.freeze({ ign: NONE, uno: NONE, key: NONE, add: NONE, tol: NONE, allow: false });
const FREE_ALLOWED: St = Object.freeze({ ...FREE, allow: true });

/** Compares two parsed JSON documents (or decoded protobuf messages) and adds body differences to `out`. */
export function diffJson(live: JsonValue, dark: JsonValue, rules: JsonRules, out: Collector): void {
  const w = new Walker(rules);
  const st = w.root();
  if (rules.ignore.matched(st.ign)) return;
  w.diff(live, dark, st, null, new CollectorSink(out));
}

interface FieldTolerance {
  readonly absolute: number;
  readonly relative: number;
}

/** Number equality: exact decimals for BigNum, else within the relative tolerance or the field's own. */
export function numbersEqual(a: number | BigNum, b: number | BigNum, tolerance: number, field?: FieldTolerance): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a === b) return true;
    return within(a, b, tolerance, field);
  }
  const ka = a instanceof BigNum ? a.key : exactKey(a);
  const kb = b instanceof BigNum ? b.key : exactKey(b);
  if (ka === kb) return true;
  const na = Number(a instanceof BigNum ? a.raw : a);
  const nb = Number(b instanceof BigNum ? b.raw : b);
  return Number.isFinite(na) && Number.isFinite(nb) && within(na, nb, tolerance, field);
}

function within(a: number, b: number, relative: number, field: FieldTolerance | undefined): boolean {
  const diff = Math.abs(a - b);
  const scale = Math.max(Math.abs(a), Math.abs(b));
  if (relative > 0 && diff <= relative * scale) return true;
  if (field === undefined) return false;
  return (field.absolute > 0 && diff <= field.absolute) || (field.relative > 0 && diff <= field.relative * scale);
}

function exactKey(n: number): string {
  return new BigNum(String(n === 0 ? 0 : n)).key;
}

// ---- hashing -------------------------------------------------------------

const TWO32 = 4294967296;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two 32-bit lanes as one exact double: 21 high bits and 32 low bits. */
function pack(hi: number, lo: number): number {
  return (hi >>> 11) * TWO32 + (lo >>> 0);
}


function leafHash(tag: number, id: number): number {
  const lo = fmix(Math.imul(id, 0x9e3779b1) ^ Math.imul(tag, 0x27d4eb2f));
  const hi = fmix(lo ^ Math.imul(id + 0x165667b1, 0xcc9e2d51) ^ tag);
  return pack(hi, lo);
}

const TAG_NULL = 1;
const TAG_FALSE = 2;
const TAG_TRUE = 3;
const TAG_NUMBER = 4;
const TAG_BIGNUM = 5;
const TAG_STRING = 6;
const TAG_ARRAY = 7;
const TAG_SET = 8;
const TAG_OBJECT = 9;
const TAG_IGNORED = 10;
const TAG_BYTES = 11;

/** Accumulates a container's hash from its children's. */
class HashFrame {
  i = 0;
  /** Ordered lanes, or the sums of a multiset. */
  a: number;
  b: number;
  count = 0;
  curKey = '';
  constructor(
    readonly v: JsonValue[] | Obj,
    readonly st: St,
    readonly keys: readonly string[] | null,
    readonly n: number,
    readonly tag: number,
  ) {
    this.a = tag;
    this.b = Math.imul(tag, 0x9e3779b1);
  }
}

// ---- the walker ------------------------------------------------------------

/** Two values to compare at a place. */
interface Frame {
  readonly l: JsonValue;
  readonly d: JsonValue;
  readonly st: St;
  readonly place: Place | null;
}

/** A difference found while planning a node, reported in its turn so reports keep document order. */
interface Report {
  readonly report: Kind;
  readonly place: Place | null;
  readonly live: unknown;
  readonly dark: unknown;
}

/** Reports from here on belong to element `mark` of the innermost level. */
interface Mark {
  readonly mark: number;
}

/** The innermost level's elements are all done. */
interface End {
  readonly end: Level;
}

interface Level {
  readonly l: JsonValue[];
  readonly d: JsonValue[];
  readonly est: St;
  readonly place: Place | null;
  current: number;
  /** Positions whose elements reported a difference. */
  readonly positions: Set<number>;
  /** Reports held back, by field and kind, as the collector will keep them. */
  readonly reports: Map<string, Held>;
}

/** One (field, kind) held back: the first examples, and how many more occurrences there were. */
interface Held {
  readonly first: Report[];
  more: number;
}

type Task = Frame | Report | Mark | End;

function removed(place: Place | null, v: unknown): Report {
  return { report: 'removed', place, live: v, dark: undefined };
}

function added(place: Place | null, v: unknown): Report {
  return { report: 'added', place, live: undefined, dark: v };
}

/** Pushes tasks so that they run in the order given. */
function pushAll(stack: Task[], tasks: readonly Task[]): void {
  for (let i = tasks.length - 1; i >= 0; i--) stack.push(tasks[i] as Task);
}

class Walker {
  /** Content hash of every container seen, under its rule states (each node has one path). */
  private readonly memo: Map<object, number>;
  private readonly strings: Map<string, number>;
  private readonly numbers: Map<number, number>;
  private readonly rulesFree: boolean;
  /** A probe counts differences and never looks for reorders (it has no levels). */
  private readonly probing: boolean;

  constructor(
    private readonly rules: JsonRules,
    shared?: Walker,
  ) {
    this.probing = shared !== undefined;
    this.memo = shared?.memo ?? new Map<object, number>();
    this.strings = shared?.strings ?? new Map<string, number>();
    this.numbers = shared?.numbers ?? new Map<number, number>();
    this.rulesFree = rules.ignore.empty && rules.unordered.empty && rules.keyed.empty && rules.allowAdded.empty && rules.tolerances.empty;
  }

  root(): St {
    if (this.rulesFree) return FREE;
    const r = this.rules;
    return this.make(r.ignore.start(), r.unordered.start(), r.keyed.start(), r.allowAdded.start(), r.tolerances.start(), false);
  }

  private make(ign: States, uno: States, key: States, add: States, tol: States, parentAllow: boolean): St {
    const allow = parentAllow || (add.length > 0 && this.rules.allowAdded.matched(add));
    if (ign.length === 0 && uno.length === 0 && key.length === 0 && add.length === 0 && tol.length === 0) return allow ? FREE_ALLOWED : FREE;
    return { ign, uno, key, add, tol, allow };
  }

  /** The states one step down: an object key, or null for an array element. */
  private step(st: St, seg: string | null): St {
    if (st === FREE || st === FREE_ALLOWED) return st;
    const r = this.rules;
    return this.make(r.ignore.step(st.ign, seg), r.unordered.step(st.uno, seg), r.keyed.step(st.key, seg), r.allowAdded.step(st.add, seg), r.tolerances.step(st.tol, seg), st.allow);
  }

  private ignored(st: St): boolean {
    return st.ign.length > 0 && this.rules.ignore.matched(st.ign);
  }

  private keyMember(st: St): string | null {
    if (st.key.length === 0) return null;
    const i = this.rules.keyed.matchedPattern(st.key);
    return i < 0 ? null : (this.rules.keyedMembers[i] ?? null);
  }

  private unorderedAt(st: St): boolean {
    return st.uno.length > 0 && this.rules.unordered.matched(st.uno);
  }

  private fieldTolerance(st: St): FieldTolerance | undefined {
    if (st.tol.length === 0) return undefined;
    const i = this.rules.tolerances.matchedPattern(st.tol);
    return i < 0 ? undefined : this.rules.fieldTolerances[i];
  }

  private intern(s: string): number {
    let id = this.strings.get(s);
    if (id === undefined) {
      id = this.strings.size + 1;
      this.strings.set(s, id);
    }
    return id;
  }

  private leaf(v: JsonValue): number {
    if (v === null) return leafHash(TAG_NULL, 0);
    if (v === true) return leafHash(TAG_TRUE, 0);
    if (v === false) return leafHash(TAG_FALSE, 0);
    if (typeof v === 'string') return leafHash(TAG_STRING, this.intern(v));
    if (typeof v === 'number') {
      // Map keys compare by SameValueZero: 0 and -0 are one number, as in JSON.
      let id = this.numbers.get(v);
      if (id === undefined) {
        id = this.numbers.size + 1;
        this.numbers.set(v, id);
      }
      return leafHash(TAG_NUMBER, id);
    }
    if (v instanceof Bytes) return leafHash(TAG_BYTES, this.intern(v.base64));
    return leafHash(TAG_BIGNUM, this.intern((v as BigNum).key));
  }

  /** The content hash of `v` under the rule states `st` (iterative, memoised per container). */
  hash(v: JsonValue, st: St): number {
    if (!isContainer(v)) return this.leaf(v);
    const known = this.memo.get(v);
    if (known !== undefined) return known;
    const stack: HashFrame[] = [this.hashFrame(v, st)];
    for (;;) {
      const f = stack[stack.length - 1] as HashFrame;
      if (f.i < f.n) {
        charge(1);
        const idx = f.i++;
        let child: JsonValue;
        let cst: St;
        if (f.keys !== null) {
          const k = f.keys[idx] as string;
          cst = this.step(f.st, k);
          if (this.ignored(cst)) continue;
          f.curKey = k;
          child = (f.v as Obj)[k] as JsonValue;
        } else {
          cst = this.step(f.st, null);
          if (this.ignored(cst)) {
            this.addChild(f, leafHash(TAG_IGNORED, 0));
            continue;
          }
          child = (f.v as JsonValue[])[idx] as JsonValue;
        }
        if (!isContainer(child)) {
          this.addChild(f, this.leaf(child));
          continue;
        }
        const m = this.memo.get(child);
        if (m !== undefined) this.addChild(f, m);
        else stack.push(this.hashFrame(child, cst));
        continue;
      }
      const h = this.finish(f);
      this.memo.set(f.v, h);
      stack.pop();
      const parent = stack[stack.length - 1];
      if (parent === undefined) return h;
      this.addChild(parent, h);
    }
  }

  private hashFrame(v: JsonValue[] | Obj, st: St): HashFrame {
    if (Array.isArray(v)) {
      const set = this.keyMember(st) !== null || this.unorderedAt(st);
      return new HashFrame(v, st, null, v.length, set ? TAG_SET : TAG_ARRAY);
    }
    const keys = Object.keys(v);
    return new HashFrame(v, st, keys, keys.length, TAG_OBJECT);
  }

  private addChild(f: HashFrame, h: number): void {
    const xh = (h / TWO32) >>> 0;
    const xl = h >>> 0;
    f.count++;
    if (f.tag === TAG_ARRAY) {
      // In order: each element folds into the running state.
      f.a = fmix(Math.imul(f.a ^ xl, 0x01000193) + xh);
      f.b = fmix(Math.imul(f.b + xh, 0x9e3779b1) ^ xl ^ f.a);
      return;
    }
    let ml: number;
    let mh: number;
    if (f.tag === TAG_OBJECT) {
      // A member: its key and its value, mixed, then summed (key order never matters).
      const kid = this.intern(f.curKey);
      ml = fmix(xl ^ Math.imul(kid, 0x85ebca6b));
      mh = fmix(xh ^ Math.imul(kid + 0x7f4a7c15, 0xc2b2ae35) ^ ml);
    } else {
      ml = fmix(xl ^ 0x5bd1e995);
      mh = fmix(xh ^ ml);
    }
    f.a = (f.a + ml) >>> 0;
    f.b = (f.b + mh) >>> 0;
  }

  private finish(f: HashFrame): number {
    const lo = fmix(f.a ^ Math.imul(f.count, 0x27d4eb2f) ^ f.tag);
    const hi = fmix(f.b ^ lo ^ Math.imul(f.count + f.tag, 0x165667b1));
    return pack(hi, lo);
  }

  /** True when two containers certainly hold the same content (same hash); primitives are left to the walk. */
  private sameHash(l: JsonValue, d: JsonValue, st: St): boolean {
    if (!isContainer(l) || !isContainer(d)) return false;
    return this.hash(l, st) === this.hash(d, st);
  }

  // ---- the walk ----

  /** Open same-length ordered arrays, innermost last: their reports wait for the reorder check. */
  private readonly levels: Level[] = [];
  private readonly paths = new Map<string, number>();
  private sink: Sink = new CountingSink(0);

  diff(live: JsonValue, dark: JsonValue, st: St, place: Place | null, sink: Sink): void {
    this.sink = sink;
    const stack: Task[] = [{ l: live, d: dark, st, place }];
    while (stack.length > 0) {
      charge(1);
      const t = stack.pop() as Task;
      if ('report' in t) this.emit(t.place, t.report, t.live, t.dark);
      else if ('mark' in t) (this.levels[this.levels.length - 1] as Level).current = t.mark;
      else if ('end' in t) this.close(t.end);
      else if (this.levels.length === 0 && sink.done) break;
      else this.node(t, stack);
    }
  }

  /** One number per canonical path (two elements of an array share theirs), in O(1) a step. */
  private pathId(place: Place | null): number {
    if (place === null) return 0;
    if (place.id !== undefined) return place.id;
    const chain: Place[] = [];
    let p: Place | null = place;
    for (; p !== null && p.id === undefined; p = p.parent) chain.push(p);
    let id = p === null ? 0 : (p.id as number);
    for (let i = chain.length - 1; i >= 0; i--) {
      const q = chain[i] as Place;
      const name = `${id}${q.seg === null ? '[' : `.${q.seg}`}`;
      let known = this.paths.get(name);
      if (known === undefined) {
        known = this.paths.size + 1;
        this.paths.set(name, known);
      }
      q.id = known;
      id = known;
    }
    return id;
  }

  private emit(place: Place | null, kind: Kind, live: unknown, dark: unknown, times = 1): void {
    // A report costs several times a step: a key, a map, an object kept.
    charge(4);
    const level = this.levels[this.levels.length - 1];
    if (level === undefined) {
      this.sink.report(place, kind, live, dark, times);
      return;
    }
    level.positions.add(level.current);
    // Held back per (field, kind), at most as many distinct ones and examples as the
    // collector can keep, so a long array never drops a kind it has not seen yet.
    const key = `${this.pathId(place)} ${kind}`;
    const held = level.reports.get(key);
    let h = held;
    let n = times;
    if (h === undefined) {
      if (level.reports.size >= MAX_DIFFERENCES) return;
      h = { first: [{ report: kind, place, live, dark }], more: 0 };
      level.reports.set(key, h);
      n--;
    }
    for (; n > 0 && h.first.length < MAX_EXAMPLES; n--) h.first.push({ report: kind, place, live, dark });
    h.more += n;
  }

  /**
   * The end of a same-length array: when the positions that differ hold the same
   * elements in another order, one `order` difference replaces what they reported.
   */
  private close(level: Level): void {
    this.levels.pop();
    const at = [...level.positions];
    charge(at.length);
    if (at.length > 1 && this.sameElements(level.l, level.d, at, level.est)) {
      this.emit(level.place, 'order', level.l, level.d);
      return;
    }
    for (const held of level.reports.values()) {
      for (const r of held.first) this.emit(r.place, r.report, r.live, r.dark);
      // Occurrences past the examples still count: the last one stands in for them, all at once.
      const last = held.first[held.first.length - 1] as Report;
      if (held.more > 0) this.emit(last.place, last.report, last.live, last.dark, held.more);
    }
  }

  private node(f: Frame, stack: Task[]): void {
    const { l, d, st, place } = f;
    const tl = typeOf(l);
    const td = typeOf(d);
    if (tl !== td) {
      this.emit(place, 'type', l, d);
      return;
    }
    switch (tl) {
      case 'null':
        return;
      case 'number':
        if (!numbersEqual(l as number | BigNum, d as number | BigNum, this.rules.tolerance, this.fieldTolerance(st))) this.emit(place, 'changed', l, d);
        return;
      case 'string':
      case 'boolean':
        if (l !== d) this.emit(place, 'changed', l, d);
        return;
      case 'bytes':
        if ((l as Bytes).base64 !== (d as Bytes).base64) this.emit(place, 'changed', l, d);
        return;
      case 'object':
        this.objects(l as Obj, d as Obj, st, place, stack);
        return;
      case 'array': {
        const la = l as JsonValue[];
        const da = d as JsonValue[];
        const est = this.step(st, null);
        if (this.ignored(est)) return;
        const elem: Place = { parent: place, seg: null };
        const member = this.keyMember(st);
        if (member !== null) pushAll(stack, this.keyedArrays(la, da, member, est, elem));
        else if (this.unorderedAt(st)) pushAll(stack, this.unorderedArrays(la, da, est, elem));
        else this.orderedArrays(la, da, est, elem, place, stack);
        return;
      }
    }
  }

  /** Pushes this pair's work straight onto the stack, last first, so it runs in key order. */
  private objects(l: Obj, d: Obj, st: St, place: Place | null, stack: Task[]): void {
    const dKeys = Object.keys(d);
    const lKeys = Object.keys(l);
    charge(lKeys.length + dKeys.length);
    for (let i = dKeys.length - 1; i >= 0; i--) {
      const k = dKeys[i] as string;
      if (Object.hasOwn(l, k)) continue;
      const cst = this.step(st, k);
      if (this.ignored(cst) || cst.allow) continue;
      stack.push(added({ parent: place, seg: k }, d[k]));
    }
    for (let i = lKeys.length - 1; i >= 0; i--) {
      const k = lKeys[i] as string;
      const lv = l[k] as JsonValue;
      const has = Object.hasOwn(d, k);
      const dv = has ? (d[k] as JsonValue) : undefined;
      // Equal primitives (the common case) cost no states and no objects.
      if (lv === dv) continue;
      const cst = this.step(st, k);
      if (this.ignored(cst)) continue;
      const at: Place = { parent: place, seg: k };
      if (has) stack.push({ l: lv, d: dv as JsonValue, st: cst, place: at });
      else stack.push(removed(at, lv));
    }
  }

  /**
   * In order, position by position. Two arrays of one length open a level: their
   * reports wait until the end, where a reorder becomes one `order` difference.
   */
  private orderedArrays(l: JsonValue[], d: JsonValue[], est: St, elem: Place, place: Place | null, stack: Task[]): void {
    const n = Math.min(l.length, d.length);
    charge(Math.max(l.length, d.length));
    const level = l.length === d.length && n > 1 && !this.probing ? { l, d, est, place, current: 0, positions: new Set<number>(), reports: new Map<string, Held>() } : null;
    const tasks: Task[] = [];
    if (level !== null) this.levels.push(level);
    for (let i = 0; i < n; i++) {
      const a = l[i] as JsonValue;
      const b = d[i] as JsonValue;
      if (a === b) continue;
      if (level !== null) tasks.push({ mark: i });
      tasks.push({ l: a, d: b, st: est, place: elem });
    }
    for (let i = n; i < l.length; i++) tasks.push(removed(elem, l[i]));
    for (let j = n; j < d.length; j++) tasks.push(added(elem, d[j]));
    if (level !== null) tasks.push({ end: level });
    pushAll(stack, tasks);
  }

  private sameElements(l: JsonValue[], d: JsonValue[], at: readonly number[], est: St): boolean {
    charge(2 * at.length);
    const counts = new Map<number, number>();
    for (const i of at) {
      const h = this.hash(l[i] as JsonValue, est);
      counts.set(h, (counts.get(h) ?? 0) + 1);
    }
    for (const i of at) {
      const h = this.hash(d[i] as JsonValue, est);
      const c = counts.get(h);
      if (c === undefined || c === 0) return false;
      counts.set(h, c - 1);
    }
    return true;
  }

  /** How many differences between two values, counted up to `limit`. */
  private distance(a: JsonValue, b: JsonValue, st: St, place: Place, limit: number): number {
    const probe = new CountingSink(limit);
    new Walker(this.rules, this).diff(a, b, st, place, probe);
    return probe.count;
  }

  /** Multiset: equal elements pair first; the leftovers pair by least difference, never by position. */
  private unorderedArrays(l: JsonValue[], d: JsonValue[], est: St, elem: Place): Task[] {
    const [leftL, leftD] = this.pairEqual(l, d, est, range(l.length), range(d.length));
    return this.pairLeftovers(l, d, leftL, leftD, est, elem);
  }

  /** Pairs elements with the same hash; returns the indices left on each side, in order. */
  private pairEqual(l: JsonValue[], d: JsonValue[], est: St, li: readonly number[], di: readonly number[]): [number[], number[]] {
    charge(li.length + di.length);
    const byHash = new Map<number, number[]>();
    for (const j of di) {
      const h = this.hash(d[j] as JsonValue, est);
      const list = byHash.get(h);
      if (list === undefined) byHash.set(h, [j]);
      else list.push(j);
    }
    const leftL: number[] = [];
    const used = new Set<number>();
    for (const i of li) {
      const list = byHash.get(this.hash(l[i] as JsonValue, est));
      const j = list?.shift();
      if (j === undefined) leftL.push(i);
      else used.add(j);
    }
    return [leftL, di.filter((j) => !used.has(j))];
  }

  /** Pairs (in live's order) to compare, then what is left unpaired on each side. */
  private pairLeftovers(l: JsonValue[], d: JsonValue[], leftL: readonly number[], leftD: readonly number[], est: St, elem: Place): Task[] {
    const tasks: Task[] = [];
    if (leftL.length === 0 && leftD.length === 0) return tasks;
    const pairs = this.leastDifference(l, d, leftL, leftD, est, elem);
    const pairedL = new Set<number>();
    const pairedD = new Set<number>();
    for (const [i, j] of pairs) {
      pairedL.add(i);
      pairedD.add(j);
      tasks.push({ l: l[i] as JsonValue, d: d[j] as JsonValue, st: est, place: elem });
    }
    for (const i of leftL) if (!pairedL.has(i)) tasks.push(removed(elem, l[i]));
    for (const j of leftD) if (!pairedD.has(j)) tasks.push(added(elem, d[j]));
    return tasks;
  }

  /**
   * Pairs leftovers greedily, closest pairs first: a pair's cost is its number of
   * differences (a counting walk) for small sets, or how many members differ by
   * hash for larger ones. Values that share nothing are not a pair: they are
   * reported as removed and added. Ties go to the earlier elements.
   */
  private leastDifference(l: JsonValue[], d: JsonValue[], leftL: readonly number[], leftD: readonly number[], est: St, elem: Place): [number, number][] {
    const total = leftL.length * leftD.length;
    if (total === 0 || total > MAX_SCORED_PAIRS) return [];
    charge(total);
    // A probe's own leftovers pair by members: probes inside probes would multiply
    // with every level of nested unordered arrays.
    const probe = total <= MAX_PROBED_PAIRS && !this.probing;
    const scored: [number, number, number][] = [];
    for (const i of leftL) {
      const a = l[i] as JsonValue;
      for (const j of leftD) {
        const b = d[j] as JsonValue;
        const cost = probe ? this.probeCost(a, b, est, elem) : this.memberCost(a, b, est);
        if (cost !== null) scored.push([cost, i, j]);
      }
    }
    charge(scored.length);
    scored.sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]);
    const usedL = new Set<number>();
    const usedD = new Set<number>();
    const pairs: [number, number][] = [];
    for (const [, i, j] of scored) {
      if (usedL.has(i) || usedD.has(j)) continue;
      usedL.add(i);
      usedD.add(j);
      pairs.push([i, j]);
    }
    pairs.sort((x, y) => x[0] - y[0]);
    return pairs;
  }

  /** Differences between two elements, or null when they are not a pair (nothing in common). */
  private probeCost(a: JsonValue, b: JsonValue, est: St, elem: Place): number | null {
    if (typeOf(a) !== typeOf(b)) return null;
    const cost = this.distance(a, b, est, elem, PROBE_LIMIT);
    if (cost === 0) return 0;
    return this.memberCost(a, b, est) === null ? null : cost;
  }

  /**
   * For two objects, how many members differ (by hash), or null when they have no
   * member in common; two values of another shared type cost 1 (they may pair).
   */
  private memberCost(a: JsonValue, b: JsonValue, est: St): number | null {
    const ta = typeOf(a);
    if (ta !== typeOf(b)) return null;
    if (ta !== 'object') return 1;
    const ao = a as Obj;
    const bo = b as Obj;
    const aKeys = Object.keys(ao);
    const bKeys = Object.keys(bo);
    charge(aKeys.length + bKeys.length);
    let same = 0;
    let differ = 0;
    for (const k of aKeys) {
      const cst = this.step(est, k);
      if (this.ignored(cst)) continue;
      if (Object.hasOwn(bo, k) && this.hash(ao[k] as JsonValue, cst) === this.hash(bo[k] as JsonValue, cst)) same++;
      else differ++;
    }
    for (const k of bKeys) if (!Object.hasOwn(ao, k) && !this.ignored(this.step(est, k))) differ++;
    return same === 0 && differ > 0 ? null : differ;
  }

  /** Objects paired by a member's value; elements without it, as a multiset. */
  private keyedArrays(l: JsonValue[], d: JsonValue[], member: string, est: St, elem: Place): Task[] {
    charge(l.length + d.length);
    const mst = this.step(est, member);
    const keyOf = (v: JsonValue): number | null => (typeOf(v) === 'object' && Object.hasOwn(v as Obj, member) ? this.hash((v as Obj)[member] as JsonValue, mst) : null);
    const byKey = new Map<number, number[]>();
    const looseD: number[] = [];
    for (let j = 0; j < d.length; j++) {
      const k = keyOf(d[j] as JsonValue);
      if (k === null) {
        looseD.push(j);
        continue;
      }
      const list = byKey.get(k);
      if (list === undefined) byKey.set(k, [j]);
      else list.push(j);
    }
    const tasks: Task[] = [];
    const looseL: number[] = [];
    const gone: Task[] = [];
    for (let i = 0; i < l.length; i++) {
      const a = l[i] as JsonValue;
      const k = keyOf(a);
      if (k === null) {
        looseL.push(i);
        continue;
      }
      const j = byKey.get(k)?.shift();
      if (j === undefined) gone.push(removed(elem, a));
      else if (!this.sameHash(a, d[j] as JsonValue, est)) tasks.push({ l: a, d: d[j] as JsonValue, st: est, place: elem });
    }
    tasks.push(...gone);
    const newer: number[] = [];
    for (const list of byKey.values()) newer.push(...list);
    newer.sort((x, y) => x - y);
    for (const j of newer) tasks.push(added(elem, d[j]));
    const [restL, restD] = this.pairEqual(l, d, est, looseL, looseD);
    tasks.push(...this.pairLeftovers(l, d, restL, restD, est, elem));
    return tasks;
  }
}

function range(n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}
