// What benchmarks/pod-memory.js needs to run umbra the way the shipped pod does:
// the memory limit read from the shipped Kubernetes manifest, and a memory cgroup
// (v1 or v2) with that limit to run umbra in, with its peak and its OOM kills.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

const UNITS = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A Kubernetes quantity ("256Mi", "500m", "0.5Gi", "1e9") as a number (cores for CPU, bytes for memory); throws on anything else. */
export function kubernetesQuantity(q) {
  const m = /^(\d+(?:\.\d+)?(?:[eE]\d+)?)(Ki|Mi|Gi|Ti|m|k|M|G|T)?$/.exec(String(q).trim());
  if (m === null) throw new Error(`not a Kubernetes quantity: "${q}"`);
  return Number(m[1]) * (m[2] === undefined ? 1 : UNITS[m[2]]);
}

/** A Kubernetes memory quantity ("256Mi", "0.5Gi", "300M", "1e9", "1048576") in whole bytes; throws on anything else. */
export function parseQuantity(q) {
  return Math.round(kubernetesQuantity(q));
}

/**
 * The resources of the container named `container` in a multi-document manifest:
 * { memoryLimit, memoryRequest } in bytes (null when not set), cpuLimit as written.
 * Throws when no such container is found.
 */
export function containerResources(manifestText, container = 'umbra') {
  for (const doc of YAML.parseAllDocuments(manifestText)) {
    const spec = doc.toJS()?.spec?.template?.spec;
    for (const c of spec?.containers ?? []) {
      if (c?.name !== container) continue;
      const r = c.resources ?? {};
      return {
        memoryLimit: r.limits?.memory === undefined ? null : parseQuantity(r.limits.memory),
        memoryRequest: r.requests?.memory === undefined ? null : parseQuantity(r.requests.memory),
        cpuLimit: r.limits?.cpu === undefined ? null : String(r.limits.cpu),
      };
    }
  }
  throw new Error(`no container named "${container}" in the manifest`);
}

/** Reads `key N` from a flat-keyed cgroup file (memory.events, memory.oom_control); null when absent. */
export function keyedValue(text, key) {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m === null ? null : Number(m[1]);
}

/** cgroups made by create() and not yet removed: an exit of the runner, however it ends, removes them. */
const made = new Set();

/** rmdir of a cgroup, retried for up to 3 s while its last process is still being reaped (EBUSY). */
function removeGroup(dir) {
  for (let i = 0; i < 300; i++) {
    try {
      rmdirSync(dir);
      made.delete(dir);
      return;
    } catch (err) {
      if (err.code === 'ENOENT') {
        made.delete(dir);
        return;
      }
      if (err.code !== 'EBUSY') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

// Registered after procs.js's handler (imported before this module by the runner), which kills the processes first.
process.on('exit', () => {
  for (const dir of made) removeGroup(dir);
});

function read(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The memory cgroup controller this process may make cgroups under, as
 * { version, create(name, limitBytes) }, or { reason } when there is none (not
 * root, no memory controller, a read-only /sys/fs/cgroup). create() returns
 * { dir, procs, launcher, peakBytes(), oomKills(), remove() }.
 */
export function memoryController(root = '/sys/fs/cgroup') {
  const v1 = join(root, 'memory');
  const v2Controllers = read(join(root, 'cgroup.controllers'));
  let base;
  let version;
  if (existsSync(join(v1, 'memory.limit_in_bytes'))) {
    base = v1;
    version = 1;
  } else if (v2Controllers !== null && v2Controllers.split(/\s+/).includes('memory')) {
    base = root;
    version = 2;
    // Children get the memory controller only when the parent hands it down.
    if (!(read(join(root, 'cgroup.subtree_control')) ?? '').split(/\s+/).includes('memory')) {
      try {
        writeFileSync(join(root, 'cgroup.subtree_control'), '+memory');
      } catch (err) {
        return { reason: `cgroup v2 without the memory controller for children (${err.code ?? err.message})` };
      }
    }
  } else {
    return { reason: `no memory cgroup controller under ${root}` };
  }
  return {
    version,
    create(name, limitBytes) {
      const dir = join(base, name);
      mkdirSync(dir);
      made.add(dir);
      if (version === 1) writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
      else writeFileSync(join(dir, 'memory.max'), String(limitBytes));
      const procs = join(dir, 'cgroup.procs');
      return {
        dir,
        procs,
        /** A command prefix that moves itself into this cgroup, then execs the command after it (argv[0] first). */
        launcher: ['sh', '-c', `echo $$ > ${procs} && exec "$0" "$@"`],
        /** Most memory ever charged to the cgroup (v1 max_usage_in_bytes, v2 memory.peak); null when the kernel has no such file. */
        peakBytes() {
          const v = read(join(dir, version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak'));
          return v === null ? null : Number(v.trim());
        },
        oomKills() {
          const text = read(join(dir, version === 1 ? 'memory.oom_control' : 'memory.events'));
          return text === null ? null : keyedValue(text, 'oom_kill');
        },
        remove() {
          removeGroup(dir);
        },
      };
    },
  };
}

/**
 * The node flags the image starts umbra with: the words between `node` and the
 * script in the Dockerfile's last ENTRYPOINT (exec form). Throws when there is no
 * such ENTRYPOINT.
 */
export function imageNodeFlags(dockerfileText) {
  const lines = dockerfileText.split('\n').filter((l) => /^ENTRYPOINT\s+\[/.test(l));
  const last = lines.at(-1);
  if (last === undefined) throw new Error('the Dockerfile has no exec-form ENTRYPOINT');
  const argv = JSON.parse(last.replace(/^ENTRYPOINT\s+/, ''));
  const node = argv.indexOf('node');
  const script = argv.findIndex((a, i) => i > node && !a.startsWith('-'));
  if (node < 0 || script < 0) throw new Error(`the ENTRYPOINT does not run a script with node: ${last}`);
  return argv.slice(node + 1, script);
}
