// Structural JSON comparison.
//
// Our own walker rather than deep-diff: deep-diff cannot compare numbers within
// a tolerance or exactly as decimals (BigNum), has no multiset mode with custom
// equality (its orderIndependentDiff hashes values, so tolerance and ignore
// paths inside elements are lost), reports array moves as per-index edits
// instead of one `order`, and reports a type change as an ordinary edit. The
// rules here need all of those, and one pass that can stop at the cap.

import type { Kind } from './types.js';
import type { Collector } from './differences.js';
import type { JsonValue } from './json-parse.js';
import { BigNum } from './json-parse.js';
import type { PathSet, States } from './paths.js';
import { INDEX_STEP, keyStep } from './paths.js';

export interface JsonRules {
  readonly ignore: PathSet;
  readonly unordered: PathSet;
  /** Relative tolerance for numbers; 0 = exact. */
  readonly tolerance: number;
}

type JType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

function typeOf(v: JsonValue): JType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof BigNum) return 'number';
  return typeof v as JType;
}

/** Where differences go: the real collector, or a probe that only wants to know "any?". */
interface Sink {
  readonly done: boolean;
  report(path: readonly (string | null)[], kind: Kind, live: unknown, dark: unknown): void;
}

class CollectorSink implements Sink {
  constructor(private readonly c: Collector) {}
  get done(): boolean {
    return this.c.full;
  }
  report(path: readonly (string | null)[], kind: Kind, live: unknown, dark: unknown): void {
    this.c.add('body', formatPath(path), kind, live, dark);
  }
}

class ProbeSink implements Sink {
  done = false;
  report(): void {
    this.done = true;
  }
}

/** Canonical path text; `null` entries are array steps. */
export function formatPath(path: readonly (string | null)[]): string {
  let s = '$';
  for (const seg of path) s += seg === null ? INDEX_STEP : keyStep(seg);
  return s;
}

/** Compares two parsed JSON documents and adds body differences to `out`. */
export function diffJson(live: JsonValue, dark: JsonValue, rules: JsonRules, out: Collector): void {
  const w = new Walker(rules);
  if (rules.ignore.matched(rules.ignore.start())) return;
  w.walk(live, dark, rules.ignore.start(), rules.unordered.start(), new CollectorSink(out));
}

/** Number equality: exact decimals for BigNum, else within relative tolerance. */
export function numbersEqual(a: number | BigNum, b: number | BigNum, tolerance: number): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a === b) return true;
    return tolerance > 0 && Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b));
  }
  const ka = a instanceof BigNum ? a.key : exactKey(a);
  const kb = b instanceof BigNum ? b.key : exactKey(b);
  if (ka === kb) return true;
  if (tolerance <= 0) return false;
  const na = Number(a instanceof BigNum ? a.raw : a);
  const nb = Number(b instanceof BigNum ? b.raw : b);
  return Number.isFinite(na) && Number.isFinite(nb) && Math.abs(na - nb) <= tolerance * Math.max(Math.abs(na), Math.abs(nb));
}

function exactKey(n: number): string {
  return new BigNum(String(n === 0 ? 0 : n)).key;
}

class Walker {
  private readonly path: (string | null)[] = [];
  constructor(private readonly rules: JsonRules) {}

  walk(l: JsonValue, d: JsonValue, ign: States, uno: States, sink: Sink): void {
    const tl = typeOf(l);
    const td = typeOf(d);
    if (tl !== td) {
      sink.report(this.path, 'type', l, d);
      return;
    }
    switch (tl) {
      case 'null':
        return;
      case 'number':
        if (!numbersEqual(l as number | BigNum, d as number | BigNum, this.rules.tolerance)) sink.report(this.path, 'changed', l, d);
        return;
      case 'string':
      case 'boolean':
        if (l !== d) sink.report(this.path, 'changed', l, d);
        return;
      case 'object':
        this.objects(l as Record<string, JsonValue>, d as Record<string, JsonValue>, ign, uno, sink);
        return;
      case 'array':
        if (this.rules.unordered.matched(uno)) this.unorderedArrays(l as JsonValue[], d as JsonValue[], ign, uno, sink);
        else this.orderedArrays(l as JsonValue[], d as JsonValue[], ign, uno, sink);
        return;
    }
  }

  private objects(l: Record<string, JsonValue>, d: Record<string, JsonValue>, ign: States, uno: States, sink: Sink): void {
    const { ignore, unordered } = this.rules;
    for (const k of Object.keys(l)) {
      if (sink.done) return;
      const ci = ignore.step(ign, k);
      if (ignore.matched(ci)) continue;
      this.path.push(k);
      if (Object.hasOwn(d, k)) this.walk(l[k] as JsonValue, d[k] as JsonValue, ci, unordered.step(uno, k), sink);
      else sink.report(this.path, 'removed', l[k], undefined);
      this.path.pop();
    }
    for (const k of Object.keys(d)) {
      if (sink.done) return;
      if (Object.hasOwn(l, k)) continue;
      if (ignore.matched(ignore.step(ign, k))) continue;
      this.path.push(k);
      sink.report(this.path, 'added', undefined, d[k]);
      this.path.pop();
    }
  }

  private orderedArrays(l: JsonValue[], d: JsonValue[], ign: States, uno: States, sink: Sink): void {
    if (l.length === d.length && l.length > 1) {
      // Same length: if only the order differs, say so once at the array path.
      const first = this.firstDifference(l, d, ign, uno);
      if (first < 0) return;
      // Cheap pre-check before the multiset test: a reorder moves l[first] somewhere after `first`.
      if (this.foundLater(l[first] as JsonValue, d, first, ign, uno) && this.sameMultiset(l, d, ign)) {
        sink.report(this.path, 'order', l, d);
        return;
      }
    }
    this.elements(l, d, ign, uno, sink);
  }

  private firstDifference(l: JsonValue[], d: JsonValue[], ign: States, uno: States): number {
    const { ignore, unordered } = this.rules;
    for (let i = 0; i < l.length; i++) {
      const ci = ignore.step(ign, i);
      if (ignore.matched(ci)) continue;
      const probe = new ProbeSink();
      this.walk(l[i] as JsonValue, d[i] as JsonValue, ci, unordered.step(uno, i), probe);
      if (probe.done) return i;
    }
    return -1;
  }

  private foundLater(v: JsonValue, d: JsonValue[], from: number, ign: States, uno: States): boolean {
    const { ignore, unordered } = this.rules;
    for (let j = from + 1; j < d.length; j++) {
      const probe = new ProbeSink();
      this.walk(v, d[j] as JsonValue, ignore.step(ign, j), unordered.step(uno, j), probe);
      if (!probe.done) return true;
    }
    return false;
  }

  private elements(l: JsonValue[], d: JsonValue[], ign: States, uno: States, sink: Sink): void {
    const { ignore, unordered } = this.rules;
    const n = Math.max(l.length, d.length);
    this.path.push(null);
    for (let i = 0; i < n && !sink.done; i++) {
      const ci = ignore.step(ign, i);
      if (ignore.matched(ci)) continue;
      if (i >= d.length) sink.report(this.path, 'removed', l[i], undefined);
      else if (i >= l.length) sink.report(this.path, 'added', undefined, d[i]);
      else this.walk(l[i] as JsonValue, d[i] as JsonValue, ci, unordered.step(uno, i), sink);
    }
    this.path.pop();
  }

  private sameMultiset(l: JsonValue[], d: JsonValue[], ign: States): boolean {
    const counts = new Map<string, number>();
    for (let i = 0; i < l.length; i++) {
      const k = this.key(l[i] as JsonValue, this.rules.ignore.step(ign, i));
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    for (let i = 0; i < d.length; i++) {
      const k = this.key(d[i] as JsonValue, this.rules.ignore.step(ign, i));
      const c = counts.get(k);
      if (c === undefined || c === 0) return false;
      counts.set(k, c - 1);
    }
    return true;
  }

  /** Multiset comparison: equal elements pair off whatever their position. */
  private unorderedArrays(l: JsonValue[], d: JsonValue[], ign: States, uno: States, sink: Sink): void {
    const { ignore, unordered, tolerance } = this.rules;
    const byKey = new Map<string, number[]>();
    for (let j = 0; j < d.length; j++) {
      const k = this.key(d[j] as JsonValue, ignore.step(ign, j));
      const list = byKey.get(k);
      if (list === undefined) byKey.set(k, [j]);
      else list.push(j);
    }
    const leftL: number[] = [];
    const usedD = new Uint8Array(d.length);
    for (let i = 0; i < l.length; i++) {
      const list = byKey.get(this.key(l[i] as JsonValue, ignore.step(ign, i)));
      const j = list?.shift();
      if (j === undefined) leftL.push(i);
      else usedD[j] = 1;
    }
    let leftD: number[] = [];
    for (let j = 0; j < d.length; j++) if (usedD[j] === 0) leftD.push(j);
    if (leftL.length === 0 && leftD.length === 0) return;

    let restL = leftL;
    // Exact keys miss numbers equal only within tolerance: pair those by probing (bounded).
    if (tolerance > 0 && leftL.length * leftD.length <= 10_000) {
      restL = [];
      for (const i of leftL) {
        const at = leftD.findIndex((j) => {
          const probe = new ProbeSink();
          this.walk(l[i] as JsonValue, d[j] as JsonValue, ignore.step(ign, i), unordered.step(uno, i), probe);
          return !probe.done;
        });
        if (at < 0) restL.push(i);
        else leftD = leftD.filter((_, k) => k !== at);
      }
    }
    // What is left pairs up in order, so a changed element reports its changed fields.
    this.path.push(null);
    const n = Math.max(restL.length, leftD.length);
    for (let k = 0; k < n && !sink.done; k++) {
      const i = restL[k];
      const j = leftD[k];
      if (i === undefined) sink.report(this.path, 'added', undefined, d[j as number]);
      else if (j === undefined) sink.report(this.path, 'removed', l[i], undefined);
      else this.walk(l[i] as JsonValue, d[j] as JsonValue, ignore.step(ign, i), unordered.step(uno, i), sink);
    }
    this.path.pop();
  }

  /** A canonical text of a value for multiset matching: sorted keys, exact numbers, ignored fields left out. */
  private key(v: JsonValue, ign: States): string {
    if (v === null || typeof v === 'boolean') return String(v);
    if (typeof v === 'number') return `n${v === 0 ? 0 : v}`;
    if (typeof v === 'string') return JSON.stringify(v);
    if (v instanceof BigNum) return `b${v.key}`;
    const ignore = this.rules.ignore;
    if (Array.isArray(v)) {
      let s = '[';
      for (let i = 0; i < v.length; i++) {
        const ci = ignore.step(ign, i);
        s += ignore.matched(ci) ? '~,' : `${this.key(v[i] as JsonValue, ci)},`;
      }
      return `${s}]`;
    }
    let s = '{';
    for (const k of Object.keys(v).sort()) {
      const ci = ignore.step(ign, k);
      if (ignore.matched(ci)) continue;
      s += `${JSON.stringify(k)}:${this.key(v[k] as JsonValue, ci)},`;
    }
    return `${s}}`;
  }
}
