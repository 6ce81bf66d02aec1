// The sizing tables of docs/release.md: how many comparisons a route's verdict needs
// before it can pass, and how long that takes at a given mirrored traffic. The
// numbers come from the verdict's own code (src/observe/verdict.ts), never typed by
// hand; test/docs/release-sizing.test.ts fails when the doc's block differs from
// what this prints. After changing the verdict, regenerate and paste the output
// between <!-- sizing:begin --> and <!-- sizing:end -->:
//
//   node --import @tapjs/typescript/import scripts/release-sizing.ts   # tap's TypeScript loader
//   npx tsx scripts/release-sizing.ts                                  # tsx is not a dependency: npx fetches it
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { comparisonsToPass, wilson } from '../src/observe/verdict.js';

/** Mismatch rates to rule out (gate.maxMismatchRate); 0.001 is the default. */
export const RATES: readonly number[] = [0.01, 0.005, 0.001, 0.0001];
export const DEFAULT_MAX_MISMATCH_RATE = 0.001;
/** Mirrored requests per minute reaching one umbra instance (after sampling). */
export const TRAFFIC: readonly number[] = [10, 100, 1000, 10_000];
/** Mismatches seen in the window, for the second table. */
export const MISMATCHES: readonly number[] = [0, 1, 2, 3, 5];
/** The longest gate.window the config accepts (src/config/validate.ts: 6 h of minute counts). */
export const LONGEST_WINDOW_MINUTES = 6 * 60;
export const TOO_LONG = 'over 6 h: lower the bar or widen sampling';

/** The least number of comparisons with `k` mismatches whose Wilson upper bound is at most `rate`. */
export function comparisonsToPassWith(k: number, rate: number): number {
  if (k === 0) return comparisonsToPass(rate);
  // The bound falls as n grows, and k mismatches need at least as many as none.
  let lo = comparisonsToPass(rate);
  let hi = lo;
  while (wilson(k, hi).upper > rate) hi *= 2;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (wilson(k, mid).upper > rate) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Minutes until `n` comparisons are in, at `perMinute`; at least one (the verdict counts whole minutes). */
export function minutesToVerdict(n: number, perMinute: number): number {
  return Math.max(Math.ceil(n / perMinute), 1);
}

export function formatMinutes(minutes: number): string {
  if (minutes > LONGEST_WINDOW_MINUTES) return TOO_LONG;
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

/** 10000 → "10 000", as the docs write numbers. */
export function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

export function formatRate(rate: number): string {
  return `${Number((rate * 100).toPrecision(3))}%`;
}

/** The Markdown that goes between the sizing markers of docs/release.md. */
export function sizingTable(): string {
  const lines: string[] = [];
  lines.push(
    `| maxMismatchRate (the rate to rule out) | comparisons needed, no mismatch | ${TRAFFIC.map((r) => `${formatCount(r)} / min`).join(' | ')} |`,
    `|---|---|${TRAFFIC.map(() => '---').join('|')}|`,
  );
  for (const rate of RATES) {
    const n = comparisonsToPass(rate);
    const label = rate === DEFAULT_MAX_MISMATCH_RATE ? `${formatRate(rate)} (default)` : formatRate(rate);
    lines.push(`| ${label} | ${formatCount(n)} | ${TRAFFIC.map((r) => formatMinutes(minutesToVerdict(n, r))).join(' | ')} |`);
  }
  lines.push(
    '',
    `Each mismatch seen raises the count a pass needs (maxMismatchRate ${formatRate(DEFAULT_MAX_MISMATCH_RATE)}):`,
    '',
    `| mismatches in the window | ${MISMATCHES.map(String).join(' | ')} |`,
    `|---|${MISMATCHES.map(() => '---').join('|')}|`,
    `| comparisons needed | ${MISMATCHES.map((k) => formatCount(comparisonsToPassWith(k, DEFAULT_MAX_MISMATCH_RATE))).join(' | ')} |`,
  );
  return `${lines.join('\n')}\n`;
}

const invoked = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invoked === realpathSync(fileURLToPath(import.meta.url))) process.stdout.write(sizingTable());
