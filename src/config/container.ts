// The memory limit of the container umbra runs in, read from its cgroup, so the
// shadow memory budget can default to a share of it (validate.ts). Synchronous
// and read once per config load; anything missing or unreadable means "no limit".
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
