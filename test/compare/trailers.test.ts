// Trailers compared like headers (DESIGN §5 gRPC): `trailer:<name>`, the same
// ignore lists, grpc-status and grpc-message always compared, and a trailers-only
// answer (the status trailers sent as headers) compared as if they were trailers.
import t from 'tap';
import type { CompareConfig } from '../../src/config/types.js';
import type { Answer } from '../../src/compare/index.js';
import { ComparePool, compareAnswers, compileRules } from '../../src/compare/index.js';

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
const rules = compileRules(base, { maxDecodedBytes: 1 << 20 });
const ctx = { method: 'POST' };

type Fields = Record<string, string | string[]>;

function ans(trailers: Fields | undefined, headers: Fields = {}, body = ''): Answer {
  const a: Answer = { status: 200, headers, body: Buffer.from(body), truncated: false };
  if (trailers !== undefined) a.trailers = trailers;
  return a;
}

/** "field kind live dark" for each difference, values as JSON. */
function diffs(live: Answer, dark: Answer, r = rules): string[] {
  return compareAnswers(live, dark, r, ctx).differences.map((d) => `${d.part} ${d.field} ${d.kind} ${JSON.stringify(d.live)} ${JSON.stringify(d.dark)}`);
}

void t.test('grpc-status and grpc-message', async (t) => {
  t.strictSame(diffs(ans({ 'grpc-status': '0' }), ans({ 'grpc-status': '5', 'grpc-message': 'item 7 not found' })), [
    'trailer trailer:grpc-message added undefined "item 7 not found"',
    'trailer trailer:grpc-status changed "0" "5"',
  ]);
  t.strictSame(diffs(ans({ 'grpc-status': '13', 'grpc-message': 'boom' }), ans({ 'grpc-status': '13', 'grpc-message': 'bang' })), [
    'trailer trailer:grpc-message changed "boom" "bang"',
  ]);
  t.strictSame(diffs(ans({ 'grpc-status': '0' }), ans({ 'grpc-status': '0' })), [], 'the same trailers: no difference');
  t.strictSame(diffs(ans({ 'grpc-status': '0' }), ans(undefined)), ['trailer trailer:grpc-status removed "0" undefined'], 'trailers on one side only');
  t.equal(compareAnswers(ans({ 'grpc-status': '0' }), ans({ 'grpc-status': '5' }), rules, ctx).result, 'mismatch');
});

void t.test('a trailers-only answer (status in the headers) compares with a normal one as trailers', async (t) => {
  const normal = ans({ 'grpc-status': '0' }, { 'content-type': 'application/grpc' });
  const trailersOnly = ans(undefined, { 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'not found' });
  t.strictSame(diffs(normal, trailersOnly), ['trailer trailer:grpc-message added undefined "not found"', 'trailer trailer:grpc-status changed "0" "5"'], 'never header:grpc-status');
  t.strictSame(diffs(trailersOnly, trailersOnly), []);
  const sameError = ans({ 'grpc-status': '5', 'grpc-message': 'not found' }, { 'content-type': 'application/grpc' });
  t.strictSame(diffs(trailersOnly, sameError), [], 'the same error as trailers-only and as headers plus trailers');
  // A trailer wins over a header of the same name (a malformed answer that sends both).
  t.strictSame(diffs(ans({ 'grpc-status': '0' }, { 'grpc-status': '9' }), ans({ 'grpc-status': '0' })), []);
  t.strictSame(
    diffs(ans(undefined, { 'grpc-status-details-bin': 'AAA' }), ans({ 'grpc-status-details-bin': 'BBB' })),
    ['trailer trailer:grpc-status-details-bin changed "AAA" "BBB"'],
    'grpc-status-details-bin too',
  );
});

void t.test('the ignore lists apply to trailers, except grpc-status and grpc-message', async (t) => {
  const r = compileRules({ ...base, ignoreHeaders: ['x-debug', 'grpc-status', 'grpc-message', 'grpc-status-details-bin'] }, { maxDecodedBytes: 1 << 20 });
  const live = ans({ 'grpc-status': '0', 'x-debug': 'a', 'x-cost': '1', 'grpc-status-details-bin': 'A' });
  const dark = ans({ 'grpc-status': '2', 'grpc-message': 'oops', 'x-debug': 'b', 'x-cost': '2', 'grpc-status-details-bin': 'B' });
  t.strictSame(diffs(live, dark, r), [
    'trailer trailer:grpc-message added undefined "oops"',
    'trailer trailer:grpc-status changed "0" "2"',
    'trailer trailer:x-cost changed "1" "2"',
  ]);
  t.strictSame(diffs(live, dark), [
    'trailer trailer:grpc-message added undefined "oops"',
    'trailer trailer:grpc-status changed "0" "2"',
    'trailer trailer:grpc-status-details-bin changed "A" "B"',
    'trailer trailer:x-cost changed "1" "2"',
    'trailer trailer:x-debug changed "a" "b"',
  ]);
  // The built-in list (date, server, ...) applies to trailers as to headers.
  t.strictSame(diffs(ans({ date: 'Mon', 'x-a': '1' }), ans({ date: 'Tue', 'x-a': '1' })), []);
});

void t.test('HTTP/1.1 trailers of any answer, names case-insensitive, values joined', async (t) => {
  t.strictSame(diffs(ans({ 'server-timing': 'db;dur=53' }, {}, 'x'), ans({ 'Server-Timing': 'db;dur=53' }, {}, 'x')), []);
  t.strictSame(diffs(ans({ 'x-checksum': ['a', 'b'] }), ans({ 'x-checksum': 'a, b' })), []);
  t.strictSame(diffs(ans({ 'x-checksum': ['a', 'b'] }), ans({ 'x-checksum': 'a' })), ['trailer trailer:x-checksum changed "a, b" "a"']);
  t.strictSame(diffs(ans({}), ans(undefined)), [], 'no trailers and an empty set are the same');
  // Headers and trailers are apart: a header and a trailer of one name do not pair.
  t.strictSame(diffs(ans(undefined, { 'x-a': '1' }), ans({ 'x-a': '1' })), ['header header:x-a removed "1" undefined', 'trailer trailer:x-a added undefined "1"']);
});

void t.test('trailers cross to a compare worker', async (t) => {
  const pool = new ComparePool({ size: 1, inlineBelowBytes: 0 });
  t.teardown(() => pool.close());
  const live = ans({ 'grpc-status': '0' }, { 'content-type': 'text/plain' }, 'a');
  const dark = ans(undefined, { 'content-type': 'text/plain', 'grpc-status': '14', 'grpc-message': 'unavailable' }, 'b');
  const v = await pool.compare(live, dark, rules, ctx);
  t.equal(pool.stats.workers, 1, 'compared in a worker');
  t.strictSame(v, compareAnswers(live, dark, rules, ctx));
  t.strictSame(
    v.differences.map((d) => `${d.field} ${d.kind}`),
    ['trailer:grpc-message added', 'trailer:grpc-status changed', 'line:1 changed'],
  );
});

void t.test('grpc-message is compared as its text: percent-encoding undone, as the gRPC protocol says', async (t) => {
  // grpc-js escapes a space, grpc-go does not: the same message.
  t.strictSame(diffs(ans({ 'grpc-status': '5', 'grpc-message': 'no%20such%20item' }), ans({ 'grpc-status': '5', 'grpc-message': 'no such item' })), []);
  t.strictSame(diffs(ans({ 'grpc-message': 'caf%C3%A9%25' }), ans({ 'grpc-message': 'café' })), ['trailer trailer:grpc-message changed "café%" "café"'], 'shown decoded');
  t.strictSame(diffs(ans({ 'grpc-message': '100%' }), ans({ 'grpc-message': '100%25' })), [], 'a stray % stays as sent, and equals its encoded form');
  t.strictSame(diffs(ans({ 'grpc-message': '%FF' }), ans({ 'grpc-message': '%FE' })), ['trailer trailer:grpc-message changed "%FF" "%FE"'], 'not UTF-8: as sent, never equal');
  t.strictSame(diffs(ans(undefined, { 'grpc-message': 'a%20b' }), ans({ 'grpc-message': 'a b' })), [], 'in a trailers-only answer too');
  t.strictSame(diffs(ans({ 'x-note': 'a%20b' }), ans({ 'x-note': 'a b' })), ['trailer trailer:x-note changed "a%20b" "a b"'], 'other trailers as sent');
});
