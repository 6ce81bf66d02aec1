// Redaction of secrets in logs and divergence samples (DESIGN §2.4): header
// values and JSON fields become "[REDACTED]"; field paths are kept.

import type { RedactConfig } from '../config/types.js';
import type { Difference, Segment, States } from '../compare/index.js';
import { PathSet, canonicalSegments } from '../compare/index.js';
import { SECRET_HEADERS } from '../http/headers.js';

export const REDACTED = '[REDACTED]';

type HeaderValue = string | string[] | undefined;

export interface Redactor {
  /** A copy with secret header values replaced; names are compared case-insensitively. */
  redactHeaders<V extends HeaderValue>(headers: Readonly<Record<string, V>>): Record<string, V | string>;
  /** A copy whose live/dark values are redacted when its field is secret (or holds secrets). */
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
    if (value === null || typeof value !== 'object') return value;
    if (fields.empty) return value;
    if (Array.isArray(value)) return value.map((v: unknown, i) => redactFrom(v, fields.step(states, i)));
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = redactFrom((value as Record<string, unknown>)[k], fields.step(states, k));
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
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
          const out: Difference = { part: d.part, field: d.field, kind: d.kind };
          if ('live' in d) out.live = redactFrom(d.live, states);
          if ('dark' in d) out.dark = redactFrom(d.dark, states);
          return out;
        }
      } else {
        return d;
      }
      const out: Difference = { part: d.part, field: d.field, kind: d.kind };
      if ('live' in d) out.live = REDACTED;
      if ('dark' in d) out.dark = REDACTED;
      return out;
    },
  };
}
