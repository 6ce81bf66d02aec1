// The verdict in words for a person or a CI log: a headline, then one line per
// route with its numbers, then that route's reasons as the server wrote them.
import type { RouteAnswer, VerdictAnswer } from './answer.js';

/** Text from the server goes to a terminal: control characters (escape sequences) become spaces. */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, ' ');
}

export function percent(rate: number): string {
  const v = rate * 100;
  if (v === 0) return '0%';
  return `${Number(v < 0.1 ? v.toPrecision(2) : v.toFixed(2))}%`;
}

const NA = 'n/a';

function bounds(parts: readonly (string | null)[]): string {
  const kept = parts.filter((p): p is string => p !== null);
  return kept.length === 0 ? '' : ` (${kept.join('; ')})`;
}

export function routeLine(r: RouteAnswer): string {
  const comparisons = `${r.comparisons ?? NA} comparisons${r.minComparisons === null ? '' : ` (${r.minComparisons} needed)`}`;
  const mismatch =
    r.mismatchRate === null
      ? `mismatch rate ${NA}`
      : `mismatch rate ${percent(r.mismatchRate)}${bounds([
          r.mismatches !== null && r.comparisons !== null ? `${r.mismatches} of ${r.comparisons}` : null,
          r.mismatchRateUpper === null ? null : `95% upper bound ${percent(r.mismatchRateUpper)}`,
          r.maxMismatchRate === null ? null : `max ${percent(r.maxMismatchRate)}`,
        ])}`;
  const errors =
    r.errorRate === null
      ? `error rate ${NA}`
      : `error rate ${percent(r.errorRate)}${bounds([
          r.errors !== null && r.mirrored !== null ? `${r.errors} of ${r.mirrored} mirrored` : null,
          r.maxErrorRate === null ? null : `max ${percent(r.maxErrorRate)}`,
        ])}`;
  const latency = `latency p99 ratio ${r.latencyRatio === null ? NA : r.latencyRatio.toFixed(2)}${bounds([r.maxLatencyRatio === null ? null : `max ${r.maxLatencyRatio}`])}`;
  return printable(`${r.route}: ${r.verdict}, ${comparisons}, ${mismatch}, ${errors}, ${latency}`);
}

export function summary(a: VerdictAnswer): string {
  const what = a.all ? `all ${a.routes.length} route${a.routes.length === 1 ? '' : 's'}` : `route ${a.routes[0]?.route ?? ''}`;
  const window = a.window === null ? '' : `, window ${a.window}${a.since === null ? '' : ` since ${a.since}`}`;
  const lines = [printable(`verdict: ${a.verdict} (${what}${window})`)];
  for (const r of a.routes) {
    lines.push(routeLine(r));
    for (const reason of r.reasons) lines.push(`  - ${printable(reason)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** One line for stderr while waiting: what the verdict waits on. */
export function waitingLine(a: VerdictAnswer, left: number): string {
  const open = a.routes.filter((r) => r.verdict !== 'pass');
  // The count, and the server's first reason: why it is not a pass yet (too few, or a bound still open).
  const shown = open.slice(0, 3).map((r) => {
    const count = `${r.route} ${r.comparisons ?? NA}${r.minComparisons === null ? '' : `/${r.minComparisons}`} comparisons`;
    return r.reasons[0] === undefined ? count : `${count}: ${r.reasons[0]}`;
  });
  if (open.length > shown.length) shown.push(`${open.length - shown.length} more`);
  const detail = shown.length === 0 ? '' : ` (${shown.join(', ')})`;
  return `${printable(`umbra gate: ${a.verdict}${detail}; waiting up to ${formatLeft(left)} more`)}\n`;
}

/** 1h 5m, 4m 30s, 12s, 0.4s */
export function formatLeft(ms: number): string {
  if (ms < 10_000) return `${Number((Math.max(0, ms) / 1000).toFixed(1))}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return m === 0 ? `${h}h` : `${h}h ${m}m`;
  if (m > 0) return rest === 0 ? `${m}m` : `${m}m ${rest}s`;
  return `${rest}s`;
}
