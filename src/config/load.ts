// Entry points: a config from a file, from text (tests, hot reload) or from
// command-line flags. All three validate the same way and either return a
// deep-frozen Config or throw one ConfigError that lists every problem.

import { readFileSync } from 'node:fs';
import { Document, LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ConfigProblem } from '../errors.js';
import { containerMemoryLimit } from './container.js';
import { substituteEnv } from './env.js';
import type { Env } from './env.js';
import { Reader, pathAt } from './read.js';
import type { Config } from './types.js';
import { deepFreeze, readConfig } from './validate.js';

export { ConfigError } from '../errors.js';
export { DEFAULTS, DEFAULT_ROUTE } from './validate.js';

export interface LoadOptions {
  /** The container's memory limit in bytes, or null for none (the mirror.maxBufferedBytes
   *  default derives from it). Absent: read from this process's cgroup. */
  readonly containerLimit?: number | null;
}

function byLine(a: ConfigProblem, b: ConfigProblem): number {
  return (a.line ?? Infinity) - (b.line ?? Infinity);
}

function containerLimitOf(opts: LoadOptions): number | null {
  return opts.containerLimit === undefined ? containerMemoryLimit() : opts.containerLimit;
}

/** Validates config text. `source` names it in messages (usually the path). */
export function parseConfigText(text: string, source: string, env: Env = process.env, opts: LoadOptions = {}): Config {
  const substituted = substituteEnv(text, env);
  const lines = new LineCounter();
  const doc = parseDocument(substituted.text, { lineCounter: lines, prettyErrors: false });

  const problems: ConfigProblem[] = substituted.problems.map((p) => ({
    path: pathAt(doc, p.offset),
    line: p.line,
    message: p.message,
  }));
  for (const e of [...doc.errors, ...doc.warnings]) {
    const line = lines.linePos(e.pos[0]).line;
    // Only a duplicate key sits in a well-formed tree that can name its path.
    if (e.code === 'DUPLICATE_KEY') problems.push({ path: pathAt(doc, e.pos[0]), line, message: 'duplicate key' });
    else problems.push({ path: '', line, message: `invalid YAML: ${e.message}` });
  }

  let config: Config | undefined;
  if (doc.errors.length === 0) {
    const r = new Reader(doc, lines);
    config = readConfig(r, r.value('', doc.contents, null), source, containerLimitOf(opts));
    // A missing variable already explains whatever is wrong on its line or key.
    const envLines = new Set(problems.slice(0, substituted.problems.length).map((p) => p.line));
    const envPaths = new Set(problems.slice(0, substituted.problems.length).map((p) => p.path).filter((p) => p !== ''));
    problems.push(...r.problems.filter((p) => !(p.line !== null && envLines.has(p.line)) && !envPaths.has(p.path)));
  }
  if (problems.length > 0 || config === undefined) {
    throw new ConfigError(source, problems.sort(byLine));
  }
  return deepFreeze(config);
}

/** Reads, substitutes `${VAR}` from `env` and validates a YAML config file. */
export function loadConfigFile(path: string, env: Env = process.env, opts: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err && err.code === 'ENOENT' ? 'no such file' : String(err instanceof Error ? err.message : err);
    throw new ConfigError(path, [{ path: '', line: null, message: `cannot read the config file: ${reason}` }], { cause: err });
  }
  return parseConfigText(text, path, env, opts);
}

export interface ConfigFlags {
  /** --live URL */
  readonly live: string;
  /** --dark URL; absent = plain proxy, nothing mirrored */
  readonly dark?: string | undefined;
  /** --sample 0..1 (a string straight from argv is fine) */
  readonly sample?: number | string | undefined;
  /** --listen host:port, :port or port */
  readonly listen?: string | undefined;
  /** --admin host:port, :port or port */
  readonly admin?: string | undefined;
  /** Admin token (the CLI may take it from UMBRA_ADMIN_TOKEN); required when
   *  --admin is beyond loopback. */
  readonly adminToken?: string | undefined;
}

/** Problems are named after the flag that caused them, not the config key. */
const FLAG_PATHS: Readonly<Record<string, string>> = {
  'listen': '--listen',
  'admin.listen': '--admin',
  'admin.token': '--admin',
  'live.url': '--live',
  'dark.url': '--dark',
  'mirror.sample': '--sample',
};

/** A config-less start (`umbra --live URL --dark URL ...`), validated like a file. */
export function configFromFlags(flags: ConfigFlags, opts: LoadOptions = {}): Config {
  const sample = typeof flags.sample === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(flags.sample) ? Number(flags.sample) : flags.sample;
  const tree: Record<string, unknown> = { live: { url: flags.live } };
  if (flags.listen !== undefined) tree['listen'] = flags.listen;
  if (flags.admin !== undefined || flags.adminToken !== undefined) {
    tree['admin'] = { ...(flags.admin !== undefined && { listen: flags.admin }), ...(flags.adminToken !== undefined && { token: flags.adminToken }) };
  }
  if (flags.dark !== undefined) tree['dark'] = { url: flags.dark };
  if (sample !== undefined) tree['mirror'] = { sample };

  const doc = new Document(tree);
  const r = new Reader(doc, null);
  const config = readConfig(r, r.value('', doc.contents, null), 'flags', containerLimitOf(opts));
  if (r.problems.length > 0 || config === undefined) {
    const problems = r.problems.map((p) => {
      const flag = FLAG_PATHS[p.path];
      if (flag === undefined) return p;
      const message = p.path === 'admin.token' ? 'an admin token is required when admin listens beyond loopback' : p.message;
      return { ...p, path: flag, message };
    });
    throw new ConfigError('flags', problems);
  }
  return deepFreeze(config);
}
