// Hot reload: re-read the config file when it changes (including Kubernetes'
// ConfigMap symlink swap, which renames a directory link beside the file) or
// on SIGHUP. A valid config is swapped in whole; an invalid one is rejected,
// logged and counted, and the one in force stays.
import { createHash } from 'node:crypto';
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from './types.js';
import { parseConfigText } from './load.js';
import { ConfigError } from '../errors.js';
import type { Logger } from 'pino';

/** The one metric the reloader counts (observe/metrics.ts's Metrics has it; config/ does not import observe/). */
export interface ReloadMetrics {
  readonly configReloads: { inc(labels: { result: 'success' | 'failure' }): void };
}

export interface ReloadTarget {
  reload(config: Config): Promise<void>;
}

export interface ReloaderOptions {
  readonly file: string;
  readonly env: NodeJS.ProcessEnv;
  readonly target: ReloadTarget;
  readonly log: Logger;
  readonly metrics: ReloadMetrics;
  /** Quiet time after a file event before reading (editors and kubelet write in steps). */
  readonly debounceMs?: number;
  /** Watch the file's directory; SIGHUP-only when false. */
  readonly watch?: boolean;
}

export interface Reloader {
  /** Re-read the file now. Resolves true when a new config took effect, false when rejected or unchanged. */
  reload(reason: string): Promise<boolean>;
  close(): void;
}

const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The keys a reload cannot apply, when it changes them: the listeners are
 * bound at start, and pino compiles its redaction paths once (redact.headers
 * applies at once to divergence samples and replay lines, to log lines only
 * after a restart). Every other key applies on reload (docs/deploy.md).
 */
export function restartOnlyChanges(a: Config, b: Config): string[] {
  const out: string[] = [];
  if (a.listen.host !== b.listen.host || a.listen.port !== b.listen.port) out.push('listen');
  if (a.admin.listen.host !== b.admin.listen.host || a.admin.listen.port !== b.admin.listen.port) out.push('admin.listen');
  if (a.redact.headers.join(',') !== b.redact.headers.join(',')) out.push('redact.headers (log lines)');
  // A new certificate and key apply to new connections; turning TLS on or off needs a new listener.
  if ((a.tls === null) !== (b.tls === null)) out.push('tls (on or off)');
  return out;
}

export function startReloader(opts: ReloaderOptions): Reloader {
  const { file, env, target, log, metrics } = opts;
  let last: string | null = null;
  try {
    last = digest(readFileSync(file, 'utf8'));
  } catch {
    /* read again on the first event */
  }
  let running: Promise<boolean> = Promise.resolve(false);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | null = null;

  const once = async (reason: string): Promise<boolean> => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      metrics.configReloads.inc({ result: 'failure' });
      log.error({ reason, file, err: (err as Error).message }, 'config reload failed: cannot read the file; the previous config stays in force');
      return false;
    }
    const d = digest(text);
    if (d === last && reason !== 'SIGHUP') return false;
    let config: Config;
    try {
      config = parseConfigText(text, file, env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      last = d;
      metrics.configReloads.inc({ result: 'failure' });
      log.error({ reason, file, problems: err.message.split('\n') }, 'config reload rejected; the previous config stays in force');
      return false;
    }
    last = d;
    await target.reload(config);
    log.info({ reason, file }, 'config reload applied');
    return true;
  };

  // Reloads run one after another, never interleaved.
  const reload = (reason: string): Promise<boolean> => {
    running = running.then(
      () => once(reason),
      () => once(reason),
    );
    return running;
  };

  if (opts.watch !== false) {
    try {
      // The directory, not the file: an atomic rename or a symlink swap replaces
      // the file's inode, and a watch on the old inode would go quiet.
      watcher = watch(dirname(file), { persistent: false }, () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          reload('file changed').catch((err: unknown) => log.error({ err }, 'config reload crashed'));
        }, opts.debounceMs ?? 200);
      });
      watcher.on('error', (err) => log.warn({ err: err.message }, 'config watch stopped; SIGHUP still reloads'));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot watch the config file; SIGHUP still reloads');
    }
  }

  return {
    reload,
    close: () => {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
