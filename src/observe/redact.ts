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

  function redactFrom(value: unknown, states: States): unknown {
    if (fields.matched(states)) return REDACTED;
    if (value === null || typeof value !== 'object' || isExactNumber(value)) return value;
    if (fields.empty) return value;
    if (Array.isArray(value)) return value.map((v: unknown, i) => redactFrom(v, fields.step(states, i)));
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      // A marker ("…") holds counts, or the head of the string at this very path (matched above).
      const r = k === CUT ? v : redactFrom(v, fields.step(states, k));
      Object.defineProperty(out, k, { value: r, enumerable: true, writable: true, configurable: true });
    }
    return out;
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
