// Small typed readers for the config schema (validate.ts), bound to one Reader:
// each reports a bad value with its key path and line, and returns a fallback or
// undefined so that reading carries on and every problem is reported together.
import type { ListenAddress, Method } from './types.js';
import { items, numeric, quantity, text } from './read.js';
import type { Reader, Section, Value } from './read.js';
import { formatSize, parseDuration, parseSize } from './units.js';
import { METHODS, canonicalFieldPath, checkBackendUrl, parseHeaderName, parseListen, parseMethod } from './values.js';

export function unique<T>(list: readonly T[]): T[] {
  return [...new Set(list)];
}

/** Small typed readers bound to one Reader. Each reports and returns undefined
 *  on a bad value, so callers fall back to a default and carry on. */
export class Fields {
  constructor(readonly r: Reader) {}

  string(v: Value, what = 'expected a string'): string | undefined {
    const s = text(v);
    if (s === undefined) this.r.report(v.path, v.line, what);
    return s;
  }

  duration(v: Value | undefined, fallback: number, { allowZero = false } = {}): number {
    if (v === undefined) return fallback;
    const q = quantity(v);
    const ms = q === undefined ? undefined : parseDuration(q);
    if (ms === undefined || (!allowZero && ms === 0)) {
      this.r.report(v.path, v.line, ms === 0 ? 'must be more than 0' : 'expected a duration like "5s"');
      return fallback;
    }
    return ms;
  }

  size(v: Value | undefined, fallback: number, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}): number {
    if (v === undefined) return fallback;
    const q = quantity(v);
    const bytes = q === undefined ? undefined : parseSize(q);
    if (bytes === undefined || bytes === 0 || bytes < min || bytes > max) {
      const problem =
        bytes === undefined
          ? 'expected a size like "1MiB"'
          : bytes === 0
            ? 'must be more than 0'
            : bytes < min
              ? `must be at least ${formatSize(min)}`
              : `must be at most ${formatSize(max)}`;
      this.r.report(v.path, v.line, problem);
      return fallback;
    }
    return bytes;
  }

  number(v: Value | undefined, fallback: number, ok: (n: number) => boolean, expected: string): number {
    if (v === undefined) return fallback;
    const n = numeric(v);
    if (n === undefined || !Number.isFinite(n) || !ok(n)) {
      this.r.report(v.path, v.line, expected);
      return fallback;
    }
    return n;
  }

  url(v: Value | undefined, section: Section): string | undefined {
    if (v === undefined) {
      const at = section.missing('url');
      this.r.report(at.path, at.line, 'required');
      return undefined;
    }
    const s = this.string(v, 'expected an http(s) URL like "http://127.0.0.1:3000"');
    if (s === undefined) return undefined;
    const problem = checkBackendUrl(s.trim());
    if (problem !== undefined) {
      this.r.report(v.path, v.line, problem);
      return undefined;
    }
    return s.trim();
  }

  listen(v: Value | undefined, fallback: ListenAddress, defaultHost: string): ListenAddress {
    if (v === undefined) return fallback;
    const q = quantity(v);
    const parsed = q === undefined ? 'expected host:port, :port or a port number' : parseListen(q, defaultHost);
    if (typeof parsed === 'string') {
      this.r.report(v.path, v.line, parsed);
      return fallback;
    }
    return parsed;
  }

  /** A list of strings, each checked by `parse` (a value or a problem message). */
  list<T>(v: Value | undefined, parse: (s: string) => { value: T } | { problem: string }): T[] {
    if (v === undefined) return [];
    const out: T[] = [];
    for (const item of items(this.r, v)) {
      const s = this.string(item);
      if (s === undefined) continue;
      const parsed = parse(s);
      if ('problem' in parsed) this.r.report(item.path, item.line, parsed.problem);
      else out.push(parsed.value);
    }
    return unique(out);
  }

  headerNames(v: Value | undefined): string[] {
    return this.list(v, (s) => {
      const value = parseHeaderName(s);
      return value === undefined ? { problem: `"${s}" is not a valid header name` } : { value };
    });
  }

  /** Field paths, each in canonical form (so a path written two ways is listed once). */
  fieldPaths(v: Value | undefined): string[] {
    return this.list(v, (s) => {
      const parsed = canonicalFieldPath(s);
      return typeof parsed === 'string' ? { problem: parsed } : { value: parsed.path };
    });
  }

  methods(v: Value | undefined): Method[] | undefined {
    if (v === undefined) return undefined;
    return this.list(v, (s) => {
      const value = parseMethod(s);
      return value === undefined ? { problem: `unknown method "${s}"; expected one of ${METHODS.join(', ')}` } : { value };
    });
  }
}
