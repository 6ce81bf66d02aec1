// benchmarks/lib/pod.js: what benchmarks/pod-memory.js reads off the shipped
// manifest and Dockerfile, and the memory cgroup it runs umbra in — on fake cgroup
// trees, and on this machine's real one, where a process over the limit is killed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

interface Group {
  dir: string;
  procs: string;
  launcher: string[];
  peakBytes(): number | null;
  oomKills(): number | null;
  remove(): void;
}
type Controller = { version: 1 | 2; create(name: string, limitBytes: number): Group; reason?: undefined } | { reason: string };
const pod = (await import(new URL('../../benchmarks/lib/pod.js', import.meta.url).href)) as {
  parseQuantity(q: string | number): number;
  containerResources(text: string, container?: string): { memoryLimit: number | null; memoryRequest: number | null; cpuLimit: string | null };
  keyedValue(text: string, key: string): number | null;
  imageNodeFlags(text: string): string[];
  memoryController(root?: string): Controller;
};

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

t.test('parseQuantity: Kubernetes memory quantities', async (t) => {
  t.equal(pod.parseQuantity('256Mi'), 256 * 2 ** 20);
  t.equal(pod.parseQuantity('0.5Gi'), 2 ** 29);
  t.equal(pod.parseQuantity('300M'), 300e6);
  t.equal(pod.parseQuantity('1e9'), 1e9);
  t.equal(pod.parseQuantity(1048576), 1048576);
  t.equal(pod.parseQuantity('64Ki'), 65536);
  for (const bad of ['', '256MB', 'lots', '-1Mi', '1.2.3Gi']) t.throws(() => pod.parseQuantity(bad), /not a Kubernetes quantity/, JSON.stringify(bad));
});

t.test('containerResources: the shipped sidecar manifest', async (t) => {
  const r = pod.containerResources(read('deploy/kubernetes/umbra-sidecar.yaml'));
  t.equal(r.memoryLimit, 256 * 2 ** 20, 'the umbra container, not the app beside it (512Mi)');
  t.equal(r.memoryRequest, 160 * 2 ** 20);
  t.equal(r.cpuLimit, '500m');
  t.throws(() => pod.containerResources(read('deploy/kubernetes/umbra-sidecar.yaml'), 'nope'), /no container named "nope"/);
  const bare = pod.containerResources(['kind: Deployment', 'spec:', '  template:', '    spec:', '      containers:', '        - name: umbra', '          image: x'].join('\n'));
  t.same(bare, { memoryLimit: null, memoryRequest: null, cpuLimit: null }, 'no resources: nulls');
});

t.test('keyedValue: flat-keyed cgroup files', async (t) => {
  t.equal(pod.keyedValue('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n', 'oom_kill'), 3);
  t.equal(pod.keyedValue('low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n', 'oom'), 2, 'a whole key, not a prefix of another');
  t.equal(pod.keyedValue('low 0\n', 'oom_kill'), null);
});

t.test('imageNodeFlags: the node flags of the image ENTRYPOINT', async (t) => {
  const flags = pod.imageNodeFlags(read('Dockerfile'));
  t.ok(flags.every((f) => f.startsWith('--')), `flags only (${flags.join(' ')})`);
  t.same(pod.imageNodeFlags('FROM x\nENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/umbra.js"]\n'), []);
  t.same(pod.imageNodeFlags('ENTRYPOINT ["node", "--a=1", "--b", "s.js", "--c"]\nENTRYPOINT ["node", "--x=2", "s.js"]\n'), ['--x=2'], 'the last ENTRYPOINT wins, as in Docker');
  t.throws(() => pod.imageNodeFlags('FROM x\nCMD ["node", "s.js"]\n'), /no exec-form ENTRYPOINT/);
  t.throws(() => pod.imageNodeFlags('ENTRYPOINT ["/bin/sh", "-c", "x"]\n'), /does not run a script with node/);
});

t.test('memoryController on fake cgroup trees', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-cgroup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const none = join(dir, 'none');
  mkdirSync(none);
  t.match(pod.memoryController(none), { reason: /no memory cgroup controller/ });

  const v1 = join(dir, 'v1');
  mkdirSync(join(v1, 'memory'), { recursive: true });
  writeFileSync(join(v1, 'memory', 'memory.limit_in_bytes'), '9223372036854771712\n');
  const c1 = pod.memoryController(v1);
  t.equal(c1.reason, undefined);
  if (c1.reason !== undefined) return;
  t.equal(c1.version, 1);
  const g1 = c1.create('g', 1234);
  t.equal(readFileSync(join(g1.dir, 'memory.limit_in_bytes'), 'utf8'), '1234');
  t.equal(g1.peakBytes(), null, 'no usage file yet: unknown, not 0');
  writeFileSync(join(g1.dir, 'memory.max_usage_in_bytes'), '4096\n');
  writeFileSync(join(g1.dir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
  t.equal(g1.peakBytes(), 4096);
  t.equal(g1.oomKills(), 2);

  const v2 = join(dir, 'v2');
  mkdirSync(v2);
  writeFileSync(join(v2, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  writeFileSync(join(v2, 'cgroup.subtree_control'), 'cpu\n');
  const c2 = pod.memoryController(v2);
  if (c2.reason !== undefined) return t.fail(c2.reason);
  t.equal(c2.version, 2);
  t.equal(readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8'), '+memory', 'the memory controller handed down to children');
  const g2 = c2.create('g', 5678);
  t.equal(readFileSync(join(g2.dir, 'memory.max'), 'utf8'), '5678');
  writeFileSync(join(g2.dir, 'memory.peak'), '8192\n');
  writeFileSync(join(g2.dir, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
  t.equal(g2.peakBytes(), 8192);
  t.equal(g2.oomKills(), 1);
  rmSync(join(g2.dir, 'memory.peak'));
  rmSync(join(g2.dir, 'memory.events'));
  rmSync(join(g2.dir, 'memory.max'));
  g2.remove();
  t.throws(() => readFileSync(join(g2.dir, 'memory.max')), 'removed');

  const noMemory = join(dir, 'v2-no-memory');
  mkdirSync(noMemory);
  writeFileSync(join(noMemory, 'cgroup.controllers'), 'cpu pids\n');
  t.match(pod.memoryController(noMemory), { reason: /no memory cgroup controller/ });
});

// The real thing, as pod-memory.js uses it: a process over the limit is killed and counted.
const real = pod.memoryController();
t.test('memoryController on this machine: a process over its limit is OOM-killed and counted', { skip: real.reason === undefined ? false : `no writable memory cgroup here (${real.reason}); pod-memory.js cannot run either` }, async (t) => {
  if (real.reason !== undefined) return;
  const limit = 64 * 2 ** 20;
  const group = real.create(`umbra-test-${process.pid}`, limit);
  t.teardown(() => group.remove());
  const [sh = 'sh', ...prefix] = group.launcher;
  const child = spawn(sh, [...prefix, process.execPath, '-e', 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));'], { stdio: 'ignore' });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.equal(exit.signal, 'SIGKILL', 'killed by the kernel, not an exception of its own');
  t.equal(group.oomKills(), 1, 'one OOM kill counted');
  const peak = group.peakBytes();
  t.ok(peak !== null && peak > limit * 0.8 && peak <= limit, `peak charged ${peak} bytes, at the ${limit}-byte limit`);
});
