// Child processes of the benchmark: every one is registered here and killed when
// the runner exits, whatever the reason (normal end, exception, Ctrl-C).

import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();
const tempDirs = new Set();

/** Clock ticks per second of the times in /proc/PID/stat and /proc/stat (USER_HZ). */
export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100; // USER_HZ on every mainstream Linux build
  }
})();

/** A temporary directory that is removed when the runner exits (or earlier by removeTempDir). */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** SIGKILL to a process and everything below it: on nginx's master alone it would orphan the worker. */
function killTree(rootPid) {
  let pids = [rootPid];
  try {
    pids = processTree(rootPid);
  } catch {
    // /proc unreadable: the process alone
  }
  for (const pid of pids.reverse()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function killAll() {
  for (const child of children) killTree(child.pid);
  children.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort on the way out
    }
  }
  tempDirs.clear();
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Registers a child process so it is killed when the runner exits. */
export function track(child, name) {
  children.add(child);
  child.benchName = name;
  child.stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s) => {
    child.stderrTail = (child.stderrTail + s).slice(-4000);
  });
  child.once('exit', () => children.delete(child));
  return child;
}

/** Starts a node script as a child with IPC; resolves with its first message (e.g. `{port}`). */
export async function forkReady(script, args, { name, timeoutMs = 10_000, execArgv = [] } = {}) {
  const child = track(fork(script, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv }), name ?? script);
  const msg = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.benchName}: no ready message within ${timeoutMs} ms`)), timeoutMs);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${child.benchName} exited early (${code ?? signal}): ${child.stderrTail.trim()}`));
    });
  });
  return { child, msg };
}

/** Starts any command; stdout is kept (last 64 KiB) for parsers such as wrk's. */
export function spawnTracked(cmd, args, { name, cwd, env } = {}) {
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd, env }), name ?? cmd);
  child.stdoutText = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => {
    child.stdoutText = (child.stdoutText + s).slice(-65536);
  });
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
export async function stop(child, graceMs = 3000) {
  if (child === undefined || child === null || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => killTree(child.pid), graceMs);
  await gone;
  clearTimeout(timer);
}

/** A port that was free a moment ago on 127.0.0.1 (for programs that need it in a config file). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200, or throws after `timeoutMs`. */
export async function waitHttpOk(url, { timeoutMs = 10_000, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child !== undefined && child.exitCode !== null) {
      throw new Error(`${child.benchName} exited (${child.exitCode}): ${child.stderrTail.trim()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (${last})`);
}

/** Memory of a process from /proc: current RSS and peak RSS (VmHWM), in bytes. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : null;
    };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: null, hwm: null };
  }
}

/**
 * User+system CPU time of a process in seconds, from /proc/PID/stat; with `tid`, of
 * that one thread (/proc/PID/task/TID/stat: the main thread's TID is the PID).
 */
export function cpuSecondsOf(pid, tid) {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return ticks / CLK_TCK;
  } catch {
    return null;
  }
}

function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
}

/** `root` and every process below it (e.g. nginx's master and its worker). */
function processTree(root) {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parent.set(Number(name), Number(statFields(name)[1]));
    } catch {
      // exited meanwhile
    }
  }
  const tree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** Sum of cpuSecondsOf / memoryOf over a process tree; null when the root is gone. */
function treeCpuSeconds(root) {
  const own = cpuSecondsOf(root);
  if (own === null) return null;
  return processTree(root).reduce((sum, pid) => sum + (pid === root ? own : (cpuSecondsOf(pid) ?? 0)), 0);
}

function treeMemory(root) {
  const out = { rss: null, hwm: null };
  for (const pid of processTree(root)) {
    const m = memoryOf(pid);
    if (m.rss !== null) out.rss = (out.rss ?? 0) + m.rss;
    if (m.hwm !== null) out.hwm = (out.hwm ?? 0) + m.hwm;
  }
  return out;
}

/**
 * CPU seconds used so far by this runner and every process below it (load generator,
 * proxies, backends, nginx workers): its own time, the time of children it already
 * reaped, and the time of the descendants still running.
 */
function ourCpuSeconds() {
  let ticks;
  try {
    const f = statFields('self');
    ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
  } catch {
    return null;
  }
  let seconds = ticks / CLK_TCK;
  for (const pid of processTree(process.pid)) if (pid !== process.pid) seconds += cpuSecondsOf(pid) ?? 0;
  return seconds;
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineBusySeconds() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already in user
    return (total - v[3] - v[4]) / CLK_TCK; // less idle and iowait
  } catch {
    return null;
  }
}

/** CPU readings of this benchmark and of the whole machine, for otherCoresBetween(). */
export function cpuReading() {
  return { ours: ourCpuSeconds(), busy: machineBusySeconds() };
}

/** Cores that processes outside this benchmark used between two cpuReading()s `wallSec` apart. */
export function otherCoresBetween(a, b, wallSec) {
  if ([a.ours, a.busy, b.ours, b.busy].includes(null) || !(wallSec > 0)) return null;
  return Math.max(0, (b.busy - a.busy - (b.ours - a.ours)) / wallSec);
}

/**
 * Samples a process (with its child processes, e.g. nginx's worker) while `fn` runs:
 * peak RSS seen, CPU% of one core, and the CPU that processes outside this benchmark
 * used meanwhile (in cores; the machine is shared).
 */
export async function observe(pid, fn, intervalMs = 200) {
  let peak = treeMemory(pid).rss ?? 0;
  const timer = setInterval(() => {
    const { rss } = treeMemory(pid);
    if (rss !== null && rss > peak) peak = rss;
  }, intervalMs);
  const cpu0 = treeCpuSeconds(pid);
  const ours0 = ourCpuSeconds();
  const busy0 = machineBusySeconds();
  const t0 = process.hrtime.bigint();
  try {
    const result = await fn();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = treeCpuSeconds(pid);
    const ours1 = ourCpuSeconds();
    const busy1 = machineBusySeconds();
    const mem = treeMemory(pid);
    if (mem.rss !== null && mem.rss > peak) peak = mem.rss;
    const known = (...xs) => xs.every((x) => x !== null);
    return {
      result,
      rssPeakDuringRun: peak,
      rssEnd: mem.rss,
      rssHwm: mem.hwm,
      cpuPercent: known(cpu0, cpu1) ? (100 * (cpu1 - cpu0)) / wall : null,
      benchCores: known(ours0, ours1) ? (ours1 - ours0) / wall : null,
      otherCores: known(ours0, ours1, busy0, busy1) ? Math.max(0, (busy1 - busy0 - (ours1 - ours0)) / wall) : null,
    };
  } finally {
    clearInterval(timer);
  }
}

/** Starts benchmarks/lib/backend.js in `mode`; returns { child, pid, url, count() }. */
export async function startBackend(mode = 'fast', { delayMs = 200 } = {}) {
  return startBackendScript('./backend.js', ['--mode', mode, '--delay', String(delayMs)], { name: `backend(${mode})` });
}

/**
 * Starts benchmarks/lib/chaos-backend.js, whose two largest answers are exactly
 * `maxBodyBytes` and one byte more; returns the same as startBackend() plus `mix`
 * (what a cycle of `cycle` requests serves) and served(), the requests answered so
 * far by kind. It builds its compression bombs first (about 2 s).
 */
export async function startChaosBackend({ maxBodyBytes = 1024 ** 2 } = {}) {
  return startBackendScript('./chaos-backend.js', ['--max-body-bytes', String(maxBodyBytes)], { name: 'backend(chaos)', timeoutMs: 30_000 });
}

/** Starts benchmarks/lib/h2-backend.js (h2c, the same JSON answer); returns the same as startBackend(). */
export async function startH2Backend() {
  return startBackendScript('./h2-backend.js', [], { name: 'backend(h2c)' });
}

/**
 * Starts benchmarks/lib/grpc-backend.js (shop.v1.Catalog/GetItem); count() is the
 * calls received, peak() the most calls open at once since the last count() or peak().
 */
export async function startGrpcBackend() {
  return startBackendScript('./grpc-backend.js', [], { name: 'backend(grpc)' });
}

async function startBackendScript(file, args, { name, timeoutMs }) {
  const script = new URL(file, import.meta.url);
  const { child, msg } = await forkReady(script, args, { name, timeoutMs });
  /** The backend's answer to 'count': {count, served?}, or null after 2 s. */
  const ask = () =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), 2000);
      const onMsg = (m) => {
        if (m && typeof m.count === 'number') {
          clearTimeout(timer);
          child.off('message', onMsg);
          resolve(m);
        }
      };
      child.on('message', onMsg);
      child.send('count');
    });
  return {
    child,
    pid: child.pid,
    url: `http://127.0.0.1:${msg.port}`,
    bytes: msg.bytes,
    cycle: msg.cycle,
    mix: msg.mix,
    /** Requests the backend has received so far. */
    count: async () => (await ask())?.count ?? null,
    /** The most calls open at once since the last count() or peak() (gRPC backend only). */
    peak: async () => (await ask())?.peak ?? null,
    /** Requests answered so far by kind (chaos backend only). */
    served: async () => (await ask())?.served ?? null,
    stop: () => stop(child),
  };
}

/**
 * The machine is shared: waits (at most `maxWaitMs`) until processes outside this
 * benchmark use less than `threshold` cores over a 500 ms window. Returns how long it
 * waited and the other load seen last; never throws.
 */
export async function waitQuiet({ maxWaitMs, threshold = 0.25 }) {
  const t0 = Date.now();
  let other = null;
  do {
    const ours0 = ourCpuSeconds();
    const busy0 = machineBusySeconds();
    await sleep(500);
    const ours1 = ourCpuSeconds();
    const busy1 = machineBusySeconds();
    if ([ours0, ours1, busy0, busy1].includes(null)) return { waitedMs: Date.now() - t0, otherCores: null };
    other = Math.max(0, (busy1 - busy0 - (ours1 - ours0)) / 0.5);
    if (other < threshold) break;
  } while (Date.now() - t0 < maxWaitMs);
  return { waitedMs: Date.now() - t0, otherCores: other };
}
