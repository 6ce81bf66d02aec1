// Redaction of secrets in logs and divergence samples (DESIGN §2.4): header
// values and JSON fields become "[REDACTED]"; field paths are kept.

import type { RedactConfig } from '../config/types.js';
import type { Difference, Example, SampleValue, Segment, States } from '../compare/index.js';
import { CUT, PathSet, canonicalSegments, isExactNumber } from '../compare/index.js';
import { SECRET_HEADERS } from '../http/headers.js';

export const REDACTED = '[REDACTED]';

type HeaderValue = string | string[] | undefined;

export interface Redactor {
  /** A copy with secret header values replaced; names are compared case-insensitively. */
  redactHeaders<V extends HeaderValue>(headers: Readonly<Record<string, V>>): Record<string, V | string>;
  /** A copy whose values (live/dark and every example) are redacted when its field is secret (or holds secrets). */
  redactDifference(d: Difference): Difference;
  /** A copy of a JSON value with every field matching `redact.fields` replaced. */
  redactJson(value: unknown): unknown;
  /** True when a header name is redacted. */
  isSecretHeader(name: string): boolean;
}

export function compileRedactor(redact: RedactConfig): Redactor {
  const headers = new Set([...SECRET_HEADERS, ...redact.headers.map((h) => h.trim().toLowerCase())]);
  const fields = new PathSet(redact.fields);

  const isSecretHeader = (name: string): boolean => headers.has(name.toLowerCase());

  /** A redacted copy of `value` whose node has the states `states`; iterative, so any depth. */
  function redactFrom(value: unknown, states: States): unknown {
    if (fields.matched(states)) return REDACTED;
    if (value === null || typeof value !== 'object' || isExactNumber(value) || fields.empty) return value;
    const root = Array.isArray(value) ? [] : {};
    const stack: { from: object; to: unknown[] | Record<string, unknown>; states: States }[] = [{ from: value, to: root, states }];
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      const { from, to } = top;
      const keys = Array.isArray(from) ? null : Object.keys(from);
      const n = keys === null ? (from as unknown[]).length : keys.length;
      for (let i = 0; i < n; i++) {
        const key = keys === null ? i : (keys[i] as string);
        const v: unknown = (from as Record<string | number, unknown>)[key];
        let out: unknown;
        // A marker ("…") holds counts, or the head of the string at this very node (matched before it was entered).
        if (key === CUT) out = v;
        else {
          const st = fields.step(top.states, key);
          if (fields.matched(st)) out = REDACTED;
          else if (v === null || typeof v !== 'object' || isExactNumber(v)) out = v;
          else {
            out = Array.isArray(v) ? [] : {};
            stack.push({ from: v, to: out as unknown[] | Record<string, unknown>, states: st });
          }
        }
        // defineProperty: a "__proto__" key stays data.
        if (Array.isArray(to)) to.push(out);
        else Object.defineProperty(to, key, { value: out, enumerable: true, writable: true, configurable: true });
      }
    }
    return root;
  }

  /** `d` with every value, live/dark and each example's, replaced by `redact(value)`. */
  function mapValues(d: Difference, redact: (v: SampleValue) => SampleValue): Difference {
    const one = (ex: Example): Example => {
      const o: Example = {};
      if (ex.live !== undefined) o.live = redact(ex.live);
      if (ex.dark !== undefined) o.dark = redact(ex.dark);
      return o;
    };
    const out: Difference = { part: d.part, field: d.field, kind: d.kind, ...one(d) };
    if (d.count !== undefined) out.count = d.count;
    if (d.examples !== undefined) out.examples = d.examples.map(one);
    return out;
  }

  return {
    isSecretHeader,
    redactHeaders<V extends HeaderValue>(h: Readonly<Record<string, V>>): Record<string, V | string> {
      const out: Record<string, V | string> = {};
      for (const k of Object.keys(h)) {
        const v = h[k] as V;
        out[k] = isSecretHeader(k) && v !== undefined ? REDACTED : v;
      }
      return out;
    },
    redactJson(value: unknown): unknown {
      return redactFrom(value, fields.start());
    },
    redactDifference(d: Difference): Difference {
      let states: States | null = null;
      if (d.part === 'header') {
        if (!isSecretHeader(d.field.slice('header:'.length))) return d;
      } else if (d.part === 'trailer') {
        // Trailers are header fields sent last: the same secret names (redact.headers included).
        if (!isSecretHeader(d.field.slice('trailer:'.length))) return d;
      } else if (d.part === 'body' && d.field.startsWith('$')) {
        const segs: Segment[] | null = canonicalSegments(d.field);
        // A path we cannot read is redacted whole: safe over sorry.
        states = segs === null ? null : fields.walk(segs);
        if (states !== null && !fields.matched(states)) {
          if (fields.empty) return d;
          const at = states;
          return mapValues(d, (v) => redactFrom(v, at) as SampleValue);
        }
      } else {
        return d;
      }
      return mapValues(d, () => REDACTED);
    },
  };
}
