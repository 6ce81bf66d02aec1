import t from 'tap';
import { PathSyntaxError } from '../../src/errors.js';
import type { FieldStep } from '../../src/config/field-path.js';
import { MAX_PATH_STEPS, canonicalPath, formatFieldPath, isIdentifier, keyStep, parseFieldPath } from '../../src/config/field-path.js';

const key = (name: string, deep = false): FieldStep => ({ kind: 'key', name, deep });

/** The error a bad path raises: its message without the path, and the 1-based character. */
function problem(path: string): { detail: string; character: number | null } | undefined {
  try {
    parseFieldPath(path);
  } catch (err) {
    if (!(err instanceof PathSyntaxError)) throw err;
    return { detail: err.detail, character: err.at === null ? null : err.at + 1 };
  }
  return undefined;
}

void t.test('every form of the grammar', (t) => {
  t.strictSame(parseFieldPath('$'), [], '$ is the root');
  t.strictSame(parseFieldPath('$.a.b_1.$x'), [key('a'), key('b_1'), key('$x')]);
  t.strictSame(parseFieldPath('$["user.name"]'), [key('user.name')]);
  t.strictSame(parseFieldPath('$["a-b"]["c d"]'), [key('a-b'), key('c d')]);
  t.strictSame(parseFieldPath('$[""]'), [key('')], 'the empty key is a JSON string too');
  t.strictSame(parseFieldPath('$["q\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"]'), [key('q"\\/\b\f\n\r\té😀')], 'every JSON escape');
  t.strictSame(parseFieldPath('$["😀é"]'), [key('😀é')], 'unicode as itself');
  t.strictSame(parseFieldPath('$["\\ud800"]'), [key('\ud800')], 'a lone surrogate, as JSON.stringify writes it');
  t.strictSame(parseFieldPath('$.items[*].price'), [key('items'), { kind: 'anyIndex', deep: false }, key('price')]);
  t.strictSame(parseFieldPath('$.*'), [{ kind: 'anyKey', deep: false }]);
  t.strictSame(parseFieldPath('$["*"]'), [key('*')], 'the key "*" is not any key');
  t.strictSame(parseFieldPath('$..name'), [key('name', true)]);
  t.strictSame(parseFieldPath('$..["a-b"]'), [key('a-b', true)]);
  t.strictSame(parseFieldPath('$..*'), [{ kind: 'anyKey', deep: true }]);
  t.strictSame(parseFieldPath('$..[*]'), [{ kind: 'anyIndex', deep: true }]);
  t.strictSame(parseFieldPath('$.a..b'), [key('a'), key('b', true)]);
  t.end();
});

void t.test('[N]: one array index, the extension kept for older configs', (t) => {
  t.strictSame(parseFieldPath('$.items[0]'), [key('items'), { kind: 'index', n: 0, deep: false }]);
  t.strictSame(parseFieldPath('$..[12]'), [{ kind: 'index', n: 12, deep: true }]);
  t.equal(canonicalPath('$.items[007]'), '$.items[7]');
  t.equal(problem('$[99999999999999999999]')?.detail, 'array index too large');
  t.end();
});

void t.test('canonical form', (t) => {
  const cases: [string, string][] = [
    ['$["name"]', '$.name'],
    ['$["a"]["b-c"][*]', '$.a["b-c"][*]'],
    ['$..["x"]', '$..x'],
    ['$..["x y"]', '$..["x y"]'],
    ['$["\\u0041"]', '$.A'],
    ['$["\\/"]', '$["/"]'],
    ['$["\\u007f"]', '$["\u007f"]'],
    ['$.*..[*]', '$.*..[*]'],
  ];
  for (const [written, canonical] of cases) {
    t.equal(canonicalPath(written), canonical, written);
    t.equal(canonicalPath(canonical), canonical, `${canonical} is a fixed point`);
  }
  t.equal(formatFieldPath([key('a'), { kind: 'anyKey', deep: true }, { kind: 'index', n: 3, deep: false }]), '$.a..*[3]');
  t.equal(keyStep('ok_1'), '.ok_1');
  t.equal(keyStep('1a'), '["1a"]');
  t.equal(keyStep(''), '[""]');
  t.ok(isIdentifier('$'));
  t.notOk(isIdentifier('café'), 'identifiers are ASCII');
  t.end();
});

void t.test('what is rejected, where, and the fix', (t) => {
  const cases: [string, string, number | null][] = [
    ['$.a-b', '"a-b" is not an identifier; write $["a-b"]', 3],
    ['$.a-b.c[*]', '"a-b" is not an identifier; write $["a-b"].c[*]', 3],
    ['$..a-b', '"a-b" is not an identifier; write $..["a-b"]', 4],
    ['$.a b', '"a b" is not an identifier; write $["a b"]', 3],
    ['$.café', '"café" is not an identifier; write $["café"]', 3],
    ['$.0', '"0" is not an identifier; write $["0"] (the key), or $[0] (an array index)', 3],
    ['', 'empty; the whole body is $', null],
    ['a.b', 'must start with "$"; write $.a.b', 1],
    ['.a', 'must start with "$"; write $.a', 1],
    ['x y', 'must start with "$"', 1],
    ['$a', 'unexpected "a": a step starts with ".", ".." or "["; write $.a', 2],
    ['$.', 'trailing ".": follow it with a key or *', 2],
    ['$.a.', 'trailing ".": follow it with a key or *', 4],
    ['$.a..', 'trailing "..": follow it with a key, * or [...]', 4],
    ['$...a', '"..." is not a step; ".." (any depth) is followed by a key, * or [...]', 2],
    ['$.a.[*]', 'empty key between "." and "["; write $.a[*]', 4],
    ['$.a[', 'unclosed "["', 4],
    ['$.a[*', 'unclosed "["', 4],
    ['$["a"', 'unclosed "["', 2],
    ['$["a', 'unclosed quote', 3],
    ['$["a\\', 'unclosed quote', 3],
    ['$["\\x"]', 'bad escape "\\\\x" in a quoted key (JSON escapes: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)', 4],
    ['$["\\u12"]', 'bad escape "\\\\u12" in a quoted key (JSON escapes: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)', 4],
    ['$["a\tb"]', 'control character in a quoted key; write it as \\t', 5],
    [' $.a', 'whitespace outside quotes', 1],
    ['$ .a', 'whitespace outside quotes', 2],
    ['$.a ', 'whitespace outside quotes', 4],
    ['$.a [*]', 'whitespace outside quotes', 4],
    ['$[ *]', 'whitespace outside quotes', 3],
    ['$[* ]', 'whitespace outside quotes', 4],
    ['$["a"] ', 'whitespace outside quotes', 7],
    ["$['a']", 'a key in brackets is a JSON string in double quotes; write $["a"]', 3],
    ['$[a-b]', '[a-b] is not a step: brackets hold *, an array index or a key as a JSON string (write $["a-b"])', 3],
    ['$[1x]', '[1x] is not a step: brackets hold *, an array index or a key as a JSON string (write $["1x"])', 3],
    ['$."a b"', 'a quoted key goes in brackets; write $["a b"]', 2],
    ['$$', '"$" (the root) comes only first', 2],
    ['$.a[*]$', '"$" (the root) comes only first', 7],
  ];
  for (const [path, detail, character] of cases) {
    t.strictSame(problem(path), { detail, character }, JSON.stringify(path));
  }
  t.equal(problem('$.a$.b'), undefined, '$ inside an identifier is fine');
  t.end();
});

void t.test('the error carries a stable code, the path and a one-line message', (t) => {
  const err = t.throws(() => parseFieldPath('$.a-b')) as PathSyntaxError;
  t.equal(err.code, 'UMBRA_BAD_FIELD_PATH');
  t.equal(err.path, '$.a-b');
  t.equal(err.message, 'bad field path "$.a-b" at character 3: "a-b" is not an identifier; write $["a-b"]');
  t.end();
});

void t.test('at most MAX_PATH_STEPS steps', (t) => {
  t.equal(parseFieldPath('$' + '.a'.repeat(MAX_PATH_STEPS)).length, MAX_PATH_STEPS);
  t.equal(problem('$' + '.a'.repeat(MAX_PATH_STEPS + 1))?.detail, `more than ${MAX_PATH_STEPS} steps`);
  t.end();
});
