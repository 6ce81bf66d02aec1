// What the demos share (`umbra demo`, `umbra demo --grpc`): umbra started in
// process from a demo config, a paced burst of calls with a progress line, and
// umbra's admin API read back as a summary, as any user would read it.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startUmbra, type Umbra } from '../app.js';
import { parseConfigText } from '../config/load.js';
import { DemoError } from '../errors.js';

/** Where a demo writes: a terminal gets a redrawn progress line, anything else a line per quarter. */
export type Out = NodeJS.WritableStream & { readonly isTTY?: boolean };

export interface DemoOptions {
  /** Keep serving after the burst until SIGINT/SIGTERM (or `stop`). */
  readonly keep: boolean;
  /** With `keep`: stop serving when this is aborted, as on SIGTERM (for a caller that embeds the demo). */
  readonly stop?: AbortSignal;
  /** Calls in the burst; default UMBRA_DEMO_REQUESTS, else the demo's own (400 requests; 200 gRPC unary calls). */
  readonly requests?: number;
  /** Calls in flight at once; default 8. */
  readonly concurrency?: number;
  /** Where the demo writes; default process.stdout. */
  readonly out?: Out;
  /** Where a failure is explained; default process.stderr. */
  readonly err?: NodeJS.WritableStream;
  /** Read for UMBRA_DEMO_REQUESTS; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** One row of GET /api/routes (DESIGN §7), as far as the demos read it. */
export interface RouteSummary {
  readonly name: string;
  readonly sample: number;
  readonly mirrored: number;
  readonly compared: number;
  readonly matches: number;
  readonly mismatches: number;
  readonly noise: number;
  readonly topFields: ReadonlyArray<{ readonly field: string; readonly count: number }>;
  /** Mirrored exchanges not compared, and why (e.g. `streaming`). */
  readonly skipped?: number;
  readonly skippedBy?: Readonly<Record<string, number>>;
  /** Requests not mirrored, by decision (e.g. `streaming`). */
  readonly dropped?: Readonly<Record<string, number>>;
  /** Shadow requests that failed (timeout, connect, ...), by reason. */
  readonly errors?: number;
  readonly errorsBy?: Readonly<Record<string, number>>;
}

/** A demo config (`config/...`, relative to the package), from src/demo/ and from dist/demo/ alike. */
function demoConfigPath(name: string): string {
  const path = fileURLToPath(new URL(`../../${name}`, import.meta.url));
  if (!existsSync(path)) throw new DemoError(`cannot find the demo config at ${path}`);
  return path;
}

/**
 * umbra from the demo config `name` (e.g. `config/demo.yaml`), with the
 * backends' URLs passed in as DEMO_LIVE_URL, DEMO_DARK_URL, DEMO_SECONDARY_URL.
 * With `keep`, on 127.0.0.1:8080 and :9901 when they are free.
 */
export async function startDemoUmbra(name: string, backends: Record<'live' | 'dark' | 'secondary', { readonly url: string }>, keep: boolean): Promise<Umbra> {
  const path = demoConfigPath(name);
  const text = readFileSync(path, 'utf8');
  // The config's own path as its source: paths in it (compare.protos) are relative to it, whatever the cwd.
  const configFor = (listen: string, admin: string): ReturnType<typeof parseConfigText> =>
    parseConfigText(text, path, {
      DEMO_LISTEN: listen,
      DEMO_ADMIN: admin,
      DEMO_LIVE_URL: backends.live.url,
      DEMO_DARK_URL: backends.dark.url,
      DEMO_SECONDARY_URL: backends.secondary.url,
    });
  if (keep) {
    // Memorable ports for a demo that stays up, when they are free.
    try {
      return await startUmbra(configFor('127.0.0.1:8080', '127.0.0.1:9901'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
    }
  }
  return startUmbra(configFor('127.0.0.1:0', '127.0.0.1:0'));
}

/** The burst's size: `requests`, else UMBRA_DEMO_REQUESTS, else `fallback`. */
export function burstSize(opts: { readonly requests?: number; readonly env?: NodeJS.ProcessEnv }, fallback: number): number {
  if (opts.requests !== undefined) return opts.requests;
  const raw = (opts.env ?? process.env).UMBRA_DEMO_REQUESTS;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new DemoError(`UMBRA_DEMO_REQUESTS must be a positive integer, not "${raw}"`);
  return n;
}

/** A seeded generator, so every run sends the same mix. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface BurstResult {
  readonly sent: number;
  readonly failed: number;
  readonly ms: number;
}

/**
 * Sends `plan` through `send`, `concurrency` at a time, paced over ~15 ms a
 * call (at most 8 s: long enough to watch, short enough to wait for), with a
 * progress line. `send` resolves true for an answer the demo expected, false
 * (or rejects) for a failure.
 */
export async function runBurst<T>(plan: readonly T[], concurrency: number, out: Out, noun: string, send: (item: T, i: number) => Promise<boolean>): Promise<BurstResult> {
  const total = plan.length;
  const durationMs = Math.min(8000, total * 15);
  const interval = durationMs / total;
  const tty = out.isTTY === true;
  const started = Date.now();
  let next = 0;
  let done = 0;
  let failed = 0;
  let lastQuarter = 0;

  const progress = (final: boolean): void => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const line = `  traffic [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${noun}, ${failed} failed`;
    if (tty) out.write(`\r${line}${final ? '\n' : ''}`);
    else {
      const quarter = Math.floor((done / total) * 4);
      if (final || quarter > lastQuarter) out.write(`${line}\n`);
      lastQuarter = quarter;
    }
  };
  const ticker = tty ? setInterval(() => progress(false), 100) : null;

  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const wait = started + i * interval - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        if (!(await send(plan[i] as T, i))) failed++;
      } catch {
        failed++;
      }
      done++;
      if (!tty) progress(false);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  } finally {
    if (ticker !== null) clearInterval(ticker);
  }
  // The non-TTY line for 100% was written by the last call.
  if (tty) progress(true);
  return { sent: done, failed, ms: Date.now() - started };
}

export async function getJson(url: string): Promise<unknown> {
  const res = await request(url);
  const text = await res.body.text();
  if (res.statusCode !== 200) {
    throw new DemoError(`${url} answered ${res.statusCode}: ${text.slice(0, 200)}`);
  }
  return JSON.parse(text) as unknown;
}

export async function fetchRoutes(adminUrl: string): Promise<RouteSummary[]> {
  const body = (await getJson(`${adminUrl}/api/routes`)) as { routes?: unknown };
  if (!Array.isArray(body.routes)) throw new DemoError(`${adminUrl}/api/routes has no "routes" list`);
  return body.routes as RouteSummary[];
}

/** Polls /api/routes until every mirror is compared or skipped, or the numbers stop moving. */
export async function settle(adminUrl: string, maxMs = 10_000): Promise<RouteSummary[]> {
  const deadline = Date.now() + maxMs;
  let last = '';
  let steady = 0;
  for (;;) {
    const routes = await fetchRoutes(adminUrl);
    const mirrored = routes.reduce((n, r) => n + r.mirrored, 0);
    // A skipped exchange (a failed dark, a streaming answer) is done too; so is an older umbra's
    // mirror that is never counted at all: hence the steady-state exit.
    const done = routes.reduce((n, r) => n + r.compared + (r.skipped ?? 0), 0);
    const key = JSON.stringify(routes.map((r) => [r.mirrored, r.compared, r.skipped]));
    steady = key === last ? steady + 1 : 0;
    last = key;
    if ((mirrored > 0 && done >= mirrored) || steady >= 3 || Date.now() > deadline) return routes;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function pct(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part / whole) * 100).toFixed(1)}%`;
}

/** The summary table, one row per route that mirrored anything or is in `shown`, as plain text. */
export function formatSummary(routes: readonly RouteSummary[], shown: readonly string[]): string {
  const header = ['route', 'mirrored', 'compared', 'mismatch rate', 'noise', 'top fields'];
  const rows = routes
    .filter((r) => r.mirrored > 0 || shown.includes(r.name))
    .map((r) => [
      r.name,
      String(r.mirrored),
      String(r.compared),
      pct(r.mismatches, r.compared),
      String(r.noise),
      r.topFields.length === 0 ? '-' : r.topFields.slice(0, 3).map((f) => `${f.field} (${f.count})`).join(', '),
    ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const numeric = [false, true, true, true, true, false];
  const line = (cells: readonly string[]): string =>
    `  ${cells.map((c, i) => (numeric[i] === true ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function show(v: unknown): string {
  return v === undefined ? '(absent)' : JSON.stringify(v);
}

/** Resolves on SIGINT or SIGTERM (its name), or when `stop` is aborted ('aborted'). */
export function waitForSignal(stop?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      stop?.removeEventListener('abort', onAbort);
      resolve(signal);
    };
    const onAbort = (): void => on('aborted');
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    if (stop?.aborted === true) onAbort();
    else stop?.addEventListener('abort', onAbort);
  });
}
