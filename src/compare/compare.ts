// compareAnswers: one live answer against one other answer, no noise logic.
// Pure and synchronous; the pool runs the same function in a worker.

import type { Answer, CompareContext, Difference, SkipReason, Verdict } from './types.js';
import type { CompiledRules } from './rules.js';
import { Collector, trimString } from './differences.js';
import { decodeBody } from './decode.js';
import { diffBodies, parseMediaType } from './body.js';

export function skipped(reason: SkipReason): Verdict {
  return { result: 'skipped', reason, differences: [], noise: [] };
}

export function verdictOf(differences: Difference[], noise: Difference[] = []): Verdict {
  const result = differences.length > 0 ? 'mismatch' : noise.length > 0 ? 'noise' : 'match';
  return { result, differences, noise };
}

/** Bodies are not compared for HEAD, 1xx, 204 and 304: there is no body to compare. */
export function bodiesComparable(method: string, liveStatus: number, darkStatus: number): boolean {
  if (method.toUpperCase() === 'HEAD') return false;
  for (const s of [liveStatus, darkStatus]) if (s === 204 || s === 304 || (s >= 100 && s < 200)) return false;
  return true;
}

/**
 * Compares `dark` against `live`. A truncated body on either side skips the
 * whole comparison (reason too_large): a partial body cannot be judged, and
 * half a verdict would be counted as a whole one.
 */
export function compareAnswers(live: Answer, dark: Answer, rules: CompiledRules, ctx: CompareContext): Verdict {
  if (live.truncated || dark.truncated) return skipped('too_large');
  const out = new Collector();
  if (live.status !== dark.status) out.add('status', 'status', 'changed', live.status, dark.status);
  diffHeaders(live.headers, dark.headers, rules.ignoredHeaders, out);

  if (bodiesComparable(ctx.method, live.status, dark.status)) {
    const l = decodeBody(live.body, live.headers['content-encoding'], rules.maxDecodedBytes);
    if (!l.ok) return skipped(l.reason);
    const d = decodeBody(dark.body, dark.headers['content-encoding'], rules.maxDecodedBytes);
    if (!d.ok) return skipped(d.reason);
    const mt = parseMediaType(live.headers['content-type']) ?? parseMediaType(dark.headers['content-type']);
    diffBodies(l.body, d.body, mt, rules, out);
  }
  return verdictOf(out.list);
}

type Headers = Answer['headers'];

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Names listed in a Connection header are hop-by-hop for that message. */
function connectionTokens(h: Headers, into: Set<string>): void {
  const v = headerValue(h['connection']);
  if (v === undefined) return;
  for (const t of v.split(',')) {
    const name = t.trim().toLowerCase();
    if (name !== '') into.add(name);
  }
}

export function diffHeaders(live: Headers, dark: Headers, ignored: ReadonlySet<string>, out: Collector): void {
  const perMessage = new Set<string>();
  connectionTokens(live, perMessage);
  connectionTokens(dark, perMessage);
  const l = normalise(live, ignored, perMessage);
  const d = normalise(dark, ignored, perMessage);
  const names = [...new Set([...l.keys(), ...d.keys()])].sort();
  for (const name of names) {
    const a = l.get(name);
    const b = d.get(name);
    if (a === b) continue;
    const field = `header:${name}`;
    if (a === undefined) out.add('header', field, 'added', undefined, trimString(b ?? ''));
    else if (b === undefined) out.add('header', field, 'removed', trimString(a), undefined);
    else out.add('header', field, 'changed', trimString(a), trimString(b));
  }
}

function normalise(h: Headers, ignored: ReadonlySet<string>, perMessage: ReadonlySet<string>): Map<string, string> {
  const m = new Map<string, string>();
  for (const key of Object.keys(h)) {
    const name = key.toLowerCase();
    if (ignored.has(name) || perMessage.has(name)) continue;
    const v = headerValue(h[key]);
    if (v === undefined) continue;
    const prev = m.get(name);
    m.set(name, prev === undefined ? v : `${prev}, ${v}`);
  }
  return m;
}
