import t from 'tap';
import { REDACTED, compileRedactor } from '../../src/observe/redact.js';
import type { Difference } from '../../src/compare/index.js';
import { compareAnswers, compileRules } from '../../src/compare/index.js';

const r = compileRedactor({ headers: ['X-Api-Key'], fields: ['$..password', '$.card.number', '$.users[*].ssn'] });

void t.test('headers: built-in and configured, case-insensitive', (t) => {
  const out = r.redactHeaders({
    authorization: 'Bearer s3cret',
    Cookie: 'a=b',
    'set-cookie': ['a=1', 'b=2'],
    'proxy-authorization': 'Basic x',
    'x-api-key': 'k',
    accept: 'application/json',
    absent: undefined,
  });
  t.strictSame(out, {
    authorization: REDACTED,
    Cookie: REDACTED,
    'set-cookie': REDACTED,
    'proxy-authorization': REDACTED,
    'x-api-key': REDACTED,
    accept: 'application/json',
    absent: undefined,
  });
  t.end();
});

void t.test('JSON values: any depth, exact paths, array wildcards', (t) => {
  const v = r.redactJson({
    password: 'p0',
    user: { name: 'ada', password: 'p1', prefs: [{ password: 'p2' }] },
    card: { number: '4111', exp: '12/30' },
    users: [{ ssn: '1', id: 1 }, { ssn: '2', id: 2 }],
    other: { card: { number: 'kept' } },
  });
  t.strictSame(v, {
    password: REDACTED,
    user: { name: 'ada', password: REDACTED, prefs: [{ password: REDACTED }] },
    card: { number: REDACTED, exp: '12/30' },
    users: [{ ssn: REDACTED, id: 1 }, { ssn: REDACTED, id: 2 }],
    other: { card: { number: 'kept' } },
  });
  t.end();
});

void t.test('differences keep their path, lose their values', (t) => {
  const cases: [Difference, Difference][] = [
    [
      { part: 'header', field: 'header:authorization', kind: 'changed', live: 'a', dark: 'b' },
      { part: 'header', field: 'header:authorization', kind: 'changed', live: REDACTED, dark: REDACTED },
    ],
    [
      { part: 'header', field: 'header:x-api-key', kind: 'added', dark: 'b' },
      { part: 'header', field: 'header:x-api-key', kind: 'added', dark: REDACTED },
    ],
    [
      { part: 'body', field: '$.user.password', kind: 'removed', live: 'x' },
      { part: 'body', field: '$.user.password', kind: 'removed', live: REDACTED },
    ],
    [
      { part: 'body', field: '$.users[*].ssn', kind: 'changed', live: '1', dark: '2' },
      { part: 'body', field: '$.users[*].ssn', kind: 'changed', live: REDACTED, dark: REDACTED },
    ],
    [
      // A difference above a secret field: the secret inside the value is redacted.
      { part: 'body', field: '$.user', kind: 'changed', live: { password: 'a', n: 1 }, dark: { password: 'b', n: 2 } },
      { part: 'body', field: '$.user', kind: 'changed', live: { password: REDACTED, n: 1 }, dark: { password: REDACTED, n: 2 } },
    ],
    [
      { part: 'body', field: '$.users', kind: 'order', live: [{ ssn: '1' }, { ssn: '2' }], dark: [{ ssn: '2' }, { ssn: '1' }] },
      { part: 'body', field: '$.users', kind: 'order', live: [{ ssn: REDACTED }, { ssn: REDACTED }], dark: [{ ssn: REDACTED }, { ssn: REDACTED }] },
    ],
    [
      { part: 'body', field: '$.user.name', kind: 'changed', live: 'a', dark: 'b' },
      { part: 'body', field: '$.user.name', kind: 'changed', live: 'a', dark: 'b' },
    ],
    [
      { part: 'header', field: 'header:accept', kind: 'changed', live: 'a', dark: 'b' },
      { part: 'header', field: 'header:accept', kind: 'changed', live: 'a', dark: 'b' },
    ],
    [
      { part: 'status', field: 'status', kind: 'changed', live: 200, dark: 500 },
      { part: 'status', field: 'status', kind: 'changed', live: 200, dark: 500 },
    ],
  ];
  for (const [input, want] of cases) t.strictSame(r.redactDifference(input), want, input.field);
  t.end();
});

void t.test('end to end: a verdict on secret fields shows no secret', async (t) => {
  const rules = compileRules({ ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 1 << 20 });
  const mk = (pw: string, auth: string) => ({
    status: 200,
    headers: { 'content-type': 'application/json', 'www-authenticate': auth },
    body: Buffer.from(JSON.stringify({ login: { password: pw }, list: [{ password: pw }] })),
    truncated: false,
  });
  const red = compileRedactor({ headers: ['www-authenticate'], fields: ['$..password'] });
  const v = compareAnswers(mk('hunter2', 'Basic realm=a'), mk('hunter3', 'Basic realm=b'), rules, { method: 'GET' });
  const out = JSON.stringify(v.differences.map((d) => red.redactDifference(d)));
  t.notMatch(out, /hunter|realm/);
  t.match(out, /\$\.login\.password/);
  t.match(out, /header:www-authenticate/);
  t.end();
});

void t.test('JSON values nested 100 000 deep are redacted without recursion', (t) => {
  const r = compileRedactor({ headers: [], fields: ['$..password'] });
  const depth = 100_000;
  const doc = JSON.parse(`${'{"a":['.repeat(depth)}{"password":"s3cret","keep":1}${']}'.repeat(depth)}`) as unknown;
  let node = r.redactJson(doc) as Record<string, unknown>;
  for (let i = 0; i < depth; i++) node = (node.a as Record<string, unknown>[])[0] as Record<string, unknown>;
  t.strictSame(node, { password: REDACTED, keep: 1 });
  t.end();
});
