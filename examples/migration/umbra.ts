// umbra as the walkthrough uses it: the real command line (bin/umbra.js, the
// compiled dist/), started and read the way an operator would: its "umbra started"
// log line for the URLs, its admin API for what it found, `umbra replay` for a
// capture.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The umbra checkout: the first directory up from here with bin/umbra.js (from examples/ and from dist/examples/ alike). */
export function umbraRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'bin', 'umbra.js')) && existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the umbra checkout (bin/umbra.js) above this file');
    dir = up;
  }
}

export const ROOT = umbraRoot();
export const BIN = path.join(ROOT, 'bin', 'umbra.js');
export const EXAMPLE_DIR = path.join(ROOT, 'examples', 'migration');

/** bin/umbra.js runs dist/: without a build there is nothing to run. */
export function checkBuilt(): void {
  if (!existsSync(path.join(ROOT, 'dist', 'cli.js'))) throw new Error(`umbra is not built (${path.join(ROOT, 'dist', 'cli.js')} is missing): run npm run build`);
}

function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // A test runner's loader hooks are not for the child; a stray UMBRA_CONFIG would win over --config.
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  delete env.UMBRA_CONFIG;
  return env;
}

export interface UmbraServer {
  readonly proxyUrl: string;
  readonly adminUrl: string;
  /** Every stdout line (pino JSON), for the log file. */
  readonly lines: string[];
  /** SIGTERM, then SIGKILL after 10 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** `umbra --config FILE` with `env`; resolves once it has logged "umbra started". */
export async function startUmbraServer(config: string, env: NodeJS.ProcessEnv): Promise<UmbraServer> {
  const child = spawn(process.execPath, [BIN, '--config', config], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const started = new Promise<{ listen: string; admin: string }>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        try {
          const log = JSON.parse(line) as { msg?: string; listen?: string; admin?: string };
          if (log.msg === 'umbra started' && typeof log.listen === 'string' && typeof log.admin === 'string') resolve({ listen: log.listen, admin: log.admin });
        } catch {
          // not a log line
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`umbra --config ${path.relative(ROOT, config)} exited (${code}) before it started:\n${stderr}${lines.join('\n')}`)));
    child.once('error', reject);
  });
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = await exited;
    clearTimeout(timer);
    return code;
  };
  try {
    const { listen, admin } = await started;
    return { proxyUrl: listen, adminUrl: admin, lines, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `umbra ARGS...` to its end (replay, check). */
export async function runUmbraCommand(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CommandResult> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** One row of GET /api/routes (DESIGN §7); `errors` and `dropped` when the build has them. */
export interface RouteSummary {
  readonly name: string;
  readonly mirrored: number;
  readonly compared: number;
  readonly matches: number;
  readonly mismatches: number;
  readonly noise: number;
  readonly errors?: number;
  readonly dropped?: Readonly<Record<string, number>>;
  readonly topFields: ReadonlyArray<{ readonly field: string; readonly count: number }>;
}

export interface Difference {
  readonly part: string;
  readonly field: string;
  readonly kind: string;
  readonly live?: unknown;
  readonly dark?: unknown;
}

/** One entry of GET /api/divergences, and of a replay report's divergences. */
export interface Divergence {
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly differences: readonly Difference[];
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  const text = await res.text();
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as unknown;
}

export async function fetchRoutes(adminUrl: string): Promise<RouteSummary[]> {
  const body = (await getJson(`${adminUrl}/api/routes`)) as { routes?: RouteSummary[] };
  if (!Array.isArray(body.routes)) throw new Error(`${adminUrl}/api/routes has no routes list`);
  return body.routes;
}

export async function fetchDivergences(adminUrl: string, route: string, limit = 50): Promise<Divergence[]> {
  const body = (await getJson(`${adminUrl}/api/divergences?route=${encodeURIComponent(route)}&limit=${limit}`)) as { divergences?: Divergence[] };
  return body.divergences ?? [];
}

/** Waits until every mirrored request is compared (or failed), or the numbers stop moving. */
export async function settle(adminUrl: string, maxMs = 15_000): Promise<RouteSummary[]> {
  const deadline = Date.now() + maxMs;
  let last = '';
  let steady = 0;
  for (;;) {
    const routes = await fetchRoutes(adminUrl);
    const mirrored = routes.reduce((n, r) => n + r.mirrored, 0);
    const done = routes.reduce((n, r) => n + r.compared + (r.errors ?? 0), 0);
    const key = JSON.stringify(routes.map((r) => [r.mirrored, r.compared, r.errors ?? 0]));
    steady = key === last ? steady + 1 : 0;
    last = key;
    if ((mirrored > 0 && done >= mirrored) || steady >= 5 || Date.now() > deadline) return routes;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The value of a counter in Prometheus text (summed over its series matching `labels`), 0 when absent. */
export async function metric(adminUrl: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  const res = await fetch(`${adminUrl}/metrics`);
  const text = await res.text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map([...(m[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((p) => [p[1], p[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[4]);
  }
  return total;
}
