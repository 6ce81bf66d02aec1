// Small typed readers for the config schema (validate.ts), bound to one Reader:
// each reports a bad value with its key path and line, and returns a fallback or
// undefined so that reading carries on and every problem is reported together.
import { isMap } from 'yaml';
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

  /**
   * A mapping from field paths (stored canonically) to values that `read` checks
   * (it reports its own problems and answers undefined for a bad value). Two
   * spellings of one path (`$.a`, `$["a"]`) are reported like a duplicate key.
   * Problems about an entry are reported at `<section>["<path as written>"]`.
   */
  pathMap<T>(v: Value | undefined, expected: string, read: (value: Value) => T | undefined): { readonly path: string; readonly value: T }[] {
    if (v === undefined) return [];
    if (!isMap(v.node)) {
      this.r.report(v.path, v.line, `expected a mapping of field paths to ${expected}`);
      return [];
    }
    const out: { path: string; value: T }[] = [];
    const seen = new Map<string, { written: string; line: number | null }>();
    for (const pair of v.node.items) {
      const keyLine = this.r.lineOf(pair.key) ?? v.line;
      const written = text(this.r.value(v.path, pair.key, keyLine));
      if (written === undefined) {
        this.r.report(v.path, keyLine, `keys are field paths like "$.items"`);
        continue;
      }
      const at = `${v.path}[${JSON.stringify(written)}]`;
      const parsed = canonicalFieldPath(written);
      if (typeof parsed === 'string') {
        this.r.report(at, keyLine, parsed);
        continue;
      }
      const earlier = seen.get(parsed.path);
      if (earlier !== undefined) {
        this.r.report(at, keyLine, `the same field path as ${JSON.stringify(earlier.written)}${earlier.line === null ? '' : ` (line ${earlier.line})`}`);
        continue;
      }
      seen.set(parsed.path, { written, line: keyLine });
      const value = read(this.r.value(at, pair.value, keyLine));
      if (value !== undefined) out.push({ path: parsed.path, value });
    }
    return out;
  }

  methods(v: Value | undefined): Method[] | undefined {
    if (v === undefined) return undefined;
    return this.list(v, (s) => {
      const value = parseMethod(s);
      return value === undefined ? { problem: `unknown method "${s}"; expected one of ${METHODS.join(', ')}` } : { value };
    });
  }
}
