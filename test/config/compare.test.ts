// The compare section through real files and the loader: field paths as
// DESIGN §4 writes them, and problems with their file and line.
import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { DEFAULTS, loadConfigFile } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

const LIVE = ['live:', '  url: http://127.0.0.1:3000'];

/** Writes `lines` as umbra.yaml in a fresh directory and loads it. */
function loadFile(t: Test, lines: readonly string[]): { file: string; config?: Config; problems: string[] } {
  const file = join(t.testdir({ 'umbra.yaml': lines.join('\n') + '\n' }), 'umbra.yaml');
  try {
    return { file, config: loadConfigFile(file, {}, { containerLimit: null }), problems: [] };
  } catch (err) {
    if (err instanceof ConfigError) return { file, problems: err.message.split('\n') };
    throw err;
  }
}

void t.test('paths with any key, any key of an object, any depth: accepted as written', (t) => {
  const { config, problems } = loadFile(t, [
    ...LIVE,
    'compare:',
    '  ignore:',
    '    - \'$["user.name"]\'',
    '    - \'$["a-b"]\'',
    '    - $.*',
    '    - \'$..["a-b"]\'',
    '    - "$.items[*][\\"unit price\\"]"',
    'redact:',
    '  fields: [\'$..["pass-word"]\', $..token, \'$["é"]\']',
  ]);
  t.strictSame(problems, []);
  t.strictSame(config?.compare.ignore, ['$["user.name"]', '$["a-b"]', '$.*', '$..["a-b"]', '$.items[*]["unit price"]']);
  t.strictSame(config?.redact.fields, ['$..["pass-word"]', '$..token', '$["é"]']);
  t.end();
});

void t.test('$.a-b is rejected with the fix, on its own line, like every config problem', (t) => {
  const { file, problems } = loadFile(t, [
    ...LIVE, // 1-2
    'compare:', // 3
    '  ignore:', // 4
    '    - $.meta.id', // 5
    '    - $.a-b', // 6
    '  unordered: ["$.user.first name"]', // 7
    'routes:', // 8
    '  - name: r', // 9
    '    match: { prefix: / }', // 10
    '    compare:', // 11
    '      ignore: [$.x-y.z]', // 12
  ]);
  t.strictSame(problems, [
    `${file}:6: compare.ignore[1]: bad field path "$.a-b" at character 3: "a-b" is not an identifier; write $["a-b"]`,
    `${file}:7: compare.unordered[0]: bad field path "$.user.first name" at character 8: "first name" is not an identifier; write $.user["first name"]`,
    `${file}:12: routes[0].compare.ignore[0]: bad field path "$.x-y.z" at character 3: "x-y" is not an identifier; write $["x-y"].z`,
  ]);
  t.end();
});

void t.test('keyed, allowAdded and tolerances at the top level', (t) => {
  const { config, problems } = loadFile(t, [
    ...LIVE,
    'compare:',
    '  keyed: { "$.orders": id, \'$["line-items"]\': sku, "$..[\\"a b\\"]": "member with spaces" }',
    '  allowAdded: ["$", \'$["meta"]\']',
    '  tolerances:',
    '    "$.items[*].price": { absolute: 0.01 }',
    '    $.score: { relative: 0.05 }',
    '    \'$["ratio"]\': { absolute: 1, relative: "0.5" }',
    '    $.exact: { absolute: 0 }',
  ]);
  t.strictSame(problems, []);
  t.strictSame(config?.compare.keyed, [
    { path: '$.orders', member: 'id' },
    { path: '$["line-items"]', member: 'sku' },
    { path: '$..["a b"]', member: 'member with spaces' },
  ]);
  t.strictSame(config?.compare.allowAdded, ['$', '$.meta'], 'paths are kept in canonical form');
  t.strictSame(config?.compare.tolerances, [
    { path: '$.items[*].price', absolute: 0.01, relative: 0 },
    { path: '$.score', absolute: 0, relative: 0.05 },
    { path: '$.ratio', absolute: 1, relative: 0.5 },
    { path: '$.exact', absolute: 0, relative: 0 },
  ]);
  t.strictSame(config?.routes.at(-1)?.compare, config?.compare, 'the default route carries them');
  t.ok(Object.isFrozen(config?.compare.tolerances[0]), 'frozen with the rest');
  t.end();
});

void t.test('absent, they are empty (DEFAULTS)', (t) => {
  const { config } = loadFile(t, [...LIVE, 'compare: { tolerance: 0.1 }']);
  t.strictSame(config?.compare, { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0.1, keyed: [], allowAdded: [], tolerances: [] });
  const empty = loadFile(t, [...LIVE, 'compare:', '  keyed:', '  allowAdded:', '  tolerances:']).config;
  t.strictSame(empty?.compare, DEFAULTS.compare, 'written empty, they read as absent');
  t.end();
});

void t.test("a route's compare extends the top level: lists concatenate, the same path replaces", (t) => {
  const { config, problems } = loadFile(t, [
    ...LIVE,
    'compare:',
    '  keyed: { $.orders: id, $.users: uid }',
    '  allowAdded: [$.meta]',
    '  tolerances:',
    '    $..price: { absolute: 0.01 }',
    '    $.score: { relative: 0.05 }',
    'routes:',
    '  - name: orders',
    '    match: { prefix: /orders }',
    '    compare:',
    '      keyed: { \'$["orders"]\': orderId, $.lines: n }',
    '      allowAdded: [\'$["meta"]\', $.debug]',
    '      tolerances:',
    '        $.items[*].price: { absolute: 1 }',
    '        $.score: { absolute: 2 }',
    '  - name: plain',
    '    match: { prefix: /plain }',
  ]);
  t.strictSame(problems, []);
  const [orders, plain] = config?.routes ?? [];
  t.strictSame(orders?.compare.keyed, [
    { path: '$.orders', member: 'orderId' },
    { path: '$.lines', member: 'n' },
    { path: '$.users', member: 'uid' },
  ], "the route's entries first, then the top-level ones it does not replace");
  t.strictSame(orders?.compare.allowAdded, ['$.meta', '$.debug'], 'concatenated, once each');
  t.strictSame(orders?.compare.tolerances, [
    { path: '$.items[*].price', absolute: 1, relative: 0 },
    { path: '$.score', absolute: 2, relative: 0 },
    { path: '$..price', absolute: 0.01, relative: 0 },
  ], '$.score replaced as a whole: its relative 0.05 is gone');
  t.strictSame(plain?.compare, config?.compare, 'a route that names none has the top-level ones');
  t.end();
});

void t.test('problems in keyed, allowAdded and tolerances, each with its line', (t) => {
  const { file, problems } = loadFile(t, [
    ...LIVE, // 1-2
    'compare:', // 3
    '  keyed:', // 4
    '    $.a-b: id', // 5
    '    $.orders: ""', // 6
    '    $.users: [id]', // 7
    '    $.lines:', // 8
    '    \'$["orders"]\': other', // 9
    '  allowAdded: [$.x-y, "$."]', // 10
    '  tolerances:', // 11
    '    $.a: { absolute: -1 }', // 12
    '    $.b: { relativ: 0.1 }', // 13
    '    $.c: {}', // 14
    '    $.d: 0.05', // 15
    '    $.e: { relative: lots }', // 16
    '    $.f: { absolute: 1, relative: 1, exact: true }', // 17
    'routes:', // 18
    '  - name: r', // 19
    '    match: { prefix: / }', // 20
    '    compare:', // 21
    '      keyed: [$.orders]', // 22
    '      tolerances: { "$..": { absolute: 1 } }', // 23
  ]);
  const at = (line: number, rest: string): string => `${file}:${line}: ${rest}`;
  t.strictSame(problems, [
    at(5, 'compare.keyed["$.a-b"]: bad field path "$.a-b" at character 3: "a-b" is not an identifier; write $["a-b"]'),
    at(6, 'compare.keyed["$.orders"]: expected the name of the member that pairs the elements, like id'),
    at(7, 'compare.keyed["$.users"]: expected the name of the member that pairs the elements, like id'),
    at(8, 'compare.keyed["$.lines"]: expected the name of the member that pairs the elements, like id'),
    at(9, 'compare.keyed["$[\\"orders\\"]"]: the same field path as "$.orders" (line 6)'),
    at(10, 'compare.allowAdded[0]: bad field path "$.x-y" at character 3: "x-y" is not an identifier; write $["x-y"]'),
    at(10, 'compare.allowAdded[1]: bad field path "$." at character 2: trailing ".": follow it with a key or *'),
    at(12, 'compare.tolerances["$.a"].absolute: expected a number >= 0'),
    at(13, 'compare.tolerances["$.b"].relativ: unknown key "relativ", did you mean "relative"?'),
    at(13, 'compare.tolerances["$.b"]: expected { absolute: N }, { relative: N } or both'),
    at(14, 'compare.tolerances["$.c"]: expected { absolute: N }, { relative: N } or both'),
    at(15, 'compare.tolerances["$.d"]: expected { absolute: N }, { relative: N } or both'),
    at(16, 'compare.tolerances["$.e"].relative: expected a number >= 0'),
    at(17, 'compare.tolerances["$.f"].exact: unknown key "exact"'),
    at(22, 'routes[0].compare.keyed: expected a mapping of field paths to member names'),
    at(23, 'routes[0].compare.tolerances["$.."]: bad field path "$.." at character 2: trailing "..": follow it with a key, * or [...]'),
  ]);
  t.end();
});
