import t from 'tap';
import type { Test } from 'tap';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FieldStep, Segment } from '../../src/compare/paths.js';
import { PathSet, canonicalPath, canonicalSegments, formatFieldPath, formatPath, parsePath } from '../../src/compare/paths.js';
import { compareAnswers, compileRules } from '../../src/compare/index.js';

/** Keys that have broken path code before, or could: every one must round-trip. */
const TRICKY_KEYS = [
  '', '*', '$', '_', '0', '007', '-1', '1e3', '__proto__', 'constructor', 'toString',
  'a.b', 'a-b', 'a b', ' ', '.', '..', '[*]', '.*', '[0]', '["x"]', "'", '"', '\\', '\\"', '"]',
  '\n', '\t', '\u0000', '\u007f', '\u2028', 'é', 'café', '😀', '\ud800', '\udc00', 'x\ud83d', '\ude00x',
];

/** Any UTF-16 string, lone surrogates and control characters included. */
const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 8 });
const key: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...TRICKY_KEYS),
  fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$]{0,6}$/),
  fc.string({ unit: fc.constantFrom('a', 'Z', '_', '$', '0', '.', '-', '"', '\\', '[', ']', '*', ' ', '\n', 'é', '\ud800', '\udc00', '😀'), maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  anyUnits,
);
const index = fc.nat({ max: 1000 });
const segment: fc.Arbitrary<string | number> = fc.oneof(key, index);
const concrete = fc.array(segment, { maxLength: 8 });

/** What a canonical path keeps of a concrete one: keys, and "some index" for each index. */
const reported = (segs: readonly Segment[]): Segment[] => segs.map((s) => (typeof s === 'string' ? s : null));
const selects = (rule: string, segs: readonly Segment[]): boolean => {
  const set = new PathSet([rule]);
  return set.matched(set.walk(segs));
};

// Properties throw (node:assert) so that fast-check sees a failure, shrinks it and
// names the smallest counterexample; tap then fails the test with that message.
const check = (t: Test, name: string, property: fc.IRawProperty<unknown[]>, numRuns = 500): void => {
  t.doesNotThrow(() => fc.assert(property, { numRuns }), name);
};

void t.test('property: a reported path, pasted into a rule, selects exactly that field', (t) => {
  check(
    t,
    'canonical, reads back, selects the field and neither an ancestor nor a child',
    fc.property(concrete, (segs) => {
      const path = formatPath(segs);
      assert.equal(canonicalPath(path), path, 'a canonical path is its own canonical form');
      assert.deepEqual(canonicalSegments(path), reported(segs), 'it reads back to the same keys');
      assert.ok(selects(path, segs), 'the field itself');
      assert.ok(selects(path, reported(segs)), 'the field as reported (indices unknown)');
      assert.ok(selects(path, segs.map((s) => (typeof s === 'number' ? s + 1 : s))), 'the field at any index');
      for (let n = 0; n < segs.length; n++) assert.ok(!selects(path, segs.slice(0, n)), `not the ancestor ${formatPath(segs.slice(0, n))}`);
      assert.ok(!selects(path, [...segs, 'x']), 'no child key');
      assert.ok(!selects(path, [...segs, 0]), 'no child index');
    }),
  );
  t.end();
});

void t.test('property: no sibling is selected', (t) => {
  check(
    t,
    'another key where a key was, a key where an index was, an index where a key was',
    fc.property(concrete, fc.nat(), segment, (segs, at, other) => {
      fc.pre(segs.length > 0);
      const i = at % segs.length;
      const mine = segs[i];
      fc.pre(typeof mine === 'string' ? other !== mine : typeof other === 'string');
      const sibling = segs.with(i, other);
      assert.ok(!selects(formatPath(segs), sibling), `${formatPath(segs)} selects ${JSON.stringify(sibling)}`);
    }),
    2000,
  );
  t.end();
});

void t.test('property: any key as a quoted step parses back to itself', (t) => {
  check(
    t,
    '$["k"] and $..["k"]',
    fc.property(key, (k) => {
      assert.deepEqual(parsePath(`$[${JSON.stringify(k)}]`), [{ kind: 'key', name: k, deep: false }]);
      assert.deepEqual(parsePath(`$..[${JSON.stringify(k)}]`), [{ kind: 'key', name: k, deep: true }]);
    }),
    2000,
  );
  t.end();
});

// fc.record builds null-prototype objects; the parser's are plain ones.
const step: fc.Arbitrary<FieldStep> = fc
  .oneof(
    fc.record({ kind: fc.constant('key' as const), name: key, deep: fc.boolean() }),
    fc.record({ kind: fc.constant('anyKey' as const), deep: fc.boolean() }),
    fc.record({ kind: fc.constant('anyIndex' as const), deep: fc.boolean() }),
    fc.record({ kind: fc.constant('index' as const), n: index, deep: fc.boolean() }),
  )
  .map((s): FieldStep => ({ ...s }));

void t.test('property: every rule is written canonically and read back the same', (t) => {
  check(
    t,
    'parsePath(formatFieldPath(steps)) = steps',
    fc.property(fc.array(step, { maxLength: 8 }), (steps) => {
      const text = formatFieldPath(steps);
      assert.deepEqual(parsePath(text), steps);
      assert.equal(canonicalPath(text), text);
    }),
  );
  t.end();
});

/** A JSON document holding `leaf` at the concrete path `segs` (an index n: n nulls before it). */
function docAt(segs: readonly (string | number)[], leaf: unknown): unknown {
  let v: unknown = leaf;
  for (let i = segs.length - 1; i >= 0; i--) {
    const s = segs[i] as string | number;
    if (typeof s === 'number') {
      const arr: unknown[] = new Array<unknown>(s % 4).fill(null);
      arr.push(v);
      v = arr;
    } else {
      const o: Record<string, unknown> = {};
      Object.defineProperty(o, s, { value: v, enumerable: true, writable: true, configurable: true });
      v = o;
    }
  }
  return v;
}

const EMPTY = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
const json = (v: unknown): { status: number; headers: Record<string, string>; body: Buffer; truncated: boolean } => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(v)),
  truncated: false,
});

void t.test('property: the path the engine reports, pasted into ignore, hides exactly that difference', (t) => {
  check(
    t,
    'reported path as an ignore rule',
    fc.property(concrete, (segs) => {
      const verdict = compareAnswers(json(docAt(segs, 1)), json(docAt(segs, 2)), compileRules(EMPTY, { maxDecodedBytes: 1 << 20 }), { method: 'GET' });
      assert.equal(verdict.differences.length, 1);
      const field = verdict.differences[0]?.field as string;
      assert.equal(field, formatPath(reported(segs)));
      const rules = compileRules({ ...EMPTY, ignore: [field] }, { maxDecodedBytes: 1 << 20 });
      assert.equal(compareAnswers(json(docAt(segs, 1)), json(docAt(segs, 2)), rules, { method: 'GET' }).result, 'match');
      // ...and nothing else: a difference next to it is still reported.
      if (segs.length === 0) return; // the root: there is nothing beside it
      const beside = compareAnswers(json([docAt(segs, 1), 1]), json([docAt(segs, 1), 2]), rules, { method: 'GET' });
      assert.equal(beside.result, 'mismatch');
    }),
    200,
  );
  t.end();
});

void t.test('canonical paths of tricky keys', (t) => {
  t.equal(formatPath(['user.name']), '$["user.name"]');
  t.equal(formatPath(['a-b', 3, 'price']), '$["a-b"][*].price');
  t.equal(formatPath(['items', null, 'price']), '$.items[*].price');
  t.equal(formatPath(['*']), '$["*"]');
  t.equal(formatPath(['__proto__']), '$.__proto__');
  t.equal(formatPath(['']), '$[""]');
  t.equal(formatPath(['\ud800']), '$["\\ud800"]');
  t.equal(formatPath([]), '$');
  t.end();
});

void t.test('PathSet: wildcards and depth', (t) => {
  t.ok(selects('$.*', ['a']), '.* is any key');
  t.notOk(selects('$.*', [0]), '.* is not an index');
  t.ok(selects('$[*]', [4]), '[*] is any index');
  t.ok(selects('$[*]', [null]), '[*] is an unknown index');
  t.notOk(selects('$[*]', ['0']), '[*] is not the key "0"');
  t.notOk(selects('$["*"]', ['a']), '["*"] is the key "*" only');
  t.ok(selects('$["*"]', ['*']));
  t.ok(selects('$..["a-b"]', ['x', 0, 'a-b']), '.. reaches any depth');
  t.ok(selects('$..["a-b"]', ['a-b']), '.. includes the top level');
  t.notOk(selects('$..["a-b"]', ['a-b', 'c']));
  t.ok(selects('$..*', ['a', 0, 'b']));
  t.notOk(selects('$..*', ['a', 0]), '..* ends on a key');
  t.ok(selects('$..[*]', ['a', 0]));
  t.ok(selects('$', []), '$ is the whole body');
  t.end();
});

void t.test('PathSet: [N] selects one index, and an unknown one (redaction errs on the safe side)', (t) => {
  t.ok(selects('$.items[1].id', ['items', 1, 'id']));
  t.notOk(selects('$.items[1].id', ['items', 2, 'id']));
  t.ok(selects('$.items[1].id', ['items', null, 'id']));
  t.end();
});

void t.test('PathSet: matchedPattern names the first pattern that selects a node', (t) => {
  const set = new PathSet(['$.a.b', '$..b', '$.a.*']);
  t.equal(set.matchedPattern(set.walk(['a', 'b'])), 0);
  t.equal(set.matchedPattern(set.walk(['a', 'c'])), 2);
  t.equal(set.matchedPattern(set.walk(['x', 'b'])), 1);
  t.equal(set.matchedPattern(set.walk(['x'])), -1);
  t.ok(new PathSet([]).empty);
  t.end();
});

void t.test('PathSet and canonicalSegments refuse what the grammar refuses', (t) => {
  t.throws(() => new PathSet(['$.a-b']), { code: 'UMBRA_BAD_FIELD_PATH', message: /write \$\["a-b"\]/ });
  t.equal(canonicalSegments('$.a-b'), null);
  t.equal(canonicalSegments('$..a'), null, 'not a concrete path');
  t.equal(canonicalSegments('$.*'), null, 'not a concrete path');
  t.strictSame(canonicalSegments('$["a-b"][*].c'), ['a-b', null, 'c']);
  t.end();
});
