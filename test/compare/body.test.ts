// Bodies by media type and charset (DESIGN §5 "text and charsets"): each row is
// a live/dark pair and the exact differences it must give. Bytes that do not
// decode are compared as bytes, so two different bodies never read the same.

import t from 'tap';
import { TextDecoder } from 'node:util';
import type { CompareConfig } from '../../src/config/types.js';
import type { Answer } from '../../src/compare/index.js';
import { compareAnswers, compileRules } from '../../src/compare/index.js';
import { binarySummary, bodyKind, decodeText, parseMediaType, sameMediaType } from '../../src/compare/body.js';

const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };
const rules = compileRules(base, { maxDecodedBytes: 1 << 20 });

const bytes = (...b: number[]): Buffer => Buffer.from(b);
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const utf16le = (s: string): Buffer => Buffer.from(s, 'utf16le');

function ans(contentType: string | null, body: string | Buffer): Answer {
  return { status: 200, headers: contentType === null ? {} : { 'content-type': contentType }, body: typeof body === 'string' ? Buffer.from(body) : body, truncated: false };
}

interface Row {
  name: string;
  live: Answer;
  dark: Answer;
  /** Exact list, in order: "field kind". */
  diffs: string[];
  /** Checks on the body difference's values (the last difference). */
  values?: { live: unknown; dark: unknown };
}

/** `{bytes, sha256}` of both sides: what a byte comparison reports. */
const summaries = (live: Answer, dark: Answer): NonNullable<Row['values']> => ({ live: binarySummary(live.body), dark: binarySummary(dark.body) });

const TEXT = 'text/plain; charset=utf-8';
const JSON_CT = 'application/json';
const SJIS = 'text/plain; charset=shift_jis';
const byteRow = (name: string, live: Answer, dark: Answer): Row => ({ name, live, dark, diffs: ['$ changed'], values: summaries(live, dark) });

// Node 20.18.3 and later 20.x decode windows-1252 as ISO-8859-1 (nodejs/node#56542,
// #60888): 0x80 reads U+0080 there and € on Node 24. Both are one character per byte.
const EURO_1252 = new TextDecoder('windows-1252').decode(bytes(0x80));

const rows: Row[] = [
  // Charsets
  {
    name: 'latin1 and utf-8 spelling the same text match; the header says what changed',
    live: ans('text/plain; charset=iso-8859-1', latin1('café\n')),
    dark: ans(TEXT, 'café\n'),
    diffs: ['header:content-type changed'],
  },
  { name: 'latin1 text differs by line', live: ans('text/plain; charset=latin1', latin1('a\ncafé')), dark: ans('text/plain; charset=latin1', latin1('a\ncafè')), diffs: ['line:2 changed'], values: { live: 'café', dark: 'cafè' } },
  { name: 'windows-1252 bytes 0x80 and 0x81 differ', live: ans('text/plain; charset=windows-1252', bytes(0x80)), dark: ans('text/plain; charset=windows-1252', bytes(0x81)), diffs: ['line:1 changed'], values: { live: EURO_1252, dark: '\u0081' } },
  {
    name: 'windows-1252 0x80 against a utf-8 euro sign: as this runtime decodes windows-1252',
    live: ans('text/plain; charset=windows-1252', bytes(0x80)),
    dark: ans(TEXT, '€'),
    diffs: EURO_1252 === '€' ? ['header:content-type changed'] : ['header:content-type changed', 'line:1 changed'],
  },
  { name: 'utf-16le with and without a BOM: the BOM is not content', live: ans('text/plain; charset=utf-16le', utf16le('\ufeffhi\nthere')), dark: ans('text/plain; charset=utf-16le', utf16le('hi\nthere')), diffs: [] },
  { name: 'utf-16le differs by line', live: ans('text/plain; charset=utf-16le', utf16le('hi\nthere')), dark: ans('text/plain; charset=utf-16le', utf16le('hi\nthem')), diffs: ['line:2 changed'], values: { live: 'there', dark: 'them' } },
  { name: 'utf-16le and utf-8 spelling the same text match', live: ans('text/plain; charset=utf-16le', utf16le('ünï')), dark: ans(TEXT, 'ünï'), diffs: ['header:content-type changed'] },
  // Lossy decoding reads two different lone surrogates as the same U+FFFD.
  byteRow('utf-16le: two different lone surrogates', ans('text/plain; charset=utf-16le', bytes(0x61, 0, 0x00, 0xd8)), ans('text/plain; charset=utf-16le', bytes(0x61, 0, 0x01, 0xd8))),
  byteRow('utf-16le: an odd byte count is not utf-16le', ans('text/plain; charset=utf-16le', bytes(0x61, 0, 0x62)), ans('text/plain; charset=utf-16le', bytes(0x61, 0, 0x62, 0))),
  { name: 'shift_jis differs by line', live: ans(SJIS, bytes(0x82, 0xa0)), dark: ans(SJIS, bytes(0x82, 0xa2)), diffs: ['line:1 changed'], values: { live: 'あ', dark: 'い' } },
  { name: 'shift_jis and utf-8 spelling the same text match', live: ans('text/plain; charset=Shift_JIS', bytes(0x82, 0xa0, 0x0a)), dark: ans(TEXT, 'あ\n'), diffs: ['header:content-type changed'] },
  byteRow('shift_jis: two different truncated sequences', ans(SJIS, bytes(0x82, 0xa0, 0x82)), ans(SJIS, bytes(0x82, 0xa0, 0x83))),
  // Invalid UTF-8 that Buffer#toString and a non-fatal TextDecoder both read as U+FFFD.
  byteRow('utf-8: 0xff and 0xfe', ans(TEXT, Buffer.concat([Buffer.from('ok\n'), bytes(0xff)])), ans(TEXT, Buffer.concat([Buffer.from('ok\n'), bytes(0xfe)]))),
  byteRow('utf-8 by default: text/plain without a charset', ans('text/plain', bytes(0x61, 0xff)), ans('text/plain', bytes(0x61, 0xfe))),
  byteRow('utf-8: two overlong encodings', ans(TEXT, bytes(0xc0, 0xaf)), ans(TEXT, bytes(0xc1, 0x81))),
  byteRow('utf-8: encoded surrogates', ans(TEXT, bytes(0xed, 0xa0, 0x80)), ans(TEXT, bytes(0xed, 0xa0, 0x81))),
  byteRow('utf-8: a truncated sequence at the end', ans(TEXT, bytes(0x61, 0xe2, 0x82)), ans(TEXT, bytes(0x61, 0xe2, 0x83))),
  byteRow('valid on one side only: compared as bytes', ans(TEXT, 'café'), ans(TEXT, latin1('café'))),
  byteRow('an unknown charset label is compared as bytes', ans('text/plain; charset=x-made-up', 'abc'), ans('text/plain; charset=x-made-up', 'abd')),
  { name: 'an unknown label with equal bytes matches', live: ans('text/plain; charset=x-made-up', bytes(0xff)), dark: ans('text/plain; charset=x-made-up', bytes(0xff)), diffs: [] },
  { name: 'the same bytes under another charset: the header difference only', live: ans(TEXT, 'café'), dark: ans('text/plain; charset=iso-8859-1', 'café'), diffs: ['header:content-type changed'] },
  { name: 'a utf-8 BOM on one side only is not content', live: ans(TEXT, '\ufeffa\nb'), dark: ans(TEXT, 'a\nb'), diffs: [] },
  { name: 'a side without content-type is read as the other', live: ans(null, latin1('é')), dark: ans('text/plain; charset=latin1', latin1('è')), diffs: ['header:content-type added', 'line:1 changed'], values: { live: 'é', dark: 'è' } },

  // JSON
  { name: 'Application/JSON ; Charset="UTF-8" is JSON', live: ans('Application/JSON ; Charset="UTF-8"', '{"a":1}'), dark: ans('Application/JSON ; Charset="UTF-8"', '{"a":2}'), diffs: ['$.a changed'] },
  { name: 'a vendor +json type is JSON', live: ans('application/vnd.api+JSON;ext=x', '{"a":1}'), dark: ans('application/vnd.api+JSON;ext=x', '{"a":2}'), diffs: ['$.a changed'] },
  byteRow('application/jsonx is not JSON', ans('application/jsonx', '{"a":1}'), ans('application/jsonx', '{"a":2}')),
  byteRow('JSON with invalid utf-8 on both sides is compared as bytes', ans(JSON_CT, Buffer.concat([Buffer.from('{"s":"'), bytes(0xff), Buffer.from('"}')])), ans(JSON_CT, Buffer.concat([Buffer.from('{"s":"'), bytes(0xfe), Buffer.from('"}')]))),
  { name: 'JSON with invalid utf-8 on one side is invalid JSON', live: ans(JSON_CT, '{"s":"é"}'), dark: ans(JSON_CT, latin1('{"s":"é"}')), diffs: ['$ type'], values: { live: 'object', dark: 'invalid JSON' } },
  { name: 'JSON under a declared latin1 charset', live: ans('application/json; charset=iso-8859-1', latin1('{"s":"é"}')), dark: ans('application/json; charset=iso-8859-1', latin1('{"s":"è"}')), diffs: ['$.s changed'], values: { live: 'é', dark: 'è' } },
  { name: 'JSON in latin1 and in utf-8 with the same content', live: ans('application/json; charset=iso-8859-1', latin1('{"s":"é"}')), dark: ans(JSON_CT, '{ "s": "é" }'), diffs: ['header:content-type changed'] },
  { name: 'JSON in utf-16le and in utf-8 with the same content', live: ans('application/json; charset=utf-16le', utf16le('{"s":"é"}')), dark: ans(JSON_CT, '{"s":"é"}'), diffs: ['header:content-type changed'] },
  { name: 'JSON with an unknown charset label is read as utf-8', live: ans('application/json; charset=bogus', '{"a":"é"}'), dark: ans('application/json; charset=bogus', '{"a":"è"}'), diffs: ['$.a changed'], values: { live: 'é', dark: 'è' } },
  { name: 'JSON with a utf-8 BOM matches JSON without', live: ans(JSON_CT, '\ufeff{"a":1}'), dark: ans(JSON_CT, '{"a":1.0}'), diffs: [] },
  { name: 'JSON against text/html that is not JSON', live: ans(JSON_CT, '{"a":1}'), dark: ans('text/html', '<html>oops</html>'), diffs: ['header:content-type changed', '$ type'], values: { live: 'object', dark: 'invalid JSON' } },
  { name: 'text/html against JSON', live: ans('text/html', '<html>oops</html>'), dark: ans(JSON_CT, '[1]'), diffs: ['header:content-type changed', '$ type'], values: { live: 'invalid JSON', dark: 'array' } },
  { name: 'JSON against text/plain holding the same JSON', live: ans(JSON_CT, '{"a":1}'), dark: ans('text/plain', '{ "a": 1 }'), diffs: ['header:content-type changed'] },
  { name: 'JSON against text/plain holding other JSON', live: ans(JSON_CT, '{"a":1}'), dark: ans('text/plain', '{"a":2}'), diffs: ['header:content-type changed', '$.a changed'] },
  { name: 'JSON against an image', live: ans(JSON_CT, '{"a":1}'), dark: ans('image/png', bytes(0x89, 0x50, 0x4e, 0x47)), diffs: ['header:content-type changed', '$ type'], values: { live: 'object', dark: 'invalid JSON' } },
  { name: 'invalid JSON against text that is not JSON: by lines', live: ans(JSON_CT, 'oops\nline 2'), dark: ans('text/plain', 'oops\nline two'), diffs: ['header:content-type changed', 'line:2 changed'] },
  {
    name: 'text against binary: by bytes',
    live: ans('text/plain', 'a'),
    dark: ans('application/octet-stream', 'b'),
    diffs: ['header:content-type changed', '$ changed'],
    values: { live: binarySummary(Buffer.from('a')), dark: binarySummary(Buffer.from('b')) },
  },

  // content-type compared as a media type
  { name: 'content-type: case, quotes, whitespace and utf8', live: ans('application/json; charset=utf-8', '{}'), dark: ans('Application/JSON ;Charset="UTF8"', '{}'), diffs: [] },
  { name: 'content-type: unicode-1-1-utf-8 is utf-8', live: ans('text/plain; charset=utf-8', 'x'), dark: ans('text/plain; charset=unicode-1-1-utf-8', 'x'), diffs: [] },
  { name: 'content-type: parameter order', live: ans('multipart/mixed; boundary=x; charset=utf-8', 'x'), dark: ans('multipart/mixed;charset=UTF-8 ;  boundary="x"', 'x'), diffs: [] },
  { name: 'content-type: an empty parameter', live: ans('text/plain;', 'x'), dark: ans('text/plain', 'x'), diffs: [] },
  { name: 'content-type: a quoted-pair', live: ans('text/plain; p="a\\b"', 'x'), dark: ans('text/plain; p=ab', 'x'), diffs: [] },
  { name: 'content-type: boundary values compare exactly', live: ans('multipart/mixed; boundary=ABC', 'x'), dark: ans('multipart/mixed; boundary=abc', 'x'), diffs: ['header:content-type changed'], values: { live: 'multipart/mixed; boundary=ABC', dark: 'multipart/mixed; boundary=abc' } },
  { name: 'content-type: another charset', live: ans('text/plain; charset=utf-8', 'x'), dark: ans('text/plain; charset=us-ascii', 'x'), diffs: ['header:content-type changed'] },
  { name: 'content-type: latin1 and windows-1252 are different charsets', live: ans('text/plain; charset=latin1', 'x'), dark: ans('text/plain; charset=windows-1252', 'x'), diffs: ['header:content-type changed'] },
  { name: 'content-type: a charset on one side only', live: ans('text/plain', 'x'), dark: ans('text/plain; charset=utf-8', 'x'), diffs: ['header:content-type changed'] },
  { name: 'content-type: another subtype', live: ans('text/plain', 'x'), dark: ans('text/html', 'x'), diffs: ['header:content-type changed'] },
  { name: 'content-type: a malformed parameter compares as text', live: ans('text/plain; charset', 'x'), dark: ans('text/plain', 'x'), diffs: ['header:content-type changed'] },
  { name: 'content-type: repeated parameters keep their order', live: ans('text/plain; charset=utf-8; charset=latin1', 'x'), dark: ans('text/plain; charset=latin1; charset=utf-8', 'x'), diffs: ['header:content-type changed'] },
];

for (const row of rows) {
  void t.test(row.name, async (t) => {
    const v = compareAnswers(row.live, row.dark, rules, { method: 'GET' });
    t.strictSame(v.differences.map((d) => `${d.field} ${d.kind}`), row.diffs, 'differences');
    t.equal(v.result, row.diffs.length > 0 ? 'mismatch' : 'match', 'result');
    if (row.values !== undefined) {
      const d = v.differences.at(-1);
      t.strictSame(d?.live, row.values.live, 'live value');
      t.strictSame(d?.dark, row.values.dark, 'dark value');
    }
  });
}

void t.test('the bodies above that must differ read the same when decoded lossily', async (t) => {
  // What the old decoding did: these pairs compared equal before.
  const lossy = (b: Buffer): string => b.toString('utf8');
  t.equal(lossy(bytes(0xff)), lossy(bytes(0xfe)));
  t.equal(lossy(bytes(0xc0, 0xaf)), lossy(bytes(0xc1, 0x81)));
  t.equal(new TextDecoder('utf-16le').decode(bytes(0x00, 0xd8)), new TextDecoder('utf-16le').decode(bytes(0x01, 0xd8)));
  t.equal(new TextDecoder('shift_jis').decode(bytes(0x82)), new TextDecoder('shift_jis').decode(bytes(0x83)));
});

void t.test('parseMediaType', async (t) => {
  t.strictSame(parseMediaType('Application/JSON ; Charset="UTF-8"'), { type: 'application/json', charset: 'utf-8', params: [['charset', 'UTF-8']], wellFormed: true });
  t.strictSame(parseMediaType('multipart/form-data; boundary="a;b\\"c" ;charset=X'), {
    type: 'multipart/form-data',
    charset: 'x',
    params: [
      ['boundary', 'a;b"c'],
      ['charset', 'X'],
    ],
    wellFormed: true,
  });
  t.strictSame(parseMediaType('text/plain;;charset=latin1;'), { type: 'text/plain', charset: 'latin1', params: [['charset', 'latin1']], wellFormed: true });
  t.strictSame(parseMediaType('text/plain; charset=" utf-8 "')?.charset, 'utf-8', 'label whitespace trimmed as the Encoding Standard does');
  t.equal(parseMediaType('text/plain; charset=a; charset=b')?.charset, 'a', 'the first charset wins');
  t.strictSame(parseMediaType('text/plain; charset = utf-8'), { type: 'text/plain', charset: null, params: [], wellFormed: false }, 'no space around =');
  t.strictSame(parseMediaType('text/plain; charset="utf-8'), { type: 'text/plain', charset: 'utf-8', params: [['charset', 'utf-8']], wellFormed: false }, 'unterminated quote');
  t.strictSame(parseMediaType('text/plain; charset=utf-8 x; a=b'), { type: 'text/plain', charset: 'utf-8', params: [['charset', 'utf-8'], ['a', 'b']], wellFormed: false });
  t.equal(parseMediaType('a/b; boundary=x/y')?.wellFormed, false, 'an unquoted value must be a token');
  t.strictSame(parseMediaType('text/plain; foo'), { type: 'text/plain', charset: null, params: [], wellFormed: false }, 'a parameter without =');
  for (const bad of ['text', '/plain', 'text/', 'text/html, text/plain', 'te xt/plain', ''])
    t.equal(parseMediaType(bad), null, JSON.stringify(bad));
  t.equal(parseMediaType(undefined), null);
  t.equal(parseMediaType(['text/plain', 'x'])?.type, 'text/plain');
});

void t.test('bodyKind', async (t) => {
  const kind = (ct: string): string => bodyKind(parseMediaType(ct));
  t.equal(kind('application/json'), 'json');
  t.equal(kind('APPLICATION/PROBLEM+JSON; charset=utf-8'), 'json');
  t.equal(kind('application/json-seq'), 'binary');
  t.equal(kind('text/csv; header=present'), 'text');
  t.equal(kind('application/atom+xml'), 'text');
  t.equal(kind('image/png'), 'binary');
  t.equal(bodyKind(null), 'binary');
});

void t.test('sameMediaType', async (t) => {
  t.ok(sameMediaType('text/plain; charset=utf-8', 'TEXT/PLAIN; CHARSET=UTF8'));
  t.ok(sameMediaType('text/plain; a=1; b=2', 'text/plain ; b="2";a=1'));
  t.notOk(sameMediaType('text/plain; a=1', 'text/plain; a=1; a=1'), 'parameter count');
  t.notOk(sameMediaType('text/plain; a=x', 'text/plain; a=X'));
  t.notOk(sameMediaType('text/plain; charset=utf-8', 'text/plain; charset=utf-16'));
  t.notOk(sameMediaType('text/plain; charset=x-made-up', 'text/plain; charset=x-other'));
  t.ok(sameMediaType('text/plain; charset=X-Made-Up', 'text/plain; charset="x-made-up"'), 'unknown labels: case-insensitive');
  t.ok(sameMediaType('text/plain; charset', 'text/plain; charset'), 'malformed: the same text');
  t.notOk(sameMediaType('text/plain; charset', 'text/plain;  charset'), 'malformed: only the same text');
});

void t.test('decodeText is fatal and strips only its own BOM', async (t) => {
  const mt = (ct: string): ReturnType<typeof parseMediaType> => parseMediaType(ct);
  t.equal(decodeText(Buffer.from('\ufeffé'), null), 'é', 'utf-8 by default, BOM dropped');
  t.equal(decodeText(bytes(0xff), null), null);
  t.equal(decodeText(Buffer.from('\ufeffx'), mt('text/plain; charset=windows-1252')), 'ï»¿x', 'a utf-8 BOM is content in windows-1252');
  t.equal(decodeText(utf16le('\ufeffx'), mt('text/plain; charset=utf-16le')), 'x');
  t.equal(decodeText(Buffer.from('x'), mt('text/plain; charset=nope')), null, 'unknown label, text');
  t.equal(decodeText(Buffer.from('x'), mt('application/json; charset=nope')), 'x', 'unknown label, JSON: utf-8');
  t.equal(decodeText(bytes(0xff), mt('application/json; charset=nope')), null);
});

void t.test('past the cap of remembered unknown labels, every unknown label is still unknown', async (t) => {
  for (let i = 0; i < 200; i++) {
    const label = `x-unknown-${i}`;
    const v = compareAnswers(ans(`text/plain; charset=${label}`, 'a'), ans(`text/plain; charset=${label}`, 'b'), rules, { method: 'GET' });
    if (v.differences[0]?.field !== '$') {
      t.fail(`label ${label}: ${JSON.stringify(v.differences)}`);
      return;
    }
  }
  t.pass('200 unknown labels, each compared as bytes');
  t.equal(decodeText(latin1('é'), parseMediaType('text/plain; charset=latin1')), 'é', 'known labels still decode');
});
