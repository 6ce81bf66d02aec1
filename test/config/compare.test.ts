// The compare section through real files and the loader: field paths as
// DESIGN §4 writes them, and problems with their file and line.
import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile } from '../../src/config/load.js';
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
