// Difference values: numbers stay numbers, big ones exact, values shortened
// past their cap with a marker, every occurrence of a repeated difference as
// an example, and the whole bounded however large the answers.
import t from 'tap';
import type { CompareConfig } from '../../src/config/types.js';
import type { Answer, Difference, SampleValue } from '../../src/compare/index.js';
import {
  BigNum,
  CUT,
  CUT_ROOM,
  MAX_COMPARISON_CHARS,
  MAX_DIFFERENCES,
  MAX_EXAMPLES,
  MAX_STRING,
  MAX_VALUE_CHARS,
  compareAnswers,
  compileRules,
  exactText,
  isExactNumber,
  parseJson,
  summarise,
  writeJson,
} from '../../src/compare/index.js';
import { Collector } from '../../src/compare/differences.js';

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
const rules = compileRules(base, { maxDecodedBytes: 64 * 1024 * 1024 });
const json = (body: unknown): Answer => ({ status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), truncated: false });
const compare = (live: unknown, dark: unknown): Difference[] => compareAnswers(json(live), json(dark), rules, { method: 'GET' }).differences;

void t.test('numbers stay numbers; a big one is exact', (t) => {
  t.equal(summarise(12.5), 12.5);
  t.equal(summarise(-0.001), -0.001);
  const big = summarise(new BigNum('12345678901234567890123'));
  t.ok(isExactNumber(big), 'a BigNum becomes an exact number');
  t.equal(exactText(big as never), '12345678901234567890123');
  t.equal(writeJson(summarise(parseJson('{"id":12345678901234567890123,"n":[1,99999999999999999999]}'))), '{"id":12345678901234567890123,"n":[1,99999999999999999999]}');
  const [d] = compare('{"id":12345678901234567890123}', '{"id":12345678901234567890124}');
  t.equal(writeJson(d), '{"part":"body","field":"$.id","kind":"changed","live":12345678901234567890123,"dark":12345678901234567890124}');
  t.end();
});

void t.test('a long string keeps its head and a marker with its length', (t) => {
  const s = 'abc'.repeat(1000);
  t.strictSame(summarise(s), { [CUT]: { string: 3000, head: s.slice(0, MAX_STRING) } });
  t.equal(summarise('x'.repeat(MAX_STRING)), 'x'.repeat(MAX_STRING), 'up to MAX_STRING stays a string');
  const emoji = '😀'.repeat(300);
  const cut = summarise(emoji) as { [CUT]: { head: string } };
  t.equal(cut[CUT].head, '😀'.repeat(MAX_STRING / 2), 'never half a surrogate pair');
  const long = summarise(new BigNum(`1${'0'.repeat(400)}1`)) as { [CUT]: { number: number; head: string } };
  t.strictSame(long, { [CUT]: { number: 402, head: `1${'0'.repeat(MAX_STRING - 1)}` } }, 'so does an absurdly long number');
  t.end();
});

void t.test('a big array keeps its first elements and says how many it left out', (t) => {
  const v = summarise(Array.from({ length: 300 }, (_, i) => i)) as SampleValue[];
  const last = v[v.length - 1] as { [CUT]: { items: number } };
  const kept = v.slice(0, -1);
  t.strictSame(kept, Array.from({ length: kept.length }, (_, i) => i), 'the head, in order');
  t.ok(kept.length > 50, `${kept.length} kept`);
  t.strictSame(last, { [CUT]: { items: 300 - kept.length } });
  t.ok(writeJson(v).length <= MAX_VALUE_CHARS, 'within the cap');
  t.strictSame(summarise([1, 2, 3]), [1, 2, 3], 'a small array is kept whole');
  t.end();
});

void t.test('a big object keeps its first keys; the marker is a member "…"', (t) => {
  const obj = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`key${i}`, `value ${i}`]));
  const v = summarise(obj) as Record<string, SampleValue>;
  const keys = Object.keys(v);
  t.equal(keys[keys.length - 1], CUT);
  t.strictSame(v[CUT], { keys: 100 - (keys.length - 1) });
  t.equal(v['key0'], 'value 0');
  t.ok(writeJson(v).length <= MAX_VALUE_CHARS);
  t.end();
});

void t.test('a backend\'s own "…" member never passes for a marker: it is left out and counted', (t) => {
  t.strictSame(summarise({ a: 1, [CUT]: { items: 99 } }), { a: 1, [CUT]: { keys: 1 } });
  t.strictSame(summarise([{ [CUT]: 'x' }]), [{ [CUT]: { keys: 1 } }]);
  t.strictSame(summarise(JSON.parse('{"__proto__":{"x":1}}')), JSON.parse('{"__proto__":{"x":1}}'), '__proto__ stays data');
  t.end();
});

void t.test('a value stays within its cap whatever its shape', (t) => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const huge: Record<string, unknown>[] = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `n${i}`, tags: ['a', 'b'] }));
  const cases: [string, unknown][] = [
    ['10 MB string', 'x'.repeat(10 * 1024 * 1024)],
    ['control characters (6 characters each as JSON)', '\u0001'.repeat(5000)],
    ['100 000-level nesting', deep],
    ['100 000 objects', huge],
    ['keys of 1 MB', { ['k'.repeat(1 << 20)]: 1, b: 2 }],
    ['wide and deep', Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, huge.slice(0, 50)]))],
  ];
  for (const [name, v] of cases) {
    for (const cap of [CUT_ROOM, 100, MAX_VALUE_CHARS, 4096]) {
      const text = writeJson(summarise(v, cap));
      t.ok(text.length <= cap, `${name}, cap ${cap}: ${text.length} characters`);
    }
  }
  t.end();
});

void t.test('a list difference carries every occurrence as an example, and its count', (t) => {
  const live = { items: [{ price: 1 }, { price: 2 }, { price: 3 }, { price: 4 }] };
  const dark = { items: [{ price: 1 }, { price: 20 }, { price: 30 }, { price: 40 }] };
  const [d, ...rest] = compare(live, dark);
  t.same(rest, [], 'still one difference for the field');
  t.strictSame(d, {
    part: 'body',
    field: '$.items[*].price',
    kind: 'changed',
    live: 2,
    dark: 20,
    count: 3,
    examples: [
      { live: 2, dark: 20 },
      { live: 3, dark: 30 },
      { live: 4, dark: 40 },
    ],
  });
  const [added] = compare({ xs: [1] }, { xs: [1, 2, 3] });
  t.strictSame(added, { part: 'body', field: '$.xs[*]', kind: 'added', dark: 2, count: 2, examples: [{ dark: 2 }, { dark: 3 }] }, 'one side only: the other is left out');
  const [once] = compare({ a: 1 }, { a: 2 });
  t.strictSame(once, { part: 'body', field: '$.a', kind: 'changed', live: 1, dark: 2 }, 'a single occurrence keeps the old shape');
  t.end();
});

void t.test('examples stop at MAX_EXAMPLES; the count goes on', (t) => {
  const c = new Collector();
  for (let i = 0; i < 1000; i++) c.add('body', '$[*].p', 'changed', i, i + 0.5);
  const [d] = c.list;
  t.equal(d?.count, 1000, 'every occurrence added is counted');
  t.equal(d?.examples?.length, MAX_EXAMPLES);
  t.strictSame(d?.examples?.[MAX_EXAMPLES - 1], { live: MAX_EXAMPLES - 1, dark: MAX_EXAMPLES - 0.5 });
  // The engine holds back at most MAX_EXAMPLES occurrences of a field in an array
  // of the same length on both sides (while it checks for a reorder): its count stops there.
  const live = Array.from({ length: 1000 }, (_, i) => ({ p: i }));
  const [e] = compare(live, live.map((x) => ({ p: x.p + 0.5 })));
  t.equal(e?.examples?.length, MAX_EXAMPLES);
  t.ok(e?.count !== undefined && e.count >= MAX_EXAMPLES, `through the engine: count ${e?.count}`);
  t.end();
});

void t.test('n occurrences added at once are the same as n added one by one', (t) => {
  for (const [first, n] of [[0, 1], [0, 3], [0, 2000], [4, 7], [9, 5]] as const) {
    const one = new Collector();
    const many = new Collector();
    // `first` different occurrences before, so the repeated one lands with examples already kept.
    for (let i = 0; i < first; i++) {
      one.add('body', '$[*].p', 'changed', i, -i);
      many.add('body', '$[*].p', 'changed', i, -i);
    }
    for (let i = 0; i < n; i++) one.add('body', '$[*].p', 'changed', 'x', 'y');
    many.add('body', '$[*].p', 'changed', 'x', 'y', n);
    t.strictSame(many.list, one.list, `${first} before, then ${n} at once`);
  }
  // Through the engine: 16,000 positions that all differ keep every one in the count.
  const live = Array.from({ length: 16_000 }, (_, i) => i % 10);
  const [d] = compare(live, live.map((x) => x + 0.5));
  t.equal(d?.count, 16_000, 'every differing position counted');
  t.equal(d?.examples?.length, MAX_EXAMPLES);
  t.end();
});

void t.test('a comparison\'s values stay within MAX_COMPARISON_CHARS, plus a floor per difference', (t) => {
  // 200 fields, each a list of big objects that all differ: 100 differences, each with 10 examples.
  const big = (n: number) => ({ n, text: 'y'.repeat(5000), list: Array.from({ length: 500 }, (_, i) => i * n) });
  const side = (n: number) => Object.fromEntries(Array.from({ length: 200 }, (_, f) => [`f${f}`, Array.from({ length: 20 }, () => ({ v: big(n) }))]));
  const c = new Collector();
  const l = side(1);
  const r = side(2);
  for (let f = 0; f < 200; f++) {
    for (let i = 0; i < 20; i++) c.add('body', `$.f${f}[*].v`, 'changed', (l[`f${f}`] as { v: unknown }[])[i]?.v, (r[`f${f}`] as { v: unknown }[])[i]?.v);
  }
  t.equal(c.list.length, MAX_DIFFERENCES);
  let chars = 0;
  for (const d of c.list) {
    for (const ex of d.examples ?? [d]) chars += writeJson(ex.live).length + writeJson(ex.dark).length;
  }
  const bound = MAX_COMPARISON_CHARS + MAX_DIFFERENCES * 2 * CUT_ROOM;
  t.ok(chars <= bound, `values: ${chars} characters, bound ${bound}`);
  t.ok(writeJson(c.list).length < 2 * bound, `the whole list as JSON: ${writeJson(c.list).length} characters`);
  t.ok(c.list.every((d) => d.count === 20), 'every occurrence counted');
  t.ok(c.list[0]?.examples !== undefined && c.list[0].examples.length > 1, 'the first differences got several examples');
  t.equal(c.list[MAX_DIFFERENCES - 1]?.examples?.length, 1, 'the last ones only their first: the budget was spent');
  t.end();
});
