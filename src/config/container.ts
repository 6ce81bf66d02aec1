// The memory limit of the container umbra runs in, read from its cgroup, so the
// shadow memory budget can default to a share of it (validate.ts). Synchronous
// and read once per config load; anything missing or unreadable means "no limit".
// Also what umbra says at start when that limit leaves V8 a tiny young generation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** cgroup v1 writes "no limit" as a huge page-aligned number (9223372036854771712). */
const V1_UNLIMITED = 2 ** 60;

/**
 * The tightest memory limit (bytes) on this process's cgroup and its ancestors,
 * cgroup v2 (`memory.max`) or v1 (`memory.limit_in_bytes`), or null when there is
 * none. The paths are parameters so tests can point them at a directory of their own.
 */
export function containerMemoryLimit(cgroupFile = '/proc/self/cgroup', root = '/sys/fs/cgroup'): number | null {
  const membership = read(cgroupFile);
  if (membership === null) return null;
  let tightest: number | null = null;
  for (const line of membership.split('\n')) {
    // hierarchy-ID:controller-list:path (the path may itself hold colons)
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line.trim());
    if (m === null) continue;
    const [, id = '', controllers = '', path = '/'] = m;
    let found: number | null = null;
    if (id === '0' && controllers === '') found = tightestIn(root, path, 'memory.max');
    else if (controllers.split(',').includes('memory')) found = tightestIn(join(root, 'memory'), path, 'memory.limit_in_bytes');
    if (found !== null && (tightest === null || found < tightest)) tightest = found;
  }
  return tightest;
}

/** The smallest limit in `file` under `base`/`path` and each directory above it up to `base`. */
function tightestIn(base: string, path: string, file: string): number | null {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  // A "/.." path: the cgroup lies outside this namespace's view; only `base` is ours to read.
  const depth = parts.includes('..') ? 0 : parts.length;
  let tightest: number | null = null;
  for (let i = 0; i <= depth; i++) {
    const limit = limitIn(join(base, ...parts.slice(0, i), file));
    if (limit !== null && (tightest === null || limit < tightest)) tightest = limit;
  }
  return tightest;
}

/** A byte count, or null for "max", a v1 "unlimited", a missing file or anything else. */
function limitIn(file: string): number | null {
  const text = read(file)?.trim();
  if (text === undefined || !/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n < V1_UNLIMITED ? n : null;
}

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Below this container memory limit, V8 sizes the young generation (where every
 * request's short-lived objects go) from the limit: about 2 MiB under 256 and 512
 * MiB on Node.js 20 and 24, 8 MiB (20) or 32 MiB (24) under 1 GiB, measured in a
 * memory cgroup on 2026-12-03. umbra then collects garbage far more often.
 */
export const SMALL_CONTAINER_BYTES = 1024 ** 3;

/** The V8 flag that sizes the young generation, either spelling, `--flag=N` or `--flag N`. */
const SEMI_SPACE_FLAG = /^--max[-_]semi[-_]space[-_]size(=|$)/;

/** The flags node runs umbra with: its command line's (before the script) and NODE_OPTIONS'. */
export function nodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/).filter((w) => w !== '')];
}

/**
 * The warning umbra logs at start when it runs under a small container memory
 * limit and node was not told how big a young generation to keep, or null. In
 * the shipped pod's limit (256 MiB), V8's default cost umbra 1.2 to 1.5 times the
 * CPU per request of `--max-semi-space-size=8` (benchmarks/POD-MEMORY.md).
 */
export function youngGenerationAdvice(limit: number | null, flags: readonly string[]): string | null {
  if (limit === null || limit >= SMALL_CONTAINER_BYTES) return null;
  if (flags.some((f) => SEMI_SPACE_FLAG.test(f))) return null;
  const mib = Math.round(limit / 1024 ** 2);
  return (
    `umbra runs under a ${mib} MiB memory limit and node has no --max-semi-space-size: V8 then keeps a young generation of ` +
    'about 2 MiB and umbra spends far more CPU collecting it (1.2-1.5 times the CPU per request in the shipped pod\'s limit); ' +
    'start umbra with node --max-semi-space-size=8 as the image does (docs/deploy.md, "Sizing the umbra container")'
  );
}
