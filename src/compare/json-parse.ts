// JSON parsing that never loses a number silently.
//
// JSON.parse maps 12345678901234567890 and 12345678901234567891 to the same
// double. Node 20 has no reviver `context.source`, so: a quick scan finds the
// number tokens a double cannot hold exactly (more than 15 significant digits,
// or out of the double range); when there are none (the common case) JSON.parse
// does the work; otherwise a small parser keeps those numbers as `BigNum`.
import { JsonSyntaxError } from '../errors.js';

/** A JSON number kept as its source text because a double would round it. */
export class BigNum {
  private normalised: string | undefined;
  constructor(readonly raw: string) {}
  /** Normalised exact decimal: sign, digits without leading/trailing zeros, exponent (made when first asked for). */
  get key(): string {
    return (this.normalised ??= normaliseDecimal(this.raw));
  }
  toJSON(): string {
    return this.raw;
  }
}

export type JsonValue = null | boolean | number | string | BigNum | JsonValue[] | { [key: string]: JsonValue };

/**
 * A protobuf `bytes` value (gRPC answers, grpc.ts): compared as a type of its
 * own, so bytes never equal a string that spells their base64 (a field sent as
 * raw bytes by one side and as base64 text by the other is a `type` difference);
 * shown in differences as its base64.
 */
export class Bytes {
  constructor(readonly base64: string) {}
  toJSON(): string {
    return this.base64;
  }
}

/** What the structural diff walks: a JSON value, or a decoded protobuf message (which may hold Bytes). */
export type TreeValue = null | boolean | number | string | BigNum | Bytes | TreeValue[] | { [key: string]: TreeValue };

export { JsonSyntaxError };

/**
 * Parses JSON text; numbers a double would round come back as BigNum. Throws on
 * bad JSON. `mayBeLossy` false says the caller's pre-scan of the bytes
 * (maybeLossyBytes) found no candidate, so the text needs no scan of its own.
 */
export function parseJson(text: string, mayBeLossy = true): JsonValue {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!mayBeLossy || !hasLossyNumber(text)) return JSON.parse(text) as JsonValue;
  return new Parser(text).parseDocument();
}

/** Exact decimal form: "-|+" + significant digits + "e" + exponent of the last digit. */
export function normaliseDecimal(raw: string): string {
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(raw);
  if (m === null) return raw;
  const sign = m[1] === '-' ? '-' : '+';
  const intPart = m[2] ?? '';
  const frac = m[3] ?? '';
  let digits = intPart + frac;
  let exp = BigInt(m[4] ?? '0') - BigInt(frac.length);
  digits = digits.replace(/^0+/, '');
  if (digits === '') return '0';
  const trimmed = digits.replace(/0+$/, '');
  exp += BigInt(digits.length - trimmed.length);
  return `${sign}${trimmed}e${exp}`;
}

/** 1 = a digit or a dot, 2 = an exponent letter: the characters the pre-scan looks at. */
const SCAN = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) SCAN[c] = 1;
SCAN[0x2e] = 1;
SCAN[0x45] = 2;
SCAN[0x65] = 2;

/**
 * Anywhere in the bytes (strings included), 16 digits or dots in a row, or a digit
 * before an exponent: every lossy number token has one of the two, so a text
 * without either is left to JSON.parse after this pass. Over the bytes of an
 * ASCII-compatible encoding (UTF-8) it is about three times faster than over the
 * decoded string. A run of 16 covers one position 16k + 15, so only those are
 * probed (and a hit measured both ways); exponent letters are found with indexOf.
 * On 0.3-1 MiB JSON documents 1.1-1.6 times faster than looking at every byte
 * (texts rich in the letter e gain least); maybeLossyBytesEach is the
 * byte-by-byte reference it is tested against.
 */
export function maybeLossyBytes(bytes: Uint8Array): boolean {
  const n = bytes.length;
  for (let i = 15; i < n; ) {
    if (SCAN[bytes[i] as number] !== 1) {
      i += 16;
      continue;
    }
    let from = i;
    while (from > 0 && SCAN[bytes[from - 1] as number] === 1) from--;
    let to = i + 1;
    while (to < n && SCAN[bytes[to] as number] === 1) to++;
    if (to - from >= 16) return true;
    // The next position 16k + 15 past this run (bytes[to] is not in one).
    i = to + ((15 - (to % 16) + 16) % 16);
  }
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return digitBefore(buf, 0x65) || digitBefore(buf, 0x45);
}

/** True when some `letter` in the bytes comes right after a digit or a dot. */
function digitBefore(buf: Buffer, letter: number): boolean {
  for (let at = buf.indexOf(letter, 1); at !== -1; at = buf.indexOf(letter, at + 1)) {
    if (SCAN[buf[at - 1] as number] === 1) return true;
  }
  return false;
}

/** maybeLossyBytes one byte at a time: the reference the fast scan is tested against. */
export function maybeLossyBytesEach(bytes: Uint8Array): boolean {
  let run = 0;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const k = SCAN[bytes[i] as number];
    if (k === 1) {
      if (++run >= 16) return true;
    } else {
      if (k === 2 && run > 0) return true;
      run = 0;
    }
  }
  return false;
}

/** Scans number tokens outside strings; true when one needs exact treatment. */
export function hasLossyNumber(text: string): boolean {
  // Latin-1 keeps every ASCII character and maps the rest to one byte each: a
  // digit run can only grow, so the pre-scan never misses a candidate.
  if (!maybeLossyBytes(Buffer.from(text, 'latin1'))) return false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      let exp = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if ((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x2b || d === 0x2d) i++;
        else if (d === 0x65 || d === 0x45) {
          exp = true;
          i++;
        } else break;
      }
      // Tokens of <= 15 characters without an exponent have <= 15 digits and fit a double.
      if ((exp || i - start > 15) && isLossy(text.slice(start, i))) return true;
    } else i++;
  }
  return false;
}

function isLossy(token: string): boolean {
  const m = /^-?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(token);
  if (m === null) return false; // not a number; JSON.parse reports it
  const digits = ((m[1] ?? '') + (m[2] ?? '')).replace(/^0+/, '').replace(/0+$/, '');
  if (digits.length > 15) return true;
  if (digits.length === 0) return false;
  const v = Math.abs(Number(token));
  // Overflow to Infinity, underflow to 0, or subnormal (fewer bits of precision).
  return !Number.isFinite(v) || v < 2.2250738585072014e-308;
}

/** A container being filled: an array, or an object with the key of the value to come. */
interface Open {
  readonly value: JsonValue[] | Record<string, JsonValue>;
  key: string | null;
}

/**
 * The exact parser: iterative (an explicit stack of open containers), so nesting
 * depth is bounded by memory, not by the call stack, as JSON.parse is in V8.
 */
class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseDocument(): JsonValue {
    const stack: Open[] = [];
    let result: JsonValue | undefined;
    this.ws();
    for (;;) {
      // Here a value starts.
      let v: JsonValue;
      const c = this.s[this.i];
      if (c === '{' || c === '[') {
        this.i++;
        this.ws();
        const isObj = c === '{';
        const close = isObj ? '}' : ']';
        if (this.s[this.i] === close) {
          this.i++;
          // Null prototype: a "__proto__" key is data, not a prototype change.
          v = isObj ? (Object.create(null) as Record<string, JsonValue>) : [];
        } else {
          const open: Open = { value: isObj ? (Object.create(null) as Record<string, JsonValue>) : [], key: null };
          stack.push(open);
          if (isObj) open.key = this.key();
          continue;
        }
      } else v = this.scalar(c);
      // A value is complete: put it in its container and close what ends here.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) {
          result = v;
          break;
        }
        if (Array.isArray(top.value)) top.value.push(v);
        else top.value[top.key as string] = v;
        this.ws();
        const sep = this.s[this.i++];
        if (sep === ',') {
          this.ws();
          if (!Array.isArray(top.value)) top.key = this.key();
          break;
        }
        if (sep !== (Array.isArray(top.value) ? ']' : '}')) this.fail(Array.isArray(top.value) ? 'expected , or ]' : 'expected , or }', -1);
        stack.pop();
        v = top.value;
      }
      if (result !== undefined) break;
    }
    this.ws();
    if (this.i !== this.s.length) this.fail('unexpected data after JSON value');
    return result;
  }

  private fail(msg: string, back = 0): never {
    throw new JsonSyntaxError(`${msg} at position ${this.i + back}`);
  }

  private ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else break;
    }
  }

  /** `"key"` and its colon, then the whitespace before the value. */
  private key(): string {
    if (this.s[this.i] !== '"') this.fail('expected a key');
    const k = this.string();
    this.ws();
    if (this.s[this.i] !== ':') this.fail('expected :');
    this.i++;
    this.ws();
    return k;
  }

  private scalar(c: string | undefined): JsonValue {
    switch (c) {
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail(`unexpected ${c === undefined ? 'end of input' : JSON.stringify(c)}`);
    }
  }

  private literal<T extends JsonValue>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail('bad literal');
    this.i += word.length;
    return v;
  }

  private string(): string {
    const s = this.s;
    const start = this.i;
    let escaped = false;
    this.i++;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x5c) {
        escaped = true;
        this.i += 2;
      } else if (c === 0x22) {
        this.i++;
        // JSON.parse on the slice validates escapes and control characters.
        if (escaped) return JSON.parse(s.slice(start, this.i)) as string;
        const out = s.slice(start + 1, this.i - 1);
        if (/[\u0000-\u001f]/.test(out)) this.fail('control character in string');
        return out;
      } else this.i++;
    }
    return this.fail('unterminated string');
  }

  private number(): number | BigNum {
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = this.i;
    const r = m.exec(this.s);
    if (r === null) this.fail('bad number');
    const token = r[0];
    this.i += token.length;
    return (token.length > 15 || /[eE]/.test(token)) && isLossy(token) ? new BigNum(token) : Number(token);
  }
}
