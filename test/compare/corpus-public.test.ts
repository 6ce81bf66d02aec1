// Public cases: JSONTestSuite's parsing files, and the before/after pairs of other
// JSON diff tools' test suites, each with the verdict umbra must give. Expected
// verdicts are derived from DESIGN §5 and docs/compare.md, not copied from umbra.
//
// Sources (all MIT):
//  - JSONTestSuite, github.com/nst/JSONTestSuite test_parsing/ at 1ef36fa0, files under
//    fixtures/jsontestsuite/ with their upstream names (see the README and LICENSE there);
//  - jsondiffpatch, github.com/benjamine/jsondiffpatch
//    packages/jsondiffpatch/test/examples/diffpatch.ts at 96112c3 (the JSON-representable
//    examples; names are upstream's, or group[index] for unnamed ones);
//  - deep-diff, github.com/flitbit/diff test/tests.js at e2b5b86;
//  - json-diff, github.com/andreyvit/json-diff test/diff_test.coffee and example/ at 76adeca.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import type { CompareConfig } from '../../src/config/types.js';
import type { Answer } from '../../src/compare/index.js';
import { compareAnswers, compileRules, exactNumber } from '../../src/compare/index.js';
import { MAX_FIELD_CHARS } from '../../src/compare/differences.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/jsontestsuite/', import.meta.url));
const base: CompareConfig = { ignoreHeaders: [], ignore: [], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] };

/** An upstream JSONTestSuite file, byte for byte. */
function jts(name: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, name));
}

function bytes(b: string | Buffer | number[]): Buffer {
  if (Buffer.isBuffer(b)) return b;
  return typeof b === 'string' ? Buffer.from(b) : Buffer.from(b);
}

/** A JSON value written with other whitespace: equal content, other bytes (no fast path). */
function loose(v: unknown): Buffer {
  return Buffer.from(` ${JSON.stringify(v, null, 1)}\n`);
}

function ans(body: Buffer): Answer {
  return { status: 200, headers: { 'content-type': 'application/json' }, body, truncated: false };
}

interface Row {
  /** The class of case (docs/compare.md "Verdicts on the corpus"). */
  cls: string;
  name: string;
  live: Buffer;
  dark: Buffer;
  compare?: Partial<CompareConfig>;
  /** Exact list, in order: "field kind". Empty = match. */
  diffs: string[];
  values?: { live?: unknown; dark?: unknown };
}

function row(cls: string, name: string, live: string | Buffer | number[], dark: string | Buffer | number[], diffs: string[], extra: Partial<Row> = {}): Row {
  return { cls, name, live: bytes(live), dark: bytes(dark), diffs, ...extra };
}

const INVALID = { live: 'invalid JSON' };

// ---- (a) JSONTestSuite ----

const nest = (n: number, inner = ''): string => '['.repeat(n) + inner + ']'.repeat(n);
const cutPath = (p: string): string => (p.length <= MAX_FIELD_CHARS ? p : `${p.slice(0, MAX_FIELD_CHARS - 1)}…`);

const jsonTestSuite: Row[] = [
  // Duplicate keys. DESIGN is silent and RFC 8259 leaves them unpredictable; umbra
  // keeps the last, as ECMA-262 JSON.parse does, in both of its parsers.
  row('duplicate keys', 'y_object_duplicated_key vs its last value', jts('y_object_duplicated_key.json'), '{"a":"c"}', []),
  row('duplicate keys', 'y_object_duplicated_key vs its first value', jts('y_object_duplicated_key.json'), '{"a":"b"}', ['$.a changed'], { values: { live: 'c', dark: 'b' } }),
  row('duplicate keys', 'y_object_duplicated_key_and_value', jts('y_object_duplicated_key_and_value.json'), '{"a":"b"}', []),
  row('duplicate keys', 'y_object_duplicated_key + a big number (the exact parser keeps the last too)', '{"a":"b","a":"c","n":12345678901234567890}', '{"n":12345678901234567890,"a":"c"}', []),

  // Byte order mark: a UTF-8 BOM before JSON text is ignored (RFC 8259 §8.1 lets a
  // parser ignore it); a BOM alone, or a broken one, is not JSON.
  row('BOM', 'i_structure_UTF-8_BOM_empty_object vs {}', jts('i_structure_UTF-8_BOM_empty_object.json'), '{}', []),
  row('BOM', 'i_structure_UTF-8_BOM_empty_object vs {"a":1}', jts('i_structure_UTF-8_BOM_empty_object.json'), '{"a":1}', ['$.a added']),
  row('BOM', 'n_structure_UTF8_BOM_no_data vs {}', jts('n_structure_UTF8_BOM_no_data.json'), '{}', ['$ type'], { values: { ...INVALID, dark: 'object' } }),
  row('BOM', 'n_structure_incomplete_UTF8_BOM vs {}', jts('n_structure_incomplete_UTF8_BOM.json'), '{}', ['$ type'], { values: { ...INVALID, dark: 'object' } }),
  // Both invalid, so compared as text; a UTF-8 decoder drops the BOM of its own
  // encoding (docs/compare.md, Text), which leaves two empty texts.
  row('BOM', 'n_structure_UTF8_BOM_no_data vs an empty body: both invalid, compared as text without the BOM', jts('n_structure_UTF8_BOM_no_data.json'), '', []),
  // JSON is UTF-8 (RFC 8259 §8.1): UTF-16 text is not parseable.
  row('BOM', 'i_string_UTF-16LE_with_BOM vs the same in UTF-8', jts('i_string_UTF-16LE_with_BOM.json'), '["é"]', ['$ type'], { values: { ...INVALID, dark: 'array' } }),

  // Lone surrogates written as escapes: the text is valid UTF-8 and parses; the
  // string holds the lone UTF-16 unit, compared as it is (never replaced by U+FFFD).
  row('lone surrogates', 'i_string_invalid_lonely_surrogate vs the same escape in upper case', jts('i_string_invalid_lonely_surrogate.json'), '["\\uD800"]', []),
  row('lone surrogates', 'i_string_invalid_lonely_surrogate vs i_string_1st_surrogate_but_2nd_missing', jts('i_string_invalid_lonely_surrogate.json'), jts('i_string_1st_surrogate_but_2nd_missing.json'), ['$[*] changed'], {
    values: { live: '\ud800', dark: '\udada' },
  }),
  row('lone surrogates', 'i_string_invalid_lonely_surrogate vs U+FFFD', jts('i_string_invalid_lonely_surrogate.json'), '["\\ufffd"]', ['$[*] changed']),
  row('lone surrogates', 'i_string_lone_second_surrogate vs ""', jts('i_string_lone_second_surrogate.json'), '[""]', ['$[*] changed']),
  row('lone surrogates', 'i_string_invalid_surrogate vs its text without the surrogate', jts('i_string_invalid_surrogate.json'), '["abc"]', ['$[*] changed']),
  row('lone surrogates', 'i_string_1st_valid_surrogate_2nd_invalid vs itself, re-spaced', jts('i_string_1st_valid_surrogate_2nd_invalid.json'), Buffer.concat([jts('i_string_1st_valid_surrogate_2nd_invalid.json'), Buffer.from(' ')]), []),
  row('lone surrogates', 'i_string_incomplete_surrogate_pair vs the pair completed', jts('i_string_incomplete_surrogate_pair.json'), '["\\uD834\\uDd1ea"]', ['$[*] changed']),
  row('lone surrogates', 'i_string_inverted_surrogates_U+1D11E vs y_string_surrogates_U+1D11E_MUSICAL_SYMBOL_G_CLEF', jts('i_string_inverted_surrogates_U+1D11E.json'), jts('y_string_surrogates_U+1D11E_MUSICAL_SYMBOL_G_CLEF.json'), ['$[*] changed']),
  row('lone surrogates', 'y_string_surrogates_U+1D11E_MUSICAL_SYMBOL_G_CLEF vs the raw character', jts('y_string_surrogates_U+1D11E_MUSICAL_SYMBOL_G_CLEF.json'), '["𝄞"]', []),
  row('lone surrogates', 'y_string_accepted_surrogate_pair vs the raw character', jts('y_string_accepted_surrogate_pair.json'), '["𐐷"]', []),
  row('lone surrogates', 'y_string_accepted_surrogate_pairs vs the raw characters', jts('y_string_accepted_surrogate_pairs.json'), '["😹💍"]', []),
  row('lone surrogates', 'y_string_last_surrogates_1_and_2 vs U+10FFFF', jts('y_string_last_surrogates_1_and_2.json'), '["\u{10ffff}"]', []),
  // A key holding a lone surrogate is reported as a JSON string (escaped, DESIGN §4).
  row('lone surrogates', 'i_object_key_lone_2nd_surrogate, value changed', jts('i_object_key_lone_2nd_surrogate.json'), '{"\\uDFAA":1}', ['$["\\udfaa"] changed']),
  row('lone surrogates', 'i_object_key_lone_2nd_surrogate vs another lone surrogate key', jts('i_object_key_lone_2nd_surrogate.json'), '{"\\uDFAB":0}', ['$["\\udfaa"] removed', '$["\\udfab"] added']),

  // Big numbers and exponents: compared by exact decimal value, never through a
  // double (DESIGN §5: big integers exact; docs/compare.md: parsing never loses a number).
  row('big numbers', 'i_number_too_big_pos_int vs 1e20', jts('i_number_too_big_pos_int.json'), '[1e20]', []),
  row('big numbers', 'i_number_too_big_neg_int vs the same in exponent form', jts('i_number_too_big_neg_int.json'), '[-1.23123123123123123123123123123e29]', []),
  row('big numbers', 'i_number_too_big_neg_int vs the next integer', jts('i_number_too_big_neg_int.json'), '[-123123123123123123123123123124]', ['$[*] changed'], {
    values: { live: exactNumber('-123123123123123123123123123123'), dark: exactNumber('-123123123123123123123123123124') },
  }),
  row('big numbers', 'i_number_very_big_negative_int vs the next integer', jts('i_number_very_big_negative_int.json'), '[-237462374673276894279832749832423479823246327847]', ['$[*] changed']),
  row('big numbers', 'i_number_real_pos_overflow vs the same value', jts('i_number_real_pos_overflow.json'), '[1.23123e100005]', []),
  row('big numbers', 'i_number_real_pos_overflow vs i_number_real_neg_overflow', jts('i_number_real_pos_overflow.json'), jts('i_number_real_neg_overflow.json'), ['$[*] changed']),
  row('big numbers', 'i_number_pos_double_huge_exp vs the same value', jts('i_number_pos_double_huge_exp.json'), '[15e9998]', []),
  // Both would be Infinity as doubles: a double-based diff sees no difference here.
  row('big numbers', 'i_number_pos_double_huge_exp vs 1e9999 (both past the double range)', jts('i_number_pos_double_huge_exp.json'), '[1e9999]', ['$[*] changed']),
  row('big numbers', 'i_number_pos_double_huge_exp vs i_number_neg_int_huge_exp', jts('i_number_pos_double_huge_exp.json'), jts('i_number_neg_int_huge_exp.json'), ['$[*] changed']),
  row('big numbers', 'i_number_real_underflow is not 0', jts('i_number_real_underflow.json'), '[0]', ['$[*] changed']),
  row('big numbers', 'i_number_real_underflow vs the same value', jts('i_number_real_underflow.json'), '[1.23e-9999998]', []),
  row('big numbers', 'i_number_double_huge_neg_exp is not 0', jts('i_number_double_huge_neg_exp.json'), '[0]', ['$[*] changed']),
  row('big numbers', 'i_number_double_huge_neg_exp vs the same value', jts('i_number_double_huge_neg_exp.json'), '[1.23456e-787]', []),
  row('big numbers', 'i_number_huge_exp (a 130-digit exponent) vs itself, re-spaced', jts('i_number_huge_exp.json'), Buffer.concat([Buffer.from(' '), jts('i_number_huge_exp.json')]), []),
  row('big numbers', 'y_number_double_close_to_zero vs -1e-78', jts('y_number_double_close_to_zero.json'), '[-1e-78]', []),
  row('big numbers', 'y_number_double_close_to_zero is not -0', jts('y_number_double_close_to_zero.json'), '[-0]', ['$[*] changed']),
  row('big numbers', 'y_number_negative_zero vs 0', jts('y_number_negative_zero.json'), '[0]', []),
  row('big numbers', 'y_number_minus_zero vs 0.0', jts('y_number_minus_zero.json'), '[0.0]', []),
  row('big numbers', 'y_number_0e+1 vs 0', jts('y_number_0e+1.json'), '[0]', []),
  row('big numbers', 'y_number_real_capital_e vs its 23 digits', jts('y_number_real_capital_e.json'), '[10000000000000000000000]', []),
  row('big numbers', 'y_number_int_with_exp vs 200', jts('y_number_int_with_exp.json'), '[200]', []),
  row('big numbers', 'y_number_real_exponent vs 1.23e47', jts('y_number_real_exponent.json'), '[1.23e47]', []),
  row('big numbers', 'y_number_real_fraction_exponent vs 1.23456e80', jts('y_number_real_fraction_exponent.json'), '[1.23456e80]', []),
  row('big numbers', 'y_number_real_neg_exp vs 0.01', jts('y_number_real_neg_exp.json'), '[0.01]', []),

  // Deep nesting: no limit from the call stack (DESIGN §5).
  row('deep nesting', 'i_structure_500_nested_arrays vs itself, re-spaced', jts('i_structure_500_nested_arrays.json'), `${nest(500)}\n`, []),
  // Reported paths past MAX_FIELD_CHARS (512) are cut, ending in "…".
  row('deep nesting', 'i_structure_500_nested_arrays vs 499 levels', jts('i_structure_500_nested_arrays.json'), nest(499), [`${cutPath(`$${'[*]'.repeat(499)}`)} removed`]),
  row('deep nesting', 'n_structure_100000_opening_arrays vs []', '['.repeat(100_000), '[]', ['$ type'], { values: { ...INVALID, dark: 'array' } }),
  row('deep nesting', 'n_structure_100000_opening_arrays, closed, vs a value at the bottom', nest(100_000), nest(100_000, '0'), [`${cutPath(`$${'[*]'.repeat(100_000)}`)} added`]),

  // Invalid UTF-8 outside strings: not JSON. (Inside strings, see the held-back rows
  // in docs/compare.md: the bytes are replaced by U+FFFD before parsing.)
  // Inside a string (upstream i_string_invalid_utf-8 = ["\xff"], i_string_lone_utf8_continuation_byte
  // = ["\x81"], written here as bytes): the text does not decode, so it is not JSON; two such
  // bodies compare as bytes, never as the same U+FFFD.
  row('invalid UTF-8', 'i_string_invalid_utf-8 vs i_string_lone_utf8_continuation_byte', [0x5b, 0x22, 0xff, 0x22, 0x5d], [0x5b, 0x22, 0x81, 0x22, 0x5d], ['$ changed']),
  row('invalid UTF-8', 'i_string_invalid_utf-8 vs ["\ufffd"]', [0x5b, 0x22, 0xff, 0x22, 0x5d], '["\ufffd"]', ['$ type'], { values: { ...INVALID, dark: 'array' } }),
  row('invalid UTF-8', 'i_string_invalid_utf-8 vs itself', [0x5b, 0x22, 0xff, 0x22, 0x5d], [0x5b, 0x22, 0xff, 0x22, 0x5d], []),
  row('invalid UTF-8', 'n_array_invalid_utf8 vs [1]', jts('n_array_invalid_utf8.json'), '[1]', ['$ type'], { values: { ...INVALID, dark: 'array' } }),
  row('invalid UTF-8', 'n_array_a_invalid_utf8 vs ["a"]', jts('n_array_a_invalid_utf8.json'), '["a"]', ['$ type']),
  row('invalid UTF-8', 'n_structure_lone-invalid-utf-8 vs null', jts('n_structure_lone-invalid-utf-8.json'), 'null', ['$ type'], { values: { ...INVALID, dark: 'null' } }),

  // Trailing garbage makes a body invalid: one side only is a `type` at $.
  row('trailing garbage', 'n_structure_array_trailing_garbage vs [1]', jts('n_structure_array_trailing_garbage.json'), '[1]', ['$ type'], { values: { ...INVALID, dark: 'array' } }),
  row('trailing garbage', 'n_object_trailing_comment vs {"a":"b"}', jts('n_object_trailing_comment.json'), '{"a":"b"}', ['$ type']),
  row('trailing garbage', 'n_structure_trailing_# vs {"a":"b"}', jts('n_structure_trailing_#.json'), '{"a":"b"}', ['$ type']),
  row('trailing garbage', 'n_array_extra_close vs ["x"]', jts('n_array_extra_close.json'), '["x"]', ['$ type']),
  row('trailing garbage', 'n_structure_double_array vs []', jts('n_structure_double_array.json'), '[]', ['$ type']),
  row('trailing garbage', 'dark side: [1] vs n_structure_array_trailing_garbage', '[1]', jts('n_structure_array_trailing_garbage.json'), ['$ type'], { values: { live: 'array', dark: 'invalid JSON' } }),
  row('trailing garbage', 'both invalid: compared as text, first differing line', jts('n_object_trailing_comment.json'), jts('n_object_with_trailing_garbage.json'), ['line:1 changed'], {
    values: { live: '{"a":"b"}/**/', dark: '{"a":"b"}#' },
  }),
  row('trailing garbage', 'both invalid, n_structure_array_trailing_garbage vs n_structure_number_with_trailing_garbage', jts('n_structure_array_trailing_garbage.json'), jts('n_structure_number_with_trailing_garbage.json'), ['line:1 changed']),
  row('trailing garbage', 'y_structure_trailing_newline vs ["a"]', jts('y_structure_trailing_newline.json'), '["a"]', []),
  row('trailing garbage', 'y_array_with_trailing_space vs [2]', jts('y_array_with_trailing_space.json'), '[2]', []),
  row('trailing garbage', 'y_structure_whitespace_array vs []', jts('y_structure_whitespace_array.json'), '[]', []),

  // Keys and strings: escapes decoded before comparing; no Unicode normalisation;
  // reported keys JSON-quoted unless identifiers (DESIGN §4).
  row('unicode keys and strings', 'y_object_escaped_null_in_key, value changed', jts('y_object_escaped_null_in_key.json'), '{"foo\\u0000bar": 43}', ['$["foo\\u0000bar"] changed']),
  row('unicode keys and strings', 'y_object_empty_key, value changed', jts('y_object_empty_key.json'), '{"":1}', ['$[""] changed']),
  row('unicode keys and strings', 'y_object_empty_key vs {}', jts('y_object_empty_key.json'), '{}', ['$[""] removed']),
  row('unicode keys and strings', 'y_string_unicode_escaped_double_quote vs "\\""', jts('y_string_unicode_escaped_double_quote.json'), '["\\""]', []),
  row('unicode keys and strings', 'y_string_pi vs its escape', jts('y_string_pi.json'), '["\\u03c0"]', []),
  row('unicode keys and strings', 'y_string_utf8 vs its escapes', jts('y_string_utf8.json'), '["\\u20ac\\ud834\\udd1e"]', []),
  row('unicode keys and strings', 'y_string_nonCharacterInUTF-8_U+FFFF vs y_string_escaped_noncharacter', jts('y_string_nonCharacterInUTF-8_U+FFFF.json'), jts('y_string_escaped_noncharacter.json'), []),
  row('unicode keys and strings', 'y_object_string_unicode vs the raw text', jts('y_object_string_unicode.json'), '{"title":"Полтора Землекопа"}', []),
  row('unicode keys and strings', 'y_object_string_unicode, value changed', jts('y_object_string_unicode.json'), '{"title":"Полтора"}', ['$.title changed']),
  row('unicode keys and strings', 'é precomposed vs e + combining accent (no normalisation)', '{"caf\u00e9":1}', '{"cafe\u0301":1}', ['$["caf\u00e9"] removed', '$["cafe\u0301"] added']),
  row('unicode keys and strings', 'unicode key, value changed', '{"ключ":{"💩":1,"a-b":[1]}}', '{"ключ":{"💩":2,"a-b":[2]}}', ['$["ключ"]["💩"] changed', '$["ключ"]["a-b"][*] changed']),

  // A document can be any value (RFC 8259): root scalars compare like any field.
  row('root scalars', 'y_structure_lonely_int vs 43', jts('y_structure_lonely_int.json'), '43', ['$ changed'], { values: { live: 42, dark: 43 } }),
  row('root scalars', 'y_structure_lonely_null vs y_structure_lonely_false', jts('y_structure_lonely_null.json'), jts('y_structure_lonely_false.json'), ['$ type'], { values: { live: null, dark: false } }),
  row('root scalars', 'y_structure_lonely_true vs y_structure_lonely_false', jts('y_structure_lonely_true.json'), jts('y_structure_lonely_false.json'), ['$ changed']),
  row('root scalars', 'y_structure_lonely_string vs y_structure_lonely_negative_real', jts('y_structure_lonely_string.json'), jts('y_structure_lonely_negative_real.json'), ['$ type']),
  row('root scalars', 'y_structure_lonely_negative_real vs -0.10', jts('y_structure_lonely_negative_real.json'), '-0.10', []),
];

// ---- (b) other JSON diff tools' suites ----

const jdp = (name: string, left: unknown, right: unknown, diffs: string[], extra: Partial<Row> = {}): Row => row('jsondiffpatch', name, loose(left), loose(right), diffs, extra);
const ab = { a: 1, b: 2 };
const deep = (o: unknown): unknown => ({ a: { j: { k: { l: { m: { n: o } } } } } });
const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const byId = { keyed: [{ path: '$', member: 'id' }] };

const jsondiffpatch: Row[] = [
  // atomicValues: a change of JSON type is `type`, of value `changed`.
  jdp('atomicValues[10] null -> null', null, null, []),
  jdp('atomicValues[11] null -> false', null, false, ['$ type']),
  jdp('atomicValues[12] null -> true', null, true, ['$ type']),
  jdp('atomicValues[13] null -> 42', null, 42, ['$ type']),
  jdp('atomicValues[14] null -> "some text"', null, 'some text', ['$ type']),
  jdp('atomicValues[16] null -> object', null, ab, ['$ type']),
  jdp('atomicValues[18] false -> false', false, false, []),
  jdp('atomicValues[19] false -> true', false, true, ['$ changed']),
  jdp('atomicValues[20] false -> 42', false, 42, ['$ type']),
  jdp('atomicValues[21] false -> "some text"', false, 'some text', ['$ type']),
  jdp('atomicValues[23] false -> object', false, ab, ['$ type']),
  jdp('atomicValues[24] false -> array', false, [1, 2, 3], ['$ type']),
  jdp('atomicValues[26] true -> true', true, true, []),
  jdp('atomicValues[27] true -> 42', true, 42, ['$ type']),
  jdp('atomicValues[28] true -> "some text"', true, 'some text', ['$ type']),
  jdp('atomicValues[30] true -> object', true, ab, ['$ type']),
  jdp('atomicValues[31] true -> array', true, [1, 2, 3], ['$ type']),
  jdp('number -> same number', 42, 42, []),
  jdp('atomicValues[34] 42 -> -1', 42, -1, ['$ changed']),
  jdp('atomicValues[35] 42 -> "some text"', 42, 'some text', ['$ type']),
  jdp('atomicValues[37] 42 -> object', 42, ab, ['$ type']),
  jdp('atomicValues[38] 42 -> array', 42, [1, 2, 3], ['$ type']),
  jdp('string -> same string', 'some text', 'some text', []),
  jdp('atomicValues[41] "some text" -> "some fext"', 'some text', 'some fext', ['$ changed']),
  jdp('atomicValues[43] string -> object', 'some text', ab, ['$ type']),
  jdp('atomicValues[44] string -> array', 'some text', [1, 2, 3], ['$ type']),
  jdp('object -> same object', ab, { b: 2, a: 1 }, []),
  jdp('atomicValues[53] object -> array', ab, [1, 2, 3], ['$ type']),
  jdp('array -> same array', [1, 2, 3], [1, 2, 3], []),
  // objects
  jdp('first level', { a: 1, b: 2 }, { a: 42, b: 2 }, ['$.a changed']),
  jdp('deep level', { ...(deep({ o: 3 }) as object), b: 2 }, { ...(deep({ o: true }) as object), b: 2 }, ['$.a.j.k.l.m.n.o type']),
  jdp('multiple changes', { ...(deep({ o: 3 }) as object), b: 2, c: 5 }, { ...(deep({ o: 5, w: 12 }) as object), b: 2 }, ['$.a.j.k.l.m.n.o changed', '$.a.j.k.l.m.n.w added', '$.c removed']),
  jdp('key removed', { a: 1, b: 2 }, { a: 1 }, ['$.b removed']),
  jdp('hasOwnProperty', { hasOwnProperty: true }, { hasOwnProperty: true }, []),
  jdp('hasOwnProperty, changed', { hasOwnProperty: true }, { hasOwnProperty: false }, ['$.hasOwnProperty changed']),
  // arrays, in order (umbra's default): position by position, then the surplus.
  jdp('simple values', ten, [1, 3, 4, 5, 8, 9, 9.1, 10], ['$[*] changed', '$[*] removed']),
  jdp('added block', ten, [1, 2, 3, 4, 5, 5.1, 5.2, 5.3, 6, 7, 8, 9, 10], ['$[*] changed', '$[*] added']),
  jdp('simple values, unordered', ten, [1, 3, 4, 5, 8, 9, 9.1, 10], ['$[*] changed', '$[*] removed'], { compare: { unordered: ['$'] } }),
  jdp('added block, unordered', ten, [1, 2, 3, 4, 5, 5.1, 5.2, 5.3, 6, 7, 8, 9, 10], ['$[*] added'], { compare: { unordered: ['$'] } }),
  // Same length, the differing positions hold the same elements: one `order`.
  jdp('movements', ten, [1, 2, 3, 7, 5, 6, 8, 9, 4, 10], ['$ order']),
  jdp('movements(2)', [1, 2, 3, 4], [2, 4, 1, 3], ['$ order']),
  jdp('reverse array', [1, 2, 3, 4, 5], [5, 4, 3, 2, 1], ['$ order']),
  jdp('reverse array, unordered', [1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [], { compare: { unordered: ['$'] } }),
  jdp('nested', [1, 2, { id: 4, width: 10 }, 4, { id: 'five', width: 4 }, 6, 7, 8, 9, 10], [1, 2, { id: 4, width: 12 }, 4, { id: 'five', width: 4 }, 6, 7, 8, 9, 10], ['$[*].width changed']),
  // Moved AND changed: not a reorder, so position by position.
  jdp(
    'nested with movement',
    [1, 2, 4, { id: 'five', width: 4 }, 6, 7, 8, { id: 4, width: 10, height: 3 }, 9, 10],
    [1, 2, { id: 4, width: 12 }, 4, { id: 'five', width: 4 }, 6, 7, 8, 9, 10],
    ['$[*] type', '$[*] changed'],
  ),
  // jsondiffpatch's objectHash is umbra's `keyed` (elements without the member pair as a multiset).
  jdp(
    'nested with movement, keyed by id',
    [1, 2, 4, { id: 'five', width: 4 }, 6, 7, 8, { id: 4, width: 10, height: 3 }, 9, 10],
    [1, 2, { id: 4, width: 12 }, 4, { id: 'five', width: 4 }, 6, 7, 8, 9, 10],
    ['$[*].width changed', '$[*].height removed'],
    { compare: byId },
  ),
  jdp(
    'nested changes among array insertions and deletions',
    [{ id: 1 }, { id: 2 }, { id: 4 }, { id: 5 }, { id: 6, inner: { property: 'abc' } }, { id: 7 }, { id: 8 }, { id: 10 }, { id: 11 }, { id: 12 }],
    [{ id: 3 }, { id: 4 }, { id: 6, inner: { property: 'abcd' } }, { id: 9 }],
    ['$[*].id changed', '$[*].inner added', '$[*] removed'],
  ),
  jdp(
    'nested changes among array insertions and deletions, keyed by id',
    [{ id: 1 }, { id: 2 }, { id: 4 }, { id: 5 }, { id: 6, inner: { property: 'abc' } }, { id: 7 }, { id: 8 }, { id: 10 }, { id: 11 }, { id: 12 }],
    [{ id: 3 }, { id: 4 }, { id: 6, inner: { property: 'abcd' } }, { id: 9 }],
    ['$[*].inner.property changed', '$[*] removed', '$[*] added'],
    { compare: byId },
  ),
  jdp(
    'nested change with item moved above',
    [{ id: 1 }, { id: 2 }, { id: 3, inner: { property: 'abc' } }, { id: 4 }, { id: 5 }, { id: 6 }],
    [{ id: 1 }, { id: 2 }, { id: 6 }, { id: 3, inner: { property: 'abcd' } }, { id: 4 }, { id: 5 }],
    ['$[*].id changed', '$[*].inner removed', '$[*].inner added'],
  ),
  jdp(
    'nested change with item moved above, keyed by id',
    [{ id: 1 }, { id: 2 }, { id: 3, inner: { property: 'abc' } }, { id: 4 }, { id: 5 }, { id: 6 }],
    [{ id: 1 }, { id: 2 }, { id: 6 }, { id: 3, inner: { property: 'abcd' } }, { id: 4 }, { id: 5 }],
    ['$[*].inner.property changed'],
    { compare: byId },
  ),
  jdp(
    'nested change with item moved right above',
    [{ id: 1 }, { id: 2, inner: { property: 'abc' } }, { id: 3 }],
    [{ id: 1 }, { id: 3 }, { id: 2, inner: { property: 'abcd' } }],
    ['$[*].id changed', '$[*].inner removed', '$[*].inner added'],
  ),
  jdp(
    'nested change with item moved right above, keyed by id',
    [{ id: 1 }, { id: 2, inner: { property: 'abc' } }, { id: 3 }],
    [{ id: 1 }, { id: 3 }, { id: 2, inner: { property: 'abcd' } }],
    ['$[*].inner.property changed'],
    { compare: byId },
  ),
  jdp(
    'nested change with item moved right below',
    [{ id: 1 }, { id: 2 }, { id: 3, inner: { property: 'abc' } }, { id: 4 }],
    [{ id: 2 }, { id: 3, inner: { property: 'abcd' } }, { id: 1 }, { id: 4 }],
    ['$[*].id changed', '$[*].inner added', '$[*].inner removed'],
  ),
  jdp(
    'nested change with item moved right below, keyed by id',
    [{ id: 1 }, { id: 2 }, { id: 3, inner: { property: 'abc' } }, { id: 4 }],
    [{ id: 2 }, { id: 3, inner: { property: 'abcd' } }, { id: 1 }, { id: 4 }],
    ['$[*].inner.property changed'],
    { compare: byId },
  ),
  jdp(
    'nested with movements using custom objectHash, keyed by itemKey',
    [1, 2, 4, { itemKey: 'five', width: 4 }, 6, 7, 8, { itemKey: 4, width: 10, height: 3 }, 9, 10],
    [1, 2, { itemKey: 4, width: 12 }, 4, { itemKey: 'five', width: 4 }, 6, 7, 8, 9, 10],
    ['$[*].width changed', '$[*].height removed'],
    { compare: { keyed: [{ path: '$', member: 'itemKey' }] } },
  ),
  // propertyFilter (names starting with $ left out) is umbra's `ignore`.
  jdp(
    'using property filter, no rules',
    { inner: { $volatileData: 345, $oldVolatileData: 422, nonVolatile: 432 } },
    { inner: { $volatileData: 346, $newVolatileData: 32, nonVolatile: 431 } },
    ['$.inner.$volatileData changed', '$.inner.$oldVolatileData removed', '$.inner.nonVolatile changed', '$.inner.$newVolatileData added'],
  ),
  jdp(
    'using property filter, as ignore paths',
    { inner: { $volatileData: 345, $oldVolatileData: 422, nonVolatile: 432 } },
    { inner: { $volatileData: 346, $newVolatileData: 32, nonVolatile: 431 } },
    ['$.inner.nonVolatile changed'],
    { compare: { ignore: ['$.inner.$volatileData', '$.inner.$oldVolatileData', '$.inner.$newVolatileData'] } },
  ),
];

const dd = (name: string, left: unknown, right: unknown, diffs: string[], extra: Partial<Row> = {}): Row => row('deep-diff', name, loose(left), loose(right), diffs, extra);
const nestedOne = { noChange: 'same', levelOne: { levelTwo: 'value' }, arrayOne: [{ objValue: 'value' }] };
const nestedTwo = { noChange: 'same', levelOne: { levelTwo: 'another value' }, arrayOne: [{ objValue: 'new value' }, { objValue: 'more value' }] };
const release = (first: string, second: string, t1: string[], t2: string[]): unknown => ({
  id: 'Release',
  phases: [
    { id: first, tasks: t1.map((id) => ({ id })) },
    { id: second, tasks: t2.map((id) => ({ id })) },
  ],
});

const deepDiffSuite: Row[] = [
  dd('no properties vs another empty object', {}, {}, []),
  // "a different type of keyless object": the JSON ones (array, object, null), each way.
  dd('keyless: an array vs an object', { key: [] }, { key: {} }, ['$.key type']),
  dd('keyless: an array vs a null', { key: [] }, { key: null }, ['$.key type']),
  dd('keyless: an object vs an array', { key: {} }, { key: [] }, ['$.key type']),
  dd('keyless: an object vs a null', { key: {} }, { key: null }, ['$.key type']),
  dd('keyless: a null vs an array', { key: null }, { key: [] }, ['$.key type']),
  dd('keyless: a null vs an object', { key: null }, { key: {} }, ['$.key type']),
  dd('compared with an object having other properties', {}, { other: 'property', another: 13.13 }, ['$.other added', '$.another added']),
  dd('one property: removed when compared to an empty object', { one: 'property' }, {}, ['$.one removed']),
  // deep-diff: E (edited); umbra: a change of JSON type.
  dd('one property: compared to an object with null', { one: 'property' }, { one: null }, ['$.one type']),
  dd('one property: compared to an array', { one: 'property' }, ['one'], ['$ type']),
  dd('null value: removed when compared to an empty object', { key: null }, {}, ['$.key removed'], { values: { live: null } }),
  dd('null value: compared to an object that has value', { key: null }, { key: 'value' }, ['$.key type']),
  dd('null value: an object property set to null', { key: { nested: 'value' } }, { key: null }, ['$.key type']),
  dd('nested values: removed when compared to an empty object', nestedOne, {}, ['$.noChange removed', '$.levelOne removed', '$.arrayOne removed']),
  dd('nested values: compared to an object that has value', nestedOne, nestedTwo, ['$.levelOne.levelTwo changed', '$.arrayOne[*].objValue changed', '$.arrayOne[*] added']),
  dd('nested values: added when compared to an empty object on left', {}, nestedOne, ['$.noChange added', '$.levelOne added', '$.arrayOne added']),
  // deep-diff reports per-index edits (Phase1 -> Phase2 ...); umbra one reorder.
  dd('regression test for bug #10', release('Phase1', 'Phase2', ['Task1', 'Task2'], ['Task3']), release('Phase2', 'Phase1', ['Task3'], ['Task1', 'Task2']), ['$.phases order']),
  dd('regression test for issue #83', { date: null }, { date: null }, []),
  // orderIndependentDiff is umbra's `unordered`; without it the same pairs are reorders.
  dd('order independent: simple arrays', [1, 2, 3], [1, 3, 2], [], { compare: { unordered: ['$'] } }),
  dd('order independent: simple arrays, in order', [1, 2, 3], [1, 3, 2], ['$ order']),
  dd('order independent: repeated elements', [1, 1, 2], [1, 2, 1], [], { compare: { unordered: ['$'] } }),
  dd('order independent: repeated elements, in order', [1, 1, 2], [1, 2, 1], ['$ order']),
  dd('order independent: complex objects', { foo: 'bar', faz: [1, 'pie', { food: 'yum' }] }, { faz: ['pie', { food: 'yum' }, 1], foo: 'bar' }, [], { compare: { unordered: ['$.faz'] } }),
  dd('order independent: complex objects, in order', { foo: 'bar', faz: [1, 'pie', { food: 'yum' }] }, { faz: ['pie', { food: 'yum' }, 1], foo: 'bar' }, ['$.faz order']),
  dd('order independent: non-equal arrays', [1, 2, 3], [2, 2, 3], ['$[*] changed'], { compare: { unordered: ['$'] }, values: { live: 1, dark: 2 } }),
  dd('order independent: non-equal arrays, in order', [1, 2, 3], [2, 2, 3], ['$[*] changed']),
];

const jd = (name: string, left: unknown, right: unknown, diffs: string[], extra: Partial<Row> = {}): Row => row('json-diff', name, loose(left), loose(right), diffs, extra);
const bb = (bbbar: number, bbboz: number): unknown => ({ bbbar, bbboz });
const issue57 = [
  { key1: 'b', key2: '1', key3: 'm' },
  { key1: 'a', key2: '12', key3: 'cm' },
  { key1: 'c', key2: '1', key3: 'dm' },
];
const foo = { name: 'Foo', a: 3, b: 1 };

const jsonDiff: Row[] = [
  jd('two identical numbers', 42, 42, []),
  jd('two different numbers', 42, 10, ['$ changed']),
  jd('objects: the second object is missing a key', { foo: 42, bar: 10 }, { bar: 10 }, ['$.foo removed']),
  jd('objects: the first object is missing a key', { bar: 10 }, { foo: 42, bar: 10 }, ['$.foo added']),
  jd('objects: different scalar values for a key', { foo: 42 }, { foo: 10 }, ['$.foo changed']),
  jd('objects: a recursive diff', { foo: 42, bar: bb(10, 11) }, { foo: 42, bar: { bbbar: 12 } }, ['$.bar.bbbar changed', '$.bar.bbboz removed']),
  // json-diff aligns arrays (one removal); umbra compares in order, position by position.
  jd('arrays of scalars: the second array is missing a value', [10, 20, 30], [10, 30], ['$[*] changed', '$[*] removed']),
  jd('arrays of scalars: the second array is missing a value, unordered', [10, 20, 30], [10, 30], ['$[*] removed'], { compare: { unordered: ['$'] }, values: { live: 20 } }),
  jd('arrays of scalars: the second one has an extra value', [10, 30], [10, 20, 30], ['$[*] changed', '$[*] added']),
  jd('arrays of scalars: an extra value at the end', [10, 20], [10, 20, 30], ['$[*] added'], { values: { dark: 30 } }),
  jd('arrays of objects: identical, empty object contents', [{}], [{}], []),
  jd('arrays of objects: identical, repeated contents', [ab, ab], [ab, { b: 2, a: 1 }], []),
  jd('arrays of objects: identical contents including null', [1, null, null], [1, null, null], []),
  jd('arrays of objects: the second array is missing a value', [{ foo: 10 }, { foo: 20 }, { foo: 30 }], [{ foo: 10 }, { foo: 30 }], ['$[*].foo changed', '$[*] removed']),
  jd('arrays of objects: the second array has an extra value', [{ foo: 10 }, { foo: 30 }], [{ foo: 10 }, { foo: 20 }, { foo: 30 }], ['$[*].foo changed', '$[*] added']),
  jd('issue #57: objects of 3 properties, extra values', [issue57[1]], issue57, ['$[*].key1 changed', '$[*].key2 changed', '$[*].key3 changed', '$[*] added']),
  jd('issue #57, unordered', [issue57[1]], issue57, ['$[*] added'], { compare: { unordered: ['$'] } }),
  jd(
    'a new but nearly identical object added',
    [foo, { foo: 10 }],
    [foo, { ...foo, c: 1 }, { foo: 10 }],
    ['$[*].foo removed', '$[*].name added', '$[*].a added', '$[*].b added', '$[*].c added', '$[*] added'],
  ),
  jd('a new but nearly identical object added, unordered', [foo, { foo: 10 }], [foo, { ...foo, c: 1 }, { foo: 10 }], ['$[*] added'], { compare: { unordered: ['$'] }, values: { dark: { ...foo, c: 1 } } }),
  jd(
    'an item has been modified',
    [
      { foo: 10, bar: bb(10, 11) },
      { foo: 20, bar: bb(50, 25) },
      { foo: 30, bar: bb(92, 34) },
    ],
    [
      { foo: 10, bar: bb(10, 11) },
      { foo: 21, bar: bb(50, 25) },
      { foo: 30, bar: bb(92, 34) },
    ],
    ['$[*].foo changed'],
    { values: { live: 20, dark: 21 } },
  ),
  jd('reported bugs: type mismatch during scalarize', { s: [[{ b: '123' }]] }, { s: [[{ b: 'abc' }], []] }, ['$.s[*][*].b changed', '$.s[*] added']),
  jd('reported bugs: mixed scalars and non-scalars', ['a', { foo: 'bar' }, { foo: 'bar' }], ['a', { foo: 'bar' }, { foo: 'bar' }], []),
  jd(
    'example/a.json vs example/b.json',
    { foo: 42, bar: 100, boz: [1.2345, 2.3456789, 3, 4.56789123456, 5, 6], fubar: { kaboom: { note: "We're running dangerously low on metasyntatic variables here", afoo: { abar: 'raba', aboz: 'zoba', afubar: 'rabufa' }, akaboom: 200 } } },
    { foo: 42, bar: 100, boz: [0, 1.2345, 4.5678, 5, 6, 7], fubar: { kaboom: { note: "We're running dangerously low on metasyntatic variables here", afoo: { abar: 'raba', aboz: 'zozoba', afubar: 'rabufa' }, akaboom: 200 } } },
    ['$.boz[*] changed', '$.fubar.kaboom.afoo.aboz changed'],
  ),
];

for (const r of [...jsonTestSuite, ...jsondiffpatch, ...deepDiffSuite, ...jsonDiff]) {
  void t.test(`${r.cls}: ${r.name}`, async (t) => {
    const rules = compileRules({ ...base, ...r.compare }, { maxDecodedBytes: 8 << 20 });
    const v = compareAnswers(ans(r.live), ans(r.dark), rules, { method: 'GET' });
    t.equal(v.result, r.diffs.length === 0 ? 'match' : 'mismatch', 'result');
    t.strictSame(
      v.differences.map((d) => `${d.field} ${d.kind}`),
      r.diffs,
      'differences',
    );
    if (r.values !== undefined) {
      const d = v.differences[0];
      if ('live' in r.values) t.strictSame(d?.live, r.values.live, 'live value');
      if ('dark' in r.values) t.strictSame(d?.dark, r.values.dark, 'dark value');
    }
  });
}

// ---- every copied y_ file parses, every n_ file does not ----

const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));

void t.test('JSONTestSuite: y_ parses (vs itself re-spaced: match), n_ does not (vs null: $ type)', async (t) => {
  const rules = compileRules(base, { maxDecodedBytes: 8 << 20 });
  const cmp = (a: Buffer, b: Buffer): string[] => compareAnswers(ans(a), ans(b), rules, { method: 'GET' }).differences.map((d) => `${d.field} ${d.kind} ${JSON.stringify(d.live)}`);
  let y = 0;
  let n = 0;
  for (const f of files) {
    const b = jts(f);
    if (f.startsWith('y_')) {
      y++;
      t.strictSame(cmp(b, Buffer.concat([b, Buffer.from(' \n')])), [], f);
    } else if (f.startsWith('n_')) {
      n++;
      t.strictSame(cmp(b, Buffer.from('null')), ['$ type "invalid JSON"'], f);
    }
  }
  // n_structure_100000_opening_arrays, generated: the same bytes as upstream's file.
  const opening = Buffer.from('['.repeat(100_000));
  t.equal(createHash('sha256').update(opening).digest('hex'), '13f86ea1e7edd116d18d4ba6c6fa114cd3c927516182d24259623874955d21d1', 'n_structure_100000_opening_arrays is upstream\'s');
  t.strictSame(cmp(opening, Buffer.from('null')), ['$ type "invalid JSON"'], 'n_structure_100000_opening_arrays');
  t.ok(y >= 30 && n >= 25, `${y} y_ and ${n + 1} n_ files`);
});
