// The JSON walker's pairing rules (unordered, keyed, allowAdded, per-field
// tolerances) and its depth: each case states the exact (field, kind) list.

import t from 'tap';
import type { CompareConfig } from '../../src/config/types.js';
import type { Answer } from '../../src/compare/index.js';
import { compareAnswers, compileRules } from '../../src/compare/index.js';
import { Collector, MAX_FIELD_CHARS } from '../../src/compare/differences.js';
import { MAX_PROBED_PAIRS, diffJson } from '../../src/compare/json-diff.js';
import { parseJson } from '../../src/compare/json-parse.js';

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };

function ans(body: unknown): Answer {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), truncated: false };
}

function diffs(live: unknown, dark: unknown, compare: Partial<CompareConfig> = {}): string[] {
  const v = compareAnswers(ans(live), ans(dark), compileRules({ ...base, ...compare }, { maxDecodedBytes: 64 << 20 }), { method: 'GET' });
  return v.differences.map((d) => `${d.field} ${d.kind}`);
}

function people(n: number): { id: number; name: string; email: string }[] {
  return Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `Person ${i + 1}`, email: `p${i + 1}@example.com` }));
}

void t.test('unordered: one changed record of 30 reports that record only', async (t) => {
  const live = people(30);
  const dark = [...people(30)].reverse();
  const changed = dark.find((p) => p.id === 17);
  if (changed !== undefined) changed.email = 'new@example.com';
  t.strictSame(diffs(live, dark, { unordered: ['$'] }), ['$[*].email changed']);
  const v = compareAnswers(ans(live), ans(dark), compileRules({ ...base, unordered: ['$'] }, { maxDecodedBytes: 1 << 20 }), { method: 'GET' });
  t.strictSame([v.differences[0]?.live, v.differences[0]?.dark], ['p17@example.com', 'new@example.com'], 'the changed record is paired with its own counterpart');
  t.strictSame(diffs(live, dark), ['$[*].id changed', '$[*].name changed', '$[*].email changed'], 'in order, every position differs');
});

void t.test('unordered: a removed record and an added one are not paired with strangers', async (t) => {
  const live = people(5);
  const dark = people(5).filter((p) => p.id !== 2);
  dark.push({ id: 9, name: 'Nine', email: 'nine@example.com' });
  t.strictSame(diffs(live, dark, { unordered: ['$'] }), ['$[*] removed', '$[*] added']);
});

void t.test('unordered: leftovers pair by least difference, not by position', async (t) => {
  const live = [{ a: 1, b: 2, c: 3 }, { a: 10, b: 20, c: 30 }];
  const dark = [{ a: 10, b: 20, c: 31 }, { a: 1, b: 5, c: 3 }];
  t.strictSame(diffs(live, dark, { unordered: ['$'] }), ['$[*].b changed', '$[*].c changed']);
});

void t.test('unordered inside unordered pairs at every depth', async (t) => {
  const live = { groups: [{ name: 'a', tags: ['x', 'y', 'z'] }, { name: 'b', tags: ['p', 'q'] }] };
  const dark = { groups: [{ name: 'b', tags: ['q', 'p'] }, { name: 'a', tags: ['z', 'x', 'y'] }] };
  t.strictSame(diffs(live, dark, { unordered: ['$.groups', '$.groups[*].tags'] }), []);
  const darker = { groups: [{ name: 'b', tags: ['q', 'p'] }, { name: 'a', tags: ['z', 'x', 'w'] }] };
  t.strictSame(diffs(live, darker, { unordered: ['$.groups', '$.groups[*].tags'] }), ['$.groups[*].tags[*] changed']);
  t.strictSame(diffs([[1, 2], [3, 4]], [[4, 3], [2, 1]], { unordered: ['$', '$[*]'] }), [], 'nested sets of numbers');
});

void t.test('unordered with tolerance pairs numbers within it', async (t) => {
  t.strictSame(diffs({ xs: [1, 100] }, { xs: [100.4, 1] }, { unordered: ['$.xs'], tolerance: 0.01 }), []);
  t.strictSame(diffs({ xs: [1, 100] }, { xs: [103, 1] }, { unordered: ['$.xs'], tolerance: 0.01 }), ['$.xs[*] changed']);
});

void t.test('unordered: large leftover sets pair by member hashes', async (t) => {
  const n = Math.ceil(Math.sqrt(MAX_PROBED_PAIRS)) + 5;
  const live = people(n).map((p) => ({ ...p, v: 0 }));
  const dark = people(n).map((p) => ({ ...p, v: 1 })).reverse();
  t.strictSame(diffs(live, dark, { unordered: ['$'] }), ['$[*].v changed'], `${n} x ${n} leftovers`);
});

void t.test('keyed arrays pair by member, in any order', async (t) => {
  const live = { orders: [{ id: 'a', total: 1 }, { id: 'b', total: 2 }, { id: 'c', total: 3 }] };
  const dark = { orders: [{ id: 'c', total: 3 }, { id: 'd', total: 4 }, { id: 'a', total: 9 }] };
  t.strictSame(diffs(live, dark, { keyed: [{ path: '$.orders', member: 'id' }] }), ['$.orders[*].total changed', '$.orders[*] removed', '$.orders[*] added']);
  t.strictSame(diffs(live, { orders: [...live.orders].reverse() }, { keyed: [{ path: '$.orders', member: 'id' }] }), [], 'order never matters');
  const v = compareAnswers(ans(live), ans(dark), compileRules({ ...base, keyed: [{ path: '$.orders', member: 'id' }] }, { maxDecodedBytes: 1 << 20 }), { method: 'GET' });
  t.strictSame(v.differences.map((d) => [d.live, d.dark]), [[1, 9], [{ id: 'b', total: 2 }, undefined], [undefined, { id: 'd', total: 4 }]]);
});

void t.test('keyed arrays: numeric keys, duplicate keys, elements without the member', async (t) => {
  const keyed = [{ path: '$', member: 'id' }];
  t.strictSame(diffs([{ id: 1, v: 'a' }, { id: 2, v: 'b' }], [{ id: 2, v: 'b' }, { id: 1, v: 'a' }], { keyed }), []);
  t.strictSame(diffs([{ id: 1, v: 'a' }, { id: 1, v: 'b' }], [{ id: 1, v: 'a' }, { id: 1, v: 'c' }], { keyed }), ['$[*].v changed'], 'duplicates pair in order');
  t.strictSame(diffs([{ id: 1 }, { x: 1 }, 'loose'], [{ x: 1 }, 'loose', { id: 1 }], { keyed }), [], 'members without the key compare as a multiset');
  t.strictSame(diffs([{ id: 1 }], [{ id: '1' }], { keyed }), ['$[*] removed', '$[*] added'], 'the key compares by JSON value');
});

void t.test('allowAdded: fields only the dark answer has are compatible additions', async (t) => {
  const live = { user: { id: 1, name: 'A' }, meta: { v: 1 } };
  const dark = { user: { id: 1, name: 'A', nickname: 'a' }, meta: { v: 1, build: 7 }, extra: true };
  t.strictSame(diffs(live, dark), ['$.user.nickname added', '$.meta.build added', '$.extra added']);
  t.strictSame(diffs(live, dark, { allowAdded: ['$'] }), [], 'everywhere');
  t.strictSame(diffs(live, dark, { allowAdded: ['$.user'] }), ['$.meta.build added', '$.extra added'], 'under $.user only');
  t.strictSame(diffs(live, { meta: { v: 1 } }, { allowAdded: ['$'] }), ['$.user removed'], 'a removal is never compatible');
  t.strictSame(diffs({ xs: [1] }, { xs: [1, 2] }, { allowAdded: ['$'] }), ['$.xs[*] added'], 'array elements are data, not fields');
});

void t.test('per-field tolerances, absolute and relative, over the global one', async (t) => {
  const tolerances = [
    { path: '$.items[*].price', absolute: 0.01, relative: 0 },
    { path: '$.score', absolute: 0, relative: 0.05 },
  ];
  const live = { items: [{ price: 10.0 }, { price: 0.02 }], score: 100, count: 1000 };
  t.strictSame(diffs(live, { items: [{ price: 10.005 }, { price: 0.025 }], score: 104, count: 1000 }, { tolerances }), []);
  t.strictSame(diffs(live, { items: [{ price: 10.02 }, { price: 0.02 }], score: 106, count: 1000 }, { tolerances }), ['$.items[*].price changed', '$.score changed']);
  t.strictSame(diffs(live, { ...live, count: 1001 }, { tolerances }), ['$.count changed'], 'other fields stay exact');
  t.strictSame(diffs(live, { ...live, count: 1001 }, { tolerances, tolerance: 0.01 }), [], 'the global relative tolerance still applies');
});

void t.test('ordered: a reorder is one difference; a change among reorders is not a reorder', async (t) => {
  t.strictSame(diffs([{ a: { x: 1 } }, { a: { x: 2 } }], [{ a: { x: 2 } }, { a: { x: 1 } }]), ['$ order']);
  t.strictSame(diffs([1, 2, 3], [1, 3, 2]), ['$ order']);
  t.strictSame(diffs([1, 2, 3], [1, 3, 4]), ['$[*] changed']);
  t.strictSame(diffs([1, 1.001], [1.001, 1], { tolerance: 0.01 }), [], 'within the tolerance the positions match');
  t.strictSame(diffs([1, 2], [2, 1], { tolerance: 0.01 }), ['$ order']);
});

void t.test('numbers: 0 and -0, 1 and 1.0, exact big numbers', async (t) => {
  t.strictSame(diffs('[0, 1, 1e2]', '[-0, 1.0, 100]'), []);
  t.strictSame(diffs('{"n":12345678901234567890}', '{"n":12345678901234567890}'), []);
  t.strictSame(diffs('{"n":12345678901234567890,"k":1}', '{"n":12345678901234567891,"k":1}'), ['$.n changed']);
  t.strictSame(diffs('{"xs":[12345678901234567890, 1]}', '{"xs":[1, 12345678901234567890.0]}', { unordered: ['$.xs'] }), []);
});

function nested(depth: number, leaf: string, open = '{"a":', close = '}'): string {
  return open.repeat(depth) + leaf + close.repeat(depth);
}

void t.test('depth is not limited by the call stack: 100 000 levels', async (t) => {
  const depth = 100_000;
  t.strictSame(diffs(nested(depth, '1'), nested(depth, '1')), []);
  const path = `$${'.a'.repeat(depth)}`;
  // Paths past MAX_FIELD_CHARS are cut, ending in "…".
  const cut = (p: string): string => `${p.slice(0, MAX_FIELD_CHARS - 1)}…`;
  t.strictSame(diffs(nested(depth, '1'), nested(depth, '2')), [`${cut(path)} changed`], 'objects');
  t.strictSame(diffs(nested(depth, '1', '[', ']'), nested(depth, '2', '[', ']')), [`${cut(`$${'[*]'.repeat(depth)}`)} changed`], 'arrays');
  t.strictSame(diffs(nested(depth, '1', '[0,', ']'), nested(depth, '2', '[0,', ']')), [`${cut(`$${'[*]'.repeat(depth)}`)} changed`], 'two-element arrays');
  t.strictSame(diffs(nested(depth, '12345678901234567890'), nested(depth, '12345678901234567891')), [`${cut(path)} changed`], 'through the exact parser');
  t.strictSame(diffs(nested(100, '1'), nested(100, '2')), [`$${'.a'.repeat(100)} changed`], 'a path under the cap is whole');
  t.strictSame(diffs(nested(depth, '[1,2]'), nested(depth, '[2,1]'), { unordered: ['$..*'] }), [], 'unordered at depth');
  t.strictSame(diffs(nested(depth, '1'), nested(depth, '2'), { ignore: ['$..a'] }), [], 'ignored at depth');
});

void t.test('deeply nested pairs of same-length arrays stay linear', async (t) => {
  // A reorder check that re-walked each level would take 2^depth steps here.
  const depth = 2000;
  const live = nested(depth, '1', '[0,', ']');
  const dark = nested(depth, '2', '[0,', ']');
  const out = new Collector();
  diffJson(parseJson(live), parseJson(dark), compileRules(base, { maxDecodedBytes: 1 << 20 }), out);
  t.equal(out.list.length, 1);
});

void t.test('a long array of one length never drops a kind it has not reported yet', async (t) => {
  const n = 1500;
  t.strictSame(diffs([...new Array<number>(n).fill(0), 0], [...new Array<number>(n).fill(1), 'x']), ['$[*] changed', '$[*] type']);
  t.strictSame(diffs([new Array<number>(n).fill(0), 'x'], [new Array<number>(n).fill(1), 'y']), ['$[*][*] changed', '$[*] changed'], 'through nesting');
});

void t.test('a difference found many times in a same-length array counts every time', async (t) => {
  const v = compareAnswers(ans(new Array<number>(25).fill(0)), ans(new Array<number>(25).fill(1)), compileRules(base, { maxDecodedBytes: 1 << 20 }), { method: 'GET' });
  t.equal(v.differences.length, 1);
  t.equal(v.differences[0]?.count, 25);
  t.equal(v.differences[0]?.examples?.length, 10);
});
