// Runs the real CLI (`node bin/umbra.js ...`, i.e. the compiled dist/) as a child
// process and reads its pino JSON lines from stdout. Every child started here is
// killed when the test process exits, whatever the test did.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'umbra.js');

export type LogLine = Record<string, unknown>;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface UmbraProcess {
  readonly child: ChildProcess;
  /** stdout lines that parsed as JSON (pino's log lines), in order. */
  readonly logs: LogLine[];
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** The exit, or null while it runs. */
  exit(): Exit | null;
  /** Resolves with the first log line whose `msg` is `msg`; rejects when the process exits first or after `ms`. */
  waitForLog(msg: string, ms?: number): Promise<LogLine>;
  /** SIGKILL if still running; waits for the exit. For teardown. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The environment a child gets: the test's, minus tap's loader and coverage hooks and any UMBRA_CONFIG. */
function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  delete env.UMBRA_CONFIG;
  delete env.UMBRA_ADMIN_TOKEN;
  return { ...env, ...extra };
}

export function spawnUmbra(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): UmbraProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: childEnv(opts.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  let partial = '';
  let exit: Exit | null = null;
  const logs: LogLine[] = [];
  const waiters: Array<{ msg: string; resolve: (l: LogLine) => void }> = [];

  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof parsed !== 'object' || parsed === null) continue;
      const log = parsed as LogLine;
      logs.push(log);
      for (const w of waiters.filter((w) => w.msg === log.msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(log);
      }
    }
  });
  child.stderr?.on('data', (chunk: string) => (err += chunk));

  const exited = (async (): Promise<Exit> => {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    running.delete(child);
    exit = { code, signal };
    return exit;
  })();

  return {
    child,
    logs,
    stdout: () => out,
    stderr: () => err,
    exited,
    exit: () => exit,
    waitForLog(msg, ms = 10_000) {
      const seen = logs.find((l) => l.msg === msg);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${ms} ms\nstdout:\n${out}\nstderr:\n${err}`)), ms);
        const w = {
          msg,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        waiters.push(w);
        void exited.then((e) => {
          if (!waiters.includes(w)) return;
          clearTimeout(timer);
          reject(new Error(`umbra exited (${e.code ?? e.signal}) before "${msg}"\nstdout:\n${out}\nstderr:\n${err}`));
        });
      });
    },
    async kill() {
      if (exit === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface RunResult extends Exit {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion (a command that is expected to exit by itself). */
export async function runUmbra(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<RunResult> {
  const p = spawnUmbra(args, opts.env !== undefined ? { env: opts.env } : {});
  // Generous: on a loaded 2-core machine a Node start alone has taken seconds; a hang still fails.
  const ms = opts.timeout ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const r = await Promise.race([p.exited, timedOut]);
  clearTimeout(timer);
  if (r === 'timeout') {
    await p.kill();
    throw new Error(`umbra ${args.join(' ')} did not exit within ${ms} ms\nstdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`);
  }
  return { ...r, stdout: p.stdout(), stderr: p.stderr() };
}

/** A started umbra: the process and the URLs from its "umbra started" line. */
export interface StartedUmbra extends UmbraProcess {
  readonly listen: string;
  readonly admin: string;
}

export async function startUmbraProcess(args: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<StartedUmbra> {
  const p = spawnUmbra(args, opts);
  try {
    const line = await p.waitForLog('umbra started');
    if (typeof line.listen !== 'string' || typeof line.admin !== 'string') {
      throw new Error(`"umbra started" line without listen/admin URLs: ${JSON.stringify(line)}`);
    }
    return Object.assign(p, { listen: line.listen, admin: line.admin });
  } catch (err) {
    await p.kill();
    throw err;
  }
}

function listFiles(dir: string, ext: string): { file: string; mtime: number }[] {
  const out: { file: string; mtime: number }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, ext));
    else if (entry.name.endsWith(ext) && !entry.name.endsWith('.d.ts')) out.push({ file: full, mtime: statSync(full).mtimeMs });
  }
  return out;
}

/**
 * The src/ files whose compiled dist/ file is missing or older: the CLI runs dist/,
 * so these tests would test old code. `npm test` builds first; alone, run
 * `npm run build && npx tap test/cli`.
 */
export function staleDist(): string[] {
  const src = path.join(ROOT, 'src');
  const stale: string[] = [];
  for (const { file, mtime } of listFiles(src, '.ts')) {
    const js = path.join(ROOT, 'dist', path.relative(src, file)).replace(/\.ts$/, '.js');
    if (!existsSync(js) || statSync(js).mtimeMs < mtime) stale.push(path.relative(ROOT, file));
  }
  return stale;
}
