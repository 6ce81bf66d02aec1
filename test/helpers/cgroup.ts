// A cgroup file tree of the test's own in a temp dir: /proc/self/cgroup's text and
// the files under /sys/fs/cgroup, read back through the real containerMemoryLimit().
import type { Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { containerMemoryLimit } from '../../src/config/container.js';

/** Writes `cgroup` and `files` (path under the cgroup root -> content); returns the limit read from them. */
export function limitFrom(t: Test, cgroup: string, files: Record<string, string>): number | null {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-cgroup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'cgroup'), cgroup);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, 'fs', path)), { recursive: true });
    writeFileSync(join(dir, 'fs', path), content);
  }
  return containerMemoryLimit(join(dir, 'cgroup'), join(dir, 'fs'));
}
