// What a replay reports: the admin API's shapes (DESIGN §7) for routes and
// divergences, a summary of the run, the table a person reads, and the verdict.
import { closeSync, writeSync } from 'node:fs';
import { writeJson } from '../compare/index.js';
import type { NoiseLearner } from '../compare/index.js';
import type { DivergenceSample, RouteStats, RouteView } from '../observe/divergences.js';

/** One route as /api/routes shows it; `mirrored` counts the requests sent to the target. */
export interface ReplayRouteView extends RouteView {
  /** Fields learned as noise against --secondary. */
  noisy: string[];
}

export interface ReplaySummary {
  target: string;
  secondary: string | null;
  ordered: boolean;
  concurrency: number;
  /** Requests per second; 0 = no cap. */
  rate: number;
  /** Capture files read. */
  files: number;
  /** Valid capture records read. */
  exchanges: number;
  /** Lines skipped as not capture records (and files cut short). */
  corrupt: number;
  /** The first corrupt lines, as `FILE:LINE: reason`. */
  problems: string[];
  sent: number;
  compared: number;
  matches: number;
  mismatches: number;
  noise: number;
  /** Not compared: target errors, bodies over the cap, bodies that do not decode. */
  skipped: number;
  /** Target requests that failed (timeout, connect, reset, protocol, too_large). */
  errors: number;
  /** Secondary requests that failed: those exchanges were compared without a baseline. */
  secondaryErrors: number;
  /** mismatches / compared; null when nothing was compared. */
  mismatchRate: number | null;
  maxMismatchRate: number;
  /** The whole input replayed, at least one exchange compared, and mismatchRate <= maxMismatchRate. */
  passed: boolean;
  /** Stopped early (SIGINT): what had been sent is reported. */
  interrupted: boolean;
  /** Wall time of the run. */
  ms: number;
}

export interface ReplayReport {
  summary: ReplaySummary;
  routes: ReplayRouteView[];
  divergences: DivergenceSample[];
}

export function routeView(name: string, stats: RouteStats, learner: NoiseLearner): ReplayRouteView {
  return stats.view(name, 1, learner.noisyFields());
}

/** The verdict: passed when something was compared and no more than the allowed share mismatched. */
export function verdict(compared: number, mismatches: number, maxMismatchRate: number): { rate: number | null; passed: boolean } {
  if (compared === 0) return { rate: null, passed: false };
  const rate = mismatches / compared;
  return { rate, passed: rate <= maxMismatchRate };
}

const COLUMNS = ['route', 'sent', 'compared', 'match', 'mismatch', 'noise', 'errors', 'top fields'] as const;
/** Top fields shown per route in the table (the report has ten). */
const TABLE_FIELDS = 3;

function percent(rate: number): string {
  const p = rate * 100;
  return `${Number.isInteger(p) ? p : p.toFixed(p < 1 ? 2 : 1)}%`;
}

/** The per-route table, a total line, and the verdict, as printed on stdout. */
export function formatTable(report: ReplayReport): string {
  const rows: string[][] = report.routes.map((r) => [
    r.name,
    String(r.mirrored),
    String(r.compared),
    String(r.matches),
    String(r.mismatches),
    String(r.noise),
    String(r.errors),
    r.topFields
      .slice(0, TABLE_FIELDS)
      .map((f) => `${f.field} (${f.count})`)
      .join(', '),
  ]);
  const s = report.summary;
  if (rows.length > 1) rows.push(['total', String(s.sent), String(s.compared), String(s.matches), String(s.mismatches), String(s.noise), String(s.errors), '']);
  const all = [[...COLUMNS], ...rows];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((row) => (row[i] as string).length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => (i === 0 || i === row.length - 1 ? cell.padEnd(i === row.length - 1 ? 0 : (widths[i] as number)) : cell.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const out = all.map(line);
  if (report.routes.length === 0) out.push('(no exchange was replayed)');
  out.push('');
  out.push(verdictLine(s));
  return `${out.join('\n')}\n`;
}

export function verdictLine(s: ReplaySummary): string {
  const max = percent(s.maxMismatchRate);
  const extra = [
    ...(s.errors > 0 ? [`${s.errors} target error${s.errors === 1 ? '' : 's'}`] : []),
    ...(s.skipped - s.errors > 0 ? [`${s.skipped - s.errors} not compared`] : []),
    ...(s.corrupt > 0 ? [`${s.corrupt} corrupt line${s.corrupt === 1 ? '' : 's'} skipped`] : []),
    ...(s.interrupted ? ['interrupted'] : []),
  ];
  const tail = extra.length > 0 ? ` (${extra.join(', ')})` : '';
  if (s.mismatchRate === null) return `FAIL: nothing was compared, so there is no mismatch rate${tail}`;
  const rate = `mismatch rate ${percent(s.mismatchRate)} (${s.mismatches} of ${s.compared} compared)`;
  if (s.interrupted) return `FAIL: stopped before the end of the input; so far ${rate}, allowed ${max}${tail}`;
  return s.passed ? `PASS: ${rate} <= ${max}${tail}` : `FAIL: ${rate} > ${max}${tail}`;
}

/** The report as JSON text, exact numbers in divergence values written digit for digit. */
export function reportJson(report: ReplayReport): string {
  return `${writeJson(report)}\n`;
}

/** Writes the report to a file descriptor opened (and so checked) before the run. */
export function writeReport(fd: number, report: ReplayReport): void {
  try {
    const text = Buffer.from(reportJson(report));
    for (let off = 0; off < text.length; ) off += writeSync(fd, text, off);
  } finally {
    closeSync(fd);
  }
}
