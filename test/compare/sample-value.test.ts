// Sample values: exact numbers as JSON numbers, and writeJson as JSON.stringify
// for everything else.
import t from 'tap';
import { exactNumber, exactText, isCutValue, isExactNumber, writeJson } from '../../src/compare/index.js';

void t.test('an exact number is written as a JSON number, digit for digit', (t) => {
  const n = exactNumber('12345678901234567890123');
  t.ok(isExactNumber(n));
  t.equal(exactText(n), '12345678901234567890123');
  t.equal(writeJson(n), '12345678901234567890123');
  t.equal(writeJson({ id: n, list: [exactNumber('-1.00000000000000000001e-400'), 1] }), '{"id":12345678901234567890123,"list":[-1.00000000000000000001e-400,1]}');
  t.equal(JSON.stringify({ id: n }), '{"id":"12345678901234567890123"}', 'JSON.stringify, where it meets one, writes it as an exact string');
  t.equal(writeJson(Object('not a number')), '"not a number"', 'a String object that is not number text stays a string');
  t.notOk(isExactNumber('123'), 'a string is not an exact number');
  t.notOk(isExactNumber(123));
  t.end();
});

void t.test('an exact number survives structured clone, as postMessage does it', (t) => {
  const copy = structuredClone({ v: [exactNumber('98765432109876543210')] });
  t.ok(isExactNumber(copy.v[0]));
  t.equal(writeJson(copy), '{"v":[98765432109876543210]}');
  t.end();
});

void t.test('writeJson writes what JSON.stringify writes for plain data', (t) => {
  const values: unknown[] = [
    null,
    true,
    false,
    0,
    -0,
    1.5e-7,
    NaN,
    Infinity,
    'plain',
    'quote " backslash \\ control \u0001 line\nseparator \u2028 é 😀 lone \ud800',
    [],
    {},
    [1, 'a', null, undefined, () => 1, Symbol('s'), [2, [3]]],
    { a: 1, b: undefined, c: () => 1, d: { e: [1, { f: 'g' }] }, 'we ird"key': 2 },
    JSON.parse('{"__proto__":{"x":1},"n":2}'),
    { when: new Date(0), nested: { toJSON: (k: string) => `key was ${k}` } },
  ];
  values.forEach((v, i) => t.equal(writeJson(v), JSON.stringify(v), `value ${i}`));
  t.end();
});

void t.test('isCutValue: an object whose only member is "…"', (t) => {
  t.ok(isCutValue({ '…': { items: 3 } }));
  t.notOk(isCutValue({ '…': { keys: 3 }, a: 1 }));
  t.notOk(isCutValue([{ '…': 1 }]));
  t.notOk(isCutValue('…'));
  t.notOk(isCutValue(null));
  t.end();
});
