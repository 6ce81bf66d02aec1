// Comparing one live answer with another (dark, or secondary for the noise
// baseline), no noise logic. Status and headers are compared at once; bodies by
// a plan decided from their bytes: identical bytes under the same codings are
// equal without decoding, plain bodies compare as they are, encoded ones are
// decoded first, which only the worker does (decode.ts). The pool runs the
// inline part on the event loop only when no body needs decoding.

import type { Answer, CompareContext, Difference, SkipReason, Verdict } from './types.js';
import type { CompiledRules } from './rules.js';
import { GRPC_STATUS_TRAILERS } from './rules.js';
import { UNCOUNTED, type ByteBudget } from './budget.js';
import { Collector } from './differences.js';
import { decodeBody, isPlain, parseEncodings, type Coding } from './decode.js';
import { bodiesParsed, diffBodies, parseMediaType, sameMediaType } from './body.js';
import { withWorkLimit } from './json-diff.js';
import { diffGrpcBodies, grpcCodec, grpcEncoding, hasCompressedFrame } from './grpc.js';

/**
 * Whether this thread may parse the two bodies (as JSON or text, or as gRPC
 * messages when `grpc`) without risking the process (heap-room.ts); null (the
 * event loop, which only ever parses small bodies) when nothing is checked. A
 * compare worker sets it (worker.ts).
 */
export type HeapRoomCheck = (a: Buffer, b: Buffer, grpc: boolean) => boolean;
let heapRoom: HeapRoomCheck | null = null;

export function setHeapRoomCheck(check: HeapRoomCheck | null): void {
  heapRoom = check;
}

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
 * How two bodies are compared: `none` (not at all), `equal` (same bytes under
 * the same codings: same content, nothing to decode), `plain` (as received),
 * `decode` (content codings undone first, in a worker).
 */
export type BodyPlan = 'none' | 'equal' | 'plain' | 'decode';

function sameCodings(a: readonly Coding[], b: readonly Coding[]): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

export function planBodies(live: Answer, other: Answer, method: string): BodyPlan {
  if (!bodiesComparable(method, live.status, other.status)) return 'none';
  const lc = parseEncodings(live.headers['content-encoding']);
  const oc = parseEncodings(other.headers['content-encoding']);
  // gRPC messages compressed under grpc-encoding are decoded like content codings.
  const grpc = isGrpc(live, other);
  const compressed = grpc && (hasCompressedFrame(live.body) || hasCompressedFrame(other.body));
  if (sameCodings(lc, oc) && live.body.equals(other.body)) {
    if (!compressed || grpcEncoding(live.headers['grpc-encoding']) === grpcEncoding(other.headers['grpc-encoding'])) return 'equal';
  }
  return isPlain(lc) && isPlain(oc) && !compressed ? 'plain' : 'decode';
}

/** True when both sides are gRPC by content-type (a side without one as the other's). */
function isGrpc(live: Answer, other: Answer): boolean {
  const lt = parseMediaType(live.headers['content-type']);
  const ot = parseMediaType(other.headers['content-type']);
  return grpcCodec(lt ?? ot) !== null && grpcCodec(ot ?? lt) !== null;
}

/**
 * The verdict for a pair whose bodies are ready: `liveBody`/`otherBody` are the
 * decoded bodies for plan `decode`, ignored (the received bytes are used)
 * otherwise. gRPC messages are decompressed here, counted in `budget` (plan
 * `decode` only: a plain pair has no compressed message).
 */
export function compareReady(
  live: Answer,
  other: Answer,
  plan: BodyPlan,
  rules: CompiledRules,
  ctx: CompareContext,
  liveBody: Buffer = live.body,
  otherBody: Buffer = other.body,
  budget: ByteBudget = UNCOUNTED,
): Verdict {
  if (live.truncated || other.truncated) return skipped('too_large');
  const out = new Collector();
  if (live.status !== other.status) out.add('status', 'status', 'changed', live.status, other.status);
  diffHeaders(live.headers, other.headers, rules.ignoredHeaders, out);
  diffTrailers(live, other, rules.ignoredTrailers, out);
  if (plan === 'plain' || plan === 'decode') {
    const lb = plan === 'plain' ? live.body : liveBody;
    const ob = plan === 'plain' ? other.body : otherBody;
    // Each side is read as its own content-type says; a side without one as the other's.
    const lt = parseMediaType(live.headers['content-type']);
    const ot = parseMediaType(other.headers['content-type']);
    const lg = grpcCodec(lt ?? ot);
    const og = grpcCodec(ot ?? lt);
    if (lg !== null && og !== null) {
      if (heapRoom !== null && !heapRoom(lb, ob, true)) return skipped('compare_heap');
      const failure = diffGrpcBodies(
        { body: lb, codec: lg, encoding: live.headers['grpc-encoding'] },
        { body: ob, codec: og, encoding: other.headers['grpc-encoding'] },
        rules,
        rules.messageReader(ctx.path),
        budget,
        out,
      );
      if (failure !== null) return skipped(failure);
    } else if (lg !== null || og !== null) {
      // gRPC on one side only (the content-type difference is reported): the bytes.
      diffBodies(lb, ob, null, null, rules, out);
    } else {
      if (heapRoom !== null && bodiesParsed(lt ?? ot, ot ?? lt) && !heapRoom(lb, ob, false)) return skipped('compare_heap');
      diffBodies(lb, ob, lt ?? ot, ot ?? lt, rules, out);
    }
  }
  return verdictOf(out.list);
}

export interface PairVerdicts {
  readonly primary: Verdict;
  /** Live against secondary; null without a secondary or when the primary was skipped. */
  readonly baseline: Verdict | null;
}

/**
 * Both verdicts without leaving this thread, when neither pair needs decoding
 * and no body to diff reaches `maxInlineBytes`; null when the pair belongs in a worker.
 */
export function compareInline(
  live: Answer,
  dark: Answer,
  secondary: Answer | null,
  rules: CompiledRules,
  ctx: CompareContext,
  maxInlineBytes: number,
): PairVerdicts | null {
  if (live.truncated || dark.truncated) return { primary: skipped('too_large'), baseline: null };
  const p = planBodies(live, dark, ctx.method);
  if (!inlineable(p, live, dark, maxInlineBytes)) return null;
  if (secondary === null) return withWorkLimit(inlineWork(null), () => ({ primary: compareReady(live, dark, p, rules, ctx), baseline: null }));
  const s = planBodies(live, secondary, ctx.method);
  if (!inlineable(s, live, secondary, maxInlineBytes)) return null;
  return withWorkLimit(inlineWork(secondary), () => {
    const primary = compareReady(live, dark, p, rules, ctx);
    return { primary, baseline: primary.result === 'skipped' ? null : compareReady(live, secondary, s, rules, ctx) };
  });
}

/**
 * The most work (json-diff.ts steps) an inline comparison may do: per pair,
 * about 1-3 ms of this thread at most (a step costs 30-100 ns). A pair of
 * 60 KB documents that differ in a few fields takes 9,000-16,000 steps; one
 * that differs everywhere, or whose unordered leftovers must all be scored
 * against each other, reaches the limit and is compared in a worker instead.
 */
export function inlineWork(secondary: Answer | null): number {
  return secondary === null ? INLINE_WORK_STEPS : 2 * INLINE_WORK_STEPS;
}

/** Steps one inline pair may take (see inlineWork). */
export const INLINE_WORK_STEPS = 25_000;

/**
 * Reading protobuf without a schema costs several times what JSON.parse does per
 * byte (every length-delimited value is tried as a message first): a gRPC pair
 * compares inline only below this fraction of the inline bound.
 */
export const GRPC_INLINE_DIVISOR = 8;

function inlineable(plan: BodyPlan, a: Answer, b: Answer, maxInlineBytes: number): boolean {
  if (plan === 'decode') return false;
  if (plan !== 'plain') return true;
  const bound = isGrpc(a, b) ? maxInlineBytes / GRPC_INLINE_DIVISOR : maxInlineBytes;
  return Math.max(a.body.length, b.body.length) < bound;
}

/**
 * Both verdicts, decoding what needs it (live's body once for both pairs).
 * Decoded bytes count in `budget` until the verdicts are made. Never throws
 * for a body: a body that cannot be decoded skips with the reason.
 */
export function compareBoth(
  live: Answer,
  dark: Answer,
  secondary: Answer | null,
  rules: CompiledRules,
  ctx: CompareContext,
  budget: ByteBudget = UNCOUNTED,
): PairVerdicts {
  const decoded = new Map<Answer, Buffer>();
  let reserved = 0;
  const bodyOf = (a: Answer): Buffer | SkipReason => {
    const known = decoded.get(a);
    if (known !== undefined) return known;
    const r = decodeBody(a.body, a.headers['content-encoding'], { maxDecodedBytes: rules.maxDecodedBytes, maxDecodeRatio: rules.maxDecodeRatio, budget });
    if (!r.ok) return r.reason;
    reserved += r.reserved;
    decoded.set(a, r.body);
    return r.body;
  };
  const pair = (other: Answer): Verdict => {
    if (live.truncated || other.truncated) return skipped('too_large');
    const plan = planBodies(live, other, ctx.method);
    if (plan !== 'decode') return compareReady(live, other, plan, rules, ctx);
    const l = bodyOf(live);
    if (typeof l === 'string') return skipped(l);
    const o = bodyOf(other);
    if (typeof o === 'string') return skipped(o);
    return compareReady(live, other, plan, rules, ctx, l, o, budget);
  };
  try {
    const primary = pair(dark);
    const baseline = secondary === null || primary.result === 'skipped' ? null : pair(secondary);
    return { primary, baseline };
  } finally {
    budget.release(reserved);
  }
}

/**
 * Compares `other` against `live`. A truncated body on either side skips the
 * whole comparison (reason too_large): a partial body cannot be judged, and
 * half a verdict would be counted as a whole one.
 */
export function compareAnswers(live: Answer, other: Answer, rules: CompiledRules, ctx: CompareContext, budget?: ByteBudget): Verdict {
  return compareBoth(live, other, null, rules, ctx, budget).primary;
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

/**
 * True when both sides carry the same headers after the ignore list: the usual
 * case, checked without building anything. False also when it cannot tell at a
 * glance (a Connection header, a name not in lower case): the full path decides.
 */
function sameHeaders(live: Headers, dark: Headers, ignored: ReadonlySet<string>): boolean {
  if (live['connection'] !== undefined || dark['connection'] !== undefined) return false;
  let counted = 0;
  for (const key of Object.keys(live)) {
    if (ignored.has(key)) continue;
    const a = live[key];
    if (a === undefined) continue;
    const b = dark[key];
    if (b === undefined || (a !== b && headerValue(a) !== headerValue(b)) || key !== key.toLowerCase()) return false;
    counted++;
  }
  for (const key of Object.keys(dark)) {
    if (ignored.has(key) || dark[key] === undefined) continue;
    if (--counted < 0) return false;
  }
  return counted === 0;
}

export function diffHeaders(live: Headers, dark: Headers, ignored: ReadonlySet<string>, out: Collector): void {
  if (sameHeaders(live, dark, ignored)) return;
  const perMessage = new Set<string>();
  connectionTokens(live, perMessage);
  connectionTokens(dark, perMessage);
  diffFields('header', normalise(live, ignored, perMessage), normalise(dark, ignored, perMessage), out);
}

const NO_TOKENS: ReadonlySet<string> = new Set();

/**
 * An answer's trailers as compared: its trailers, plus the gRPC status trailers
 * a trailers-only answer sent as headers (a trailer of the same name wins), and
 * grpc-message percent-decoded. Undefined when there is nothing to compare
 * (every plain HTTP answer).
 */
export function trailersOf(a: Answer): Headers | undefined {
  let view = a.trailers;
  for (const name of GRPC_STATUS_TRAILERS) {
    const v = a.headers[name];
    if (v === undefined || view?.[name] !== undefined) continue;
    view = { ...view, [name]: v };
  }
  const message = view?.['grpc-message'];
  if (message !== undefined) {
    const decoded = Array.isArray(message) ? message.map(grpcMessageText) : grpcMessageText(message);
    if (decoded !== message) view = { ...view, 'grpc-message': decoded };
  }
  return view;
}

/**
 * grpc-message as its text: the gRPC protocol percent-encodes it, and encoders
 * differ in what they escape (grpc-js sends a space as %20, grpc-go as a space),
 * so two servers saying the same thing must compare equal. A value that does not
 * decode (a stray %, bytes that are not UTF-8) stays as sent, as the protocol says.
 */
export function grpcMessageText(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Trailers compared like headers: `trailer:<name>`, added/removed/changed, under the ignore lists. */
export function diffTrailers(live: Answer, dark: Answer, ignored: ReadonlySet<string>, out: Collector): void {
  const l = trailersOf(live);
  const d = trailersOf(dark);
  if (l === undefined && d === undefined) return;
  const empty: Headers = {};
  if (sameHeaders(l ?? empty, d ?? empty, ignored)) return;
  diffFields('trailer', normalise(l ?? empty, ignored, NO_TOKENS), normalise(d ?? empty, ignored, NO_TOKENS), out);
}

function diffFields(part: 'header' | 'trailer', l: Map<string, string>, d: Map<string, string>, out: Collector): void {
  const names = [...new Set([...l.keys(), ...d.keys()])].sort();
  for (const name of names) {
    const a = l.get(name);
    const b = d.get(name);
    if (a === b) continue;
    if (part === 'header' && name === 'content-type' && a !== undefined && b !== undefined && sameMediaType(a, b)) continue;
    const field = `${part}:${name}`;
    if (a === undefined) out.add(part, field, 'added', undefined, b ?? '');
    else if (b === undefined) out.add(part, field, 'removed', a, undefined);
    else out.add(part, field, 'changed', a, b);
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
