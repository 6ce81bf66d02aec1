// Sample values: what a Difference holds as `live`/`dark`. A sample value is a
// JSON value with two additions that plain JSON values cannot express:
//
// - An exact number. A number a double would round (BigNum) is kept as its
//   source text inside a String object. Unlike a class instance, a String object
//   survives structured clone (differences are made in a compare worker and
//   posted to the main thread, where a BigNum would arrive as a plain
//   {raw, key}); no JSON parser makes one (parsed strings are primitives), so it
//   is never mistaken for data; and where a plain JSON.stringify meets one it
//   writes an exact string, never a rounded number. `writeJson` writes it as a
//   JSON number, digit for digit.
//
// - A cut. A value past its size cap keeps its head and says what it left out
//   with a marker, a member named "…" (U+2026), see `Cut`. A member named "…" is
//   always umbra's: a backend's own "…" members are left out and counted.
//
// Node 20 has no JSON.rawJSON (Node 21+ does); with it, exact numbers could be
// written by JSON.stringify itself, but the process must run on Node 20.

/** The marker member's name. */
export const CUT = '…';

/**
 * What a marker says was left out:
 * - `{items: n}`: the last element of an array: n more elements;
 * - `{keys: n}`: the value of a member "…" of an object: n more members;
 * - `{string: n, head}`: in place of a string of n characters, its first ones;
 * - `{number: n, head}`: in place of a number written with n characters.
 */
export type Cut = { items: number } | { keys: number } | { string: number; head: string } | { number: number; head: string };

declare const exactBrand: unique symbol;
/** A JSON number kept as its exact text (see above); make with `exactNumber`. */
export type ExactNumber = { readonly [exactBrand]: true };

export type SampleValue = null | boolean | number | string | ExactNumber | SampleValue[] | { [key: string]: SampleValue };

/** An exact number from the text of a JSON number token. */
export function exactNumber(text: string): ExactNumber {
  // Object(string) is the String object (a wrapper made without `new String`).
  return Object(text) as ExactNumber;
}

export function isExactNumber(v: unknown): v is ExactNumber {
  return v instanceof String;
}

/** The number's text as written in the answer. */
export function exactText(v: ExactNumber): string {
  return String.prototype.valueOf.call(v);
}

/** True for a value that stands for something left out: `{"…": Cut}` alone. */
export function isCutValue(v: unknown): v is { [CUT]: Cut } {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || isExactNumber(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === CUT;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * JSON text of a value, as JSON.stringify(value) would write it, except that an
 * exact number is written as the number it is (12345678901234567890123, not
 * 1.2345678901234568e+22 nor "12345678901234567890123"). Also honours toJSON.
 */
export function writeJson(value: unknown): string {
  const out: string[] = [];
  write(value, '', out);
  return out.join('');
}

function write(v: unknown, key: string, out: string[]): boolean {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function' && !isExactNumber(v)) {
    v = (v as { toJSON(key: string): unknown }).toJSON(key);
  }
  switch (typeof v) {
    case 'string':
      out.push(JSON.stringify(v));
      return true;
    case 'number':
      out.push(Number.isFinite(v) ? String(v) : 'null');
      return true;
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return true;
    case 'bigint':
      out.push(v.toString());
      return true;
    case 'object':
      break;
    default:
      return false; // undefined, function, symbol: left out, as JSON.stringify does
  }
  if (v === null) {
    out.push('null');
    return true;
  }
  if (isExactNumber(v)) {
    const text = exactText(v);
    // Only number text is ever written raw: anything else stays a string.
    out.push(JSON_NUMBER.test(text) ? text : JSON.stringify(text));
    return true;
  }
  if (Array.isArray(v)) {
    out.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',');
      if (!write(v[i], String(i), out)) out.push('null');
    }
    out.push(']');
    return true;
  }
  out.push('{');
  let first = true;
  for (const k of Object.keys(v)) {
    const at = out.length;
    out.push(first ? '' : ',', JSON.stringify(k), ':');
    if (write((v as Record<string, unknown>)[k], k, out)) first = false;
    else out.length = at;
  }
  out.push('}');
  return true;
}
