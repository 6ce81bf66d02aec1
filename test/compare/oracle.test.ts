// deep-diff as the reference oracle for the JSON walker (src/compare/json-diff.ts).
//
// Property: for any pair of JSON documents, umbra with no rules (arrays in order,
// tolerance 0, nothing ignored) reports the same SET of (field, kind) as deep-diff
// run on the same texts, once deep-diff's paths are in umbra's canonical form
// (DESIGN §4 "Field paths"): `.name` for identifier keys, `["json quoted"]` for any
// other key, `[*]` for every array index.
//
// deep-diff kinds map as: N -> added, D -> removed, E -> changed (type when the JSON
// types differ), A (path + index, item N/D) -> `path[*]` added/removed.
//
// Known differences, each encoded below (with a unit example), never dropped silently:
//  1. Reorders: two same-length arrays whose differing positions hold the same
//     elements (as a multiset) are ONE `order` at the array's path in umbra; deep-diff
//     reports per-index edits there. The model `reorders()` finds those arrays and
//     replaces what deep-diff says under them by that one `order`.
//  2. The cap: umbra keeps at most 100 distinct (field, kind) per comparison. The
//     generated documents are small and every run asserts the cap was not reached.
//  3. Numbers: umbra compares the exact decimal value of the token, deep-diff compares
//     the doubles JSON.parse made. They agree whenever the texts hold doubles
//     (1 vs 1.0 vs 1e0, -0 vs 0, 0.30000000000000004 written as 30000000000000004e-17;
//     the generator writes numbers in such alternative forms); they part on tokens a
//     double cannot hold (12345678901234567890 vs ...891), where umbra is right
//     (DESIGN §5: "big integers exact").
//  4. deep-diff drops a key "" present only on the right side (`if (k)` in its loop
//     over the right side's keys): umbra's `$[""] added` is right. The model adds
//     those back.

import t from 'tap';
import fc from 'fast-check';
import deepDiff from 'deep-diff';
import type { CompareConfig } from '../../src/config/types.js';
import type { Answer } from '../../src/compare/index.js';
import { MAX_DIFFERENCES, compareAnswers, compileRules } from '../../src/compare/index.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Seg = string | number;

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
const rules = compileRules(base, { maxDecodedBytes: 1 << 20 });

function ans(text: string): Answer {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(text), truncated: false };
}

/** umbra's verdict on two JSON texts, as a set of "field kind". */
function umbra(liveText: string, darkText: string): { set: Set<string>; count: number } {
  const v = compareAnswers(ans(liveText), ans(darkText), rules, { method: 'GET' });
  const list = v.differences.map((d) => `${d.field} ${d.kind}`);
  return { set: new Set(list), count: list.length };
}

// ---- the canonical form, written here from DESIGN §4 (not umbra's own code) ----

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function canon(path: readonly Seg[]): string {
  let s = '$';
  for (const seg of path) s += typeof seg === 'number' ? '[*]' : IDENT.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`;
  return s;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isObj(v: Json): v is { [key: string]: Json } {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Structural equality key: sorted keys, numbers as JSON writes them (-0 is 0). */
function key(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(key).join(',')}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${key(v[k] as Json)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

// ---- the model of the known differences ----

/** Known difference 1: the same-length arrays umbra reports as one `order` (outermost only). */
function reorders(l: Json, d: Json, path: Seg[], out: Seg[][]): void {
  if (Array.isArray(l) && Array.isArray(d)) {
    if (l.length === d.length && l.length > 1) {
      const at = l.map((_, i) => i).filter((i) => key(l[i] as Json) !== key(d[i] as Json));
      if (at.length > 1) {
        const a = at.map((i) => key(l[i] as Json)).sort();
        const b = at.map((i) => key(d[i] as Json)).sort();
        if (a.every((x, i) => x === b[i])) {
          out.push(path);
          return;
        }
      }
    }
    for (let i = 0; i < Math.min(l.length, d.length); i++) reorders(l[i] as Json, d[i] as Json, [...path, i], out);
  } else if (isObj(l) && isObj(d)) {
    for (const k of Object.keys(l)) if (Object.hasOwn(d, k)) reorders(l[k] as Json, d[k] as Json, [...path, k], out);
  }
}

/** Known difference 4: the `""` keys deep-diff does not report as new. */
function emptyKeysAdded(l: Json, d: Json, path: Seg[], out: Seg[][]): void {
  if (Array.isArray(l) && Array.isArray(d)) {
    for (let i = 0; i < Math.min(l.length, d.length); i++) emptyKeysAdded(l[i] as Json, d[i] as Json, [...path, i], out);
  } else if (isObj(l) && isObj(d)) {
    if (Object.hasOwn(d, '') && !Object.hasOwn(l, '')) out.push([...path, '']);
    for (const k of Object.keys(l)) if (Object.hasOwn(d, k)) emptyKeysAdded(l[k] as Json, d[k] as Json, [...path, k], out);
  }
}

function startsWith(path: readonly Seg[], prefix: readonly Seg[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}

/** deep-diff's changes in umbra's terms, with the known differences applied. */
function oracle(liveText: string, darkText: string): Set<string> {
  const l = JSON.parse(liveText) as Json;
  const d = JSON.parse(darkText) as Json;
  const changes = deepDiff.diff(l, d) ?? [];
  const moved: Seg[][] = [];
  reorders(l, d, [], moved);
  const out = new Set<string>();
  const add = (path: Seg[], kind: string): void => {
    if (!moved.some((m) => startsWith(path, m))) out.add(`${canon(path)} ${kind}`);
  };
  for (const c of changes) {
    const path = (c.path ?? []) as Seg[];
    switch (c.kind) {
      case 'N':
        add(path, 'added');
        break;
      case 'D':
        add(path, 'removed');
        break;
      case 'E':
        add(path, jsonType(c.lhs) === jsonType(c.rhs) ? 'changed' : 'type');
        break;
      case 'A':
        if (c.item.kind === 'N') add([...path, c.index], 'added');
        else if (c.item.kind === 'D') add([...path, c.index], 'removed');
        else throw new Error(`deep-diff array item of kind ${c.item.kind}`);
        break;
    }
  }
  const empty: Seg[][] = [];
  emptyKeysAdded(l, d, [], empty);
  for (const p of empty) add(p, 'added');
  for (const m of moved) out.add(`${canon(m)} order`);
  return out;
}

function sorted(s: Set<string>): string[] {
  return [...s].sort();
}

// ---- unit examples of each known difference ----

void t.test('known difference 1: a reorder is one `order` in umbra, per-index edits in deep-diff', async (t) => {
  const l = '{"tags":["a","b","c"],"n":[[1,2],[3,4]]}';
  const d = '{"tags":["c","a","b"],"n":[[2,1],[4,3]]}';
  const dd = (deepDiff.diff(JSON.parse(l), JSON.parse(d)) ?? []).map((c) => `${c.kind} ${canon((c.path ?? []) as Seg[])}`);
  t.strictSame(new Set(dd), new Set(['E $.tags[*]', 'E $.n[*][*]']), 'deep-diff edits each position');
  // $.n's elements are not the same multiset ([1,2] is not [2,1]): each inner array is the reorder.
  t.strictSame(sorted(umbra(l, d).set), ['$.n[*] order', '$.tags order'], 'umbra: one order per reordered array');
  t.strictSame(sorted(oracle(l, d)), ['$.n[*] order', '$.tags order'], 'the model agrees');
  // Whole inner arrays swapped: the outer array is the reorder, nothing inside is reported.
  t.strictSame(sorted(umbra('[[1,2],[3,4]]', '[[3,4],[1,2]]').set), ['$ order']);
  t.strictSame(sorted(oracle('[[1,2],[3,4]]', '[[3,4],[1,2]]')), ['$ order']);
  // Same elements moved AND one changed: not a reorder, so both report per index.
  t.strictSame(sorted(umbra('[1,2,3]', '[2,1,4]').set), ['$[*] changed']);
  t.strictSame(sorted(oracle('[1,2,3]', '[2,1,4]')), ['$[*] changed']);
  // Only the positions that differ count: [1,2,3,9] vs [3,2,1,9] is a reorder.
  t.strictSame(sorted(umbra('[1,2,3,9]', '[3,2,1,9]').set), ['$ order']);
  // Different lengths never make an order.
  t.strictSame(sorted(umbra('[1,2]', '[2,1,3]').set), ['$[*] added', '$[*] changed']);
  t.strictSame(sorted(oracle('[1,2]', '[2,1,3]')), ['$[*] added', '$[*] changed']);
});

void t.test('known difference 2: the cap of 100 distinct (field, kind)', async (t) => {
  t.equal(MAX_DIFFERENCES, 100);
  const l = JSON.stringify(Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, i])));
  const d = JSON.stringify(Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, -i - 1])));
  t.equal(oracle(l, d).size, 150, 'deep-diff reports all 150 fields');
  t.equal(umbra(l, d).count, 100, 'umbra stops at 100: the property keeps documents below it');
});

void t.test('known difference 3: numbers by exact value', async (t) => {
  for (const [l, d] of [
    ['[1]', '[1.0]'],
    ['[1]', '[1e0]'],
    ['[100]', '[1E2]'],
    ['[0]', '[-0]'],
    ['[0.30000000000000004]', '[30000000000000004e-17]'],
    ['[1e400]', '[10E+399]'],
  ] as const) {
    t.strictSame(sorted(umbra(l, d).set), [], `${l} ${d}: umbra equal`);
  }
  for (const [l, d] of [
    ['[1]', '[1.0]'],
    ['[0]', '[-0]'],
  ] as const) {
    t.equal(deepDiff.diff(JSON.parse(l), JSON.parse(d)), undefined, `${l} ${d}: deep-diff equal`);
  }
  // Beyond a double: deep-diff sees one double, umbra two different numbers (umbra is right).
  const l = '{"id":12345678901234567890}';
  const d = '{"id":12345678901234567891}';
  t.equal(deepDiff.diff(JSON.parse(l), JSON.parse(d)), undefined, 'deep-diff: JSON.parse rounds both to one double');
  t.strictSame(sorted(umbra(l, d).set), ['$.id changed'], 'umbra: exact');
  t.strictSame(sorted(umbra('[1e400]', '[2e400]').set), ['$[*] changed'], 'umbra: past the double range too (deep-diff sees Infinity twice)');
});

void t.test('known difference 4: deep-diff does not report a new key ""', async (t) => {
  t.equal(deepDiff.diff({}, { '': 1 }), undefined, 'deep-diff: nothing');
  t.strictSame(
    (deepDiff.diff({ '': 1 }, {}) ?? []).map((c) => c.kind),
    ['D'],
    'deep-diff: a removed "" is reported',
  );
  t.strictSame(sorted(umbra('{}', '{"":1}').set), ['$[""] added'], 'umbra: added (right per DESIGN §5)');
  t.strictSame(sorted(oracle('{}', '{"":1}')), ['$[""] added'], 'the model adds it back');
});

// ---- generators ----

const KEYS = ['a', 'b', 'id', '_x', '$y', 'a1', 'a-b', 'we ird', '0', '1', '', 'é', 'ключ', '💩', '__proto__', 'constructor', 'toString', 'a.b', '"q"', 'back\\slash', '\ud800', 'e\u0301'];
const keyArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS) }, fc.string({ maxLength: 3 }), fc.string({ unit: 'binary', maxLength: 2 }));

const scalarArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -3, max: 3 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom('x', 'y', '', 'é', '\ud800', '💩'),
  fc.string({ maxLength: 3 }),
);

const { json: jsonArb } = fc.letrec<{ json: Json; arr: Json[]; obj: { [key: string]: Json } }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', maxDepth: 4 }, scalarArb, tie('arr'), tie('obj')),
  arr: fc.array(tie('json'), { maxLength: 4 }),
  // Object.fromEntries defines own properties: "__proto__" is an ordinary key.
  obj: fc.array(fc.tuple(keyArb, tie('json')), { maxLength: 4 }).map((entries) => Object.fromEntries<Json>(entries)),
}));

type Op = 'leaf' | 'type' | 'addKey' | 'removeKey' | 'insert' | 'remove' | 'swap' | 'replace' | 'wrap';
interface Mut {
  op: Op;
  at: number;
  pos: number;
  key: string;
  value: Json;
}

const mutArb: fc.Arbitrary<Mut> = fc.record({
  op: fc.constantFrom<Op>('leaf', 'type', 'addKey', 'removeKey', 'insert', 'remove', 'swap', 'swap', 'replace', 'wrap'),
  at: fc.nat(),
  pos: fc.nat(),
  key: keyArb,
  value: jsonArb,
});

interface Slot {
  get: () => Json;
  set: (v: Json) => void;
}

function slots(root: { v: Json }): Slot[] {
  const out: Slot[] = [];
  const visit = (get: () => Json, set: (v: Json) => void): void => {
    out.push({ get, set });
    const v = get();
    if (Array.isArray(v)) v.forEach((_, i) => visit(() => v[i] as Json, (x) => (v[i] = x)));
    else if (isObj(v)) for (const k of Object.keys(v)) visit(() => v[k] as Json, (x) => Object.defineProperty(v, k, { value: x, enumerable: true, writable: true, configurable: true }));
  };
  visit(
    () => root.v,
    (x) => (root.v = x),
  );
  return out;
}

function otherType(v: Json, w: Json): Json {
  if (jsonType(w) !== jsonType(v)) return w;
  const options: Json[] = [null, true, 0, 's', [], {}];
  return options.find((o) => jsonType(o) !== jsonType(v)) ?? null;
}

function setKey(o: { [key: string]: Json }, k: string, v: Json): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Applies small mutations to a copy of `v` (a fresh parse: "__proto__" stays an own key). */
function mutate(v: Json, muts: readonly Mut[]): Json {
  const root = { v: JSON.parse(JSON.stringify(v)) as Json };
  for (const m of muts) {
    const all = slots(root);
    const pick = (ok: (x: Json) => boolean): Slot | undefined => {
      const c = all.filter((s) => ok(s.get()));
      return c.length === 0 ? undefined : c[m.at % c.length];
    };
    switch (m.op) {
      case 'leaf': {
        const s = pick((x) => x !== null && typeof x !== 'object');
        const x = s?.get();
        if (typeof x === 'number') s?.set(x + 1);
        else if (typeof x === 'string') s?.set(`${x}x`);
        else if (typeof x === 'boolean') s?.set(!x);
        break;
      }
      case 'type': {
        const s = pick(() => true);
        s?.set(otherType(s.get(), m.value));
        break;
      }
      case 'addKey': {
        const o = pick(isObjJson)?.get();
        if (o !== undefined && isObj(o)) setKey(o, m.key, m.value);
        break;
      }
      case 'removeKey': {
        const o = pick((x) => isObj(x) && Object.keys(x).length > 0)?.get();
        if (o !== undefined && isObj(o)) {
          const ks = Object.keys(o);
          delete o[ks[m.pos % ks.length] as string];
        }
        break;
      }
      case 'insert': {
        const a = pick(Array.isArray)?.get();
        if (Array.isArray(a)) a.splice(m.pos % (a.length + 1), 0, m.value);
        break;
      }
      case 'remove': {
        const a = pick((x) => Array.isArray(x) && x.length > 0)?.get();
        if (Array.isArray(a)) a.splice(m.pos % a.length, 1);
        break;
      }
      case 'swap': {
        const a = pick((x) => Array.isArray(x) && x.length > 1)?.get();
        if (Array.isArray(a)) {
          const i = m.pos % a.length;
          const j = (i + 1 + (m.at % (a.length - 1))) % a.length;
          [a[i], a[j]] = [a[j] as Json, a[i] as Json];
        }
        break;
      }
      case 'replace':
        pick(() => true)?.set(m.value);
        break;
      case 'wrap': {
        const s = pick(() => true);
        s?.set(m.pos % 2 === 0 ? [s.get()] : { [m.key]: s.get() });
        break;
      }
    }
  }
  return root.v;
}

function isObjJson(x: Json): boolean {
  return isObj(x);
}

// ---- rendering: the same value in other texts ----

/** A tiny deterministic generator for rendering choices. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Another spelling of the same number: every form parses to the same double. */
function numberText(n: number, r: number): string {
  const t = JSON.stringify(n);
  const choice = Math.floor(r * 5);
  if (choice === 1 && n === 0) return '-0';
  if (choice === 2 && !/[.eE]/.test(t)) return `${t}.0`;
  if (choice === 3 && !/[eE]/.test(t)) return `${t}e0`;
  if (choice === 4) {
    // digits + exponent of the last digit: 12.5 -> 125e-1, 1e+21 -> 1e21
    const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(t);
    if (m !== null) {
      const frac = m[3] ?? '';
      const digits = ((m[2] ?? '') + frac).replace(/^0+(?=\d)/, '');
      return `${m[1] ?? ''}${digits}e${Number(m[4] ?? '0') - frac.length}`;
    }
  }
  return t;
}

function render(v: Json, seed: number): string {
  const r = rng(seed);
  const ws = (): string => (r() < 0.2 ? ' \n\t'.slice(0, 1 + Math.floor(r() * 3)) : '');
  const go = (x: Json): string => {
    if (typeof x === 'number') return numberText(x, r());
    if (Array.isArray(x)) return `[${ws()}${x.map(go).join(`,${ws()}`)}${ws()}]`;
    if (isObj(x)) {
      const ks = Object.keys(x);
      if (r() < 0.5) ks.reverse();
      return `{${ks.map((k) => `${ws()}${JSON.stringify(k)}${ws()}:${go(x[k] as Json)}`).join(',')}}`;
    }
    return JSON.stringify(x);
  };
  return go(v);
}

const pairArb: fc.Arbitrary<[Json, Json]> = fc.oneof(
  { weight: 1, arbitrary: fc.tuple(jsonArb, jsonArb) },
  { weight: 4, arbitrary: fc.tuple(jsonArb, fc.array(mutArb, { minLength: 1, maxLength: 3 })).map(([v, ms]): [Json, Json] => [v, mutate(v, ms)]) },
  {
    weight: 2,
    arbitrary: fc.tuple(jsonArb, fc.array(mutArb, { maxLength: 2 }), fc.array(mutArb, { maxLength: 2 })).map(([v, a, b]): [Json, Json] => [mutate(v, a), mutate(v, b)]),
  },
);

// ---- the property ----

void t.test('umbra and deep-diff report the same set of (field, kind)', async (t) => {
  const seen = new Map<string, number>();
  const prop = fc.property(pairArb, fc.nat(), fc.nat(), ([l, d], s1, s2) => {
    const lt = render(l, s1);
    const dt = render(d, s2);
    const u = umbra(lt, dt);
    if (u.count >= MAX_DIFFERENCES) throw new Error(`cap reached (${u.count}): keep the documents smaller`);
    if (u.count !== u.set.size) throw new Error('umbra reported a (field, kind) twice');
    const o = oracle(lt, dt);
    const a = sorted(u.set);
    const b = sorted(o);
    if (a.join('\n') !== b.join('\n')) throw new Error(`live ${lt}\ndark ${dt}\numbra  ${JSON.stringify(a)}\noracle ${JSON.stringify(b)}`);
    for (const x of a) {
      const kind = x.slice(x.lastIndexOf(' ') + 1);
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    }
    seen.set('pairs', (seen.get('pairs') ?? 0) + 1);
    if (a.length === 0) seen.set('match', (seen.get('match') ?? 0) + 1);
  });
  const out = fc.check(prop, { seed: 20250101, numRuns: 3000 });
  t.notOk(out.failed, out.failed ? (fc.defaultReportMessage(out) ?? 'failed') : 'no disagreement in 3000 pairs');
  // The generator reaches every kind (so the agreement is not vacuous).
  for (const kind of ['added', 'removed', 'changed', 'type', 'order', 'match']) t.ok((seen.get(kind) ?? 0) >= 20, `${kind}: ${seen.get(kind) ?? 0}`);
});
