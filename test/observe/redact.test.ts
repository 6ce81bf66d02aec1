import t from 'tap';
import { REDACTED, compileRedactor } from '../../src/observe/redact.js';
import type { Difference } from '../../src/compare/index.js';
import { CUT, compareAnswers, compileRules, exactNumber, isExactNumber, writeJson } from '../../src/compare/index.js';

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
      // gRPC trailing metadata is header fields too: a secret name is redacted there as well.
      { part: 'trailer', field: 'trailer:x-api-key', kind: 'changed', live: 'k1', dark: 'k2' },
      { part: 'trailer', field: 'trailer:x-api-key', kind: 'changed', live: REDACTED, dark: REDACTED },
    ],
    [
      { part: 'trailer', field: 'trailer:grpc-status', kind: 'changed', live: '0', dark: '5' },
      { part: 'trailer', field: 'trailer:grpc-status', kind: 'changed', live: '0', dark: '5' },
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

void t.test('every example of a list difference is redacted, not just the first', async (t) => {
  const rules = compileRules({ ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 1 << 20 });
  const body = (v: string) => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ users: ['a', 'b', 'c'].map((u) => ({ id: u, ssn: `${v}-ssn-${u}`, card: { number: `${v}-card-${u}` } })) })),
    truncated: false,
  });
  const v = compareAnswers(body('live'), body('dark'), rules, { method: 'GET' });
  const ssn = v.differences.find((d) => d.field === '$.users[*].ssn');
  t.equal(ssn?.examples?.length, 3, 'three examples before redaction');
  const red = compileRedactor({ headers: [], fields: ['$.users[*].ssn', '$..number'] });
  const out = v.differences.map((d) => red.redactDifference(d));
  t.notMatch(writeJson(out), /ssn-|card-/, 'no secret in any example');
  const redSsn = out.find((d) => d.field === '$.users[*].ssn');
  t.strictSame(redSsn, {
    part: 'body',
    field: '$.users[*].ssn',
    kind: 'changed',
    live: REDACTED,
    dark: REDACTED,
    count: 3,
    examples: [0, 1, 2].map(() => ({ live: REDACTED, dark: REDACTED })),
  });
  // A difference above the secret: the secret inside every example's value.
  const above = red.redactDifference({
    part: 'body',
    field: '$.users[*]',
    kind: 'added',
    dark: { id: 'x', ssn: 's1' },
    count: 2,
    examples: [{ dark: { id: 'x', ssn: 's1' } }, { dark: { id: 'y', ssn: 's2' } }],
  });
  t.strictSame(above.examples, [{ dark: { id: 'x', ssn: REDACTED } }, { dark: { id: 'y', ssn: REDACTED } }]);
  t.strictSame(above.dark, { id: 'x', ssn: REDACTED });
  t.end();
});

void t.test('markers and exact numbers: kept, never walked into; a secret string cut short is still redacted', (t) => {
  const red = compileRedactor({ headers: [], fields: ['$.user.token', '$.list[*]'] });
  const long = { [CUT]: { string: 5000, head: 'secret-head' } };
  const d = red.redactDifference({
    part: 'body',
    field: '$.user',
    kind: 'changed',
    live: { id: exactNumber('12345678901234567890123'), token: long, [CUT]: { keys: 40 } },
    dark: { id: 1, token: 'short', [CUT]: { keys: 41 } },
  });
  const live = d.live as Record<string, unknown>;
  t.ok(isExactNumber(live['id']), 'an exact number stays one');
  t.equal(live['token'], REDACTED, 'the long secret, marker and all');
  t.strictSame(live[CUT], { keys: 40 }, 'the marker member is kept as it is');
  t.notMatch(writeJson(d), /secret-head|short/);
  const list = red.redactDifference({ part: 'body', field: '$.list', kind: 'changed', live: ['a', 'b', { [CUT]: { items: 9 } }], dark: [] });
  t.strictSame(list.live, [REDACTED, REDACTED, REDACTED], 'elements under a redacted [*], markers too');
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
