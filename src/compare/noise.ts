// Noise: differences that two answers of the LIVE version also show.
//
// A live-vs-dark difference is noise when, at the same field and of the same
// class (value: changed/type; presence: added/removed; order), either
//   (a) this request's live-vs-secondary comparison shows it too, or
//   (b) the route learned it: it showed in at least `threshold` (3) of the
//       route's last `window` (20) baseline comparisons.
// The status is never learned (a flapping live status must not hide a broken
// dark one), nor gRPC's, trailer:grpc-status; they are noise only through (a).
// See docs/compare.md.

import type { Answer, CompareContext, Difference, Kind, Verdict } from './types.js';
import type { CompiledRules } from './rules.js';
import { compareBoth, verdictOf } from './compare.js';

/** The call's outcome: the status code, and gRPC's status (a trailer). */
function neverLearned(d: Difference): boolean {
  return d.part === 'status' || (d.part === 'trailer' && d.field === 'trailer:grpc-status');
}

export interface NoiseOptions {
  /** Baseline comparisons remembered per field (max 31). */
  readonly window?: number;
  /** Noisy observations within the window that make a field learned-noisy. */
  readonly threshold?: number;
  /** Most fields tracked per route. */
  readonly maxFields?: number;
}

type KindClass = 'value' | 'presence' | 'order';

function kindClass(k: Kind): KindClass {
  return k === 'added' || k === 'removed' ? 'presence' : k === 'order' ? 'order' : 'value';
}

function noiseKey(d: Difference): string {
  return `${kindClass(d.kind)} ${d.field}`;
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}

interface Track {
  /** Bit 0 = the latest baseline comparison; 1 = the field differed there. */
  bits: number;
  /** Sequence number of the last baseline where it differed (eviction order). */
  lastSeen: number;
}

/** Per-route memory of which fields differ between two live answers. Bounded. */
export class NoiseLearner {
  readonly window: number;
  readonly threshold: number;
  readonly maxFields: number;
  private readonly tracks = new Map<string, Track>();
  private readonly mask: number;
  private seq = 0;

  constructor(opts: NoiseOptions = {}) {
    this.window = Math.min(31, Math.max(1, opts.window ?? 20));
    this.threshold = Math.max(1, opts.threshold ?? 3);
    this.maxFields = Math.max(1, opts.maxFields ?? 200);
    this.mask = 2 ** this.window - 1;
  }

  /** Records one baseline (live vs secondary) comparison's differences. */
  observe(baselineDifferences: readonly Difference[]): void {
    this.seq++;
    for (const [key, t] of this.tracks) {
      t.bits = (t.bits << 1) & this.mask;
      // Out of the window entirely: forget it, to free room.
      if (t.bits === 0) this.tracks.delete(key);
    }
    for (const d of baselineDifferences) {
      if (neverLearned(d)) continue;
      const key = noiseKey(d);
      const t = this.tracks.get(key);
      if (t !== undefined) {
        t.bits |= 1;
        t.lastSeen = this.seq;
        continue;
      }
      if (this.tracks.size >= this.maxFields) this.evictOne();
      this.tracks.set(key, { bits: 1, lastSeen: this.seq });
    }
  }

  /** The least noisy field goes first; among equals, the one seen longest ago. */
  private evictOne(): void {
    let worst: string | null = null;
    let worstCount = Infinity;
    let worstSeen = Infinity;
    for (const [key, t] of this.tracks) {
      const c = popcount(t.bits);
      if (c < worstCount || (c === worstCount && t.lastSeen < worstSeen)) {
        worst = key;
        worstCount = c;
        worstSeen = t.lastSeen;
      }
    }
    if (worst !== null) this.tracks.delete(worst);
  }

  /** True when this difference's field (and kind class) is learned as noisy. */
  isNoisy(d: Difference): boolean {
    if (neverLearned(d)) return false;
    const t = this.tracks.get(noiseKey(d));
    return t !== undefined && popcount(t.bits) >= this.threshold;
  }

  get size(): number {
    return this.tracks.size;
  }

  /** Fields currently learned as noisy, e.g. for the admin API. */
  noisyFields(): string[] {
    const out: string[] = [];
    for (const [key, t] of this.tracks) if (popcount(t.bits) >= this.threshold) out.push(key.slice(key.indexOf(' ') + 1));
    return [...new Set(out)].sort();
  }
}

/**
 * Splits a live-vs-dark verdict into real differences and noise, given this
 * request's live-vs-secondary verdict (or null). Learns from the baseline first.
 */
export function applyNoise(primary: Verdict, baseline: Verdict | null, learner: NoiseLearner): Verdict {
  if (primary.result === 'skipped') return primary;
  const hasBaseline = baseline !== null && baseline.result !== 'skipped';
  if (hasBaseline) learner.observe(baseline.differences);
  // Nothing differs: nothing to sort into noise (the usual case, at no cost).
  if (primary.differences.length === 0) return primary;
  const local = new Set<string>();
  if (hasBaseline) for (const d of baseline.differences) local.add(noiseKey(d));
  const real: Difference[] = [];
  const noise: Difference[] = [];
  for (const d of primary.differences) {
    if (local.has(noiseKey(d)) || learner.isNoisy(d)) noise.push(d);
    else real.push(d);
  }
  return verdictOf(real, noise);
}

/** compareAnswers plus noise: see the rule at the top of this file. */
export function compareWithBaseline(
  live: Answer,
  dark: Answer,
  secondary: Answer | null,
  rules: CompiledRules,
  learner: NoiseLearner,
  ctx: CompareContext,
): Verdict {
  const r = compareBoth(live, dark, secondary, rules, ctx);
  return applyNoise(r.primary, r.baseline, learner);
}
