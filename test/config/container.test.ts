// The container memory limit, read from cgroup files laid out in a temp dir as
// the kernel lays them out under /proc/self/cgroup and /sys/fs/cgroup.
import t from 'tap';
import { limitFrom } from '../helpers/cgroup.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMALL_CONTAINER_BYTES, containerMemoryLimit, nodeFlags, youngGenerationAdvice } from '../../src/config/container.js';

const MiB = 1024 ** 2;
const V1_UNLIMITED = '9223372036854771712';


void t.test('cgroup v2: memory.max of the process cgroup', (t) => {
  t.equal(limitFrom(t, '0::/\n', { 'memory.max': `${256 * MiB}\n` }), 256 * MiB, 'in a cgroup namespace the path is /');
  t.equal(limitFrom(t, '0::/kubepods/pod1/c1\n', { 'kubepods/pod1/c1/memory.max': `${256 * MiB}\n` }), 256 * MiB, 'without one, under the root');
  t.end();
});

void t.test('cgroup v2: the tightest of the cgroup and its ancestors wins', (t) => {
  const files = {
    'kubepods/memory.max': 'max\n',
    'kubepods/pod1/memory.max': `${128 * MiB}\n`,
    'kubepods/pod1/c1/memory.max': `${256 * MiB}\n`,
  };
  t.equal(limitFrom(t, '0::/kubepods/pod1/c1\n', files), 128 * MiB, 'an ancestor tighter than the leaf');
  t.equal(limitFrom(t, '0::/kubepods/pod1/c1\n', { ...files, 'kubepods/pod1/c1/memory.max': `${64 * MiB}\n` }), 64 * MiB, 'the leaf tighter');
  t.equal(limitFrom(t, '0::/a/b\n', { 'memory.max': `${32 * MiB}\n`, 'a/b/memory.max': 'max\n' }), 32 * MiB, 'the root counts too');
  t.end();
});

void t.test('cgroup v2: "max" everywhere is no limit', (t) => {
  t.equal(limitFrom(t, '0::/a/b\n', { 'memory.max': 'max\n', 'a/memory.max': 'max\n', 'a/b/memory.max': 'max\n' }), null);
  t.end();
});

void t.test('cgroup v1: memory.limit_in_bytes under the memory controller', (t) => {
  const cgroup = '9:name=systemd:/\n5:devices:/x\n4:memory:/docker/abc\n1:cpu,cpuacct:/\n';
  t.equal(limitFrom(t, cgroup, { 'memory/docker/abc/memory.limit_in_bytes': `${512 * MiB}\n` }), 512 * MiB, 'at the cgroup path');
  t.equal(
    limitFrom(t, cgroup, { 'memory/memory.limit_in_bytes': `${300 * MiB}\n` }),
    300 * MiB,
    'at the controller root (a container sees its own cgroup there)',
  );
  t.equal(
    limitFrom(t, cgroup, { 'memory/docker/memory.limit_in_bytes': `${200 * MiB}\n`, 'memory/docker/abc/memory.limit_in_bytes': V1_UNLIMITED }),
    200 * MiB,
    'an ancestor tighter than an unlimited leaf',
  );
  t.equal(limitFrom(t, '3:cpu,memory:/x\n', { 'memory/x/memory.limit_in_bytes': `${100 * MiB}\n` }), 100 * MiB, 'memory in a controller list');
  t.end();
});

void t.test('cgroup v1: 2^60 and over is unlimited', (t) => {
  const cgroup = '4:memory:/process_api/39dc5eed\n';
  t.equal(limitFrom(t, cgroup, { 'memory/memory.limit_in_bytes': V1_UNLIMITED, 'memory/process_api/39dc5eed/memory.limit_in_bytes': V1_UNLIMITED }), null);
  t.equal(limitFrom(t, cgroup, { 'memory/memory.limit_in_bytes': String(2 ** 60) }), null, 'exactly 2^60');
  t.end();
});

void t.test('hybrid: a v2 line with no v2 memory files and a v1 memory line', (t) => {
  t.equal(limitFrom(t, '4:memory:/\n0::/\n', { 'memory/memory.limit_in_bytes': `${256 * MiB}\n` }), 256 * MiB);
  t.end();
});

void t.test('missing, unreadable or odd files mean no limit, never a crash', (t) => {
  t.equal(containerMemoryLimit(join(tmpdir(), 'umbra-no-such-dir', 'cgroup'), '/nonexistent'), null, 'no /proc/self/cgroup');
  t.equal(limitFrom(t, '0::/a\n', {}), null, 'no memory.max files');
  t.equal(limitFrom(t, '', { 'memory.max': `${MiB}` }), null, 'an empty /proc/self/cgroup');
  t.equal(limitFrom(t, 'garbage\n0:\n', { 'memory.max': `${MiB}` }), null, 'lines that are not cgroup lines');
  t.equal(limitFrom(t, '0::/a\n', { 'memory.max': '', 'a/memory.max': '12abc\n' }), null, 'values that are not numbers');
  t.equal(limitFrom(t, '0::/a\n', { 'a/memory.max/x': '1' }), null, 'a directory where the file should be');
  t.end();
});

void t.test('a path outside the cgroup namespace reads only the root', (t) => {
  // The kernel shows "/.." when the cgroup is above this namespace's root; join()
  // must not climb out of the root to a file of the same name elsewhere.
  t.equal(limitFrom(t, '0::/../../etc\n', { 'memory.max': `${64 * MiB}\n`, '../memory.max': `${MiB}\n` }), 64 * MiB);
  t.end();
});

void t.test('this machine: the real files give a number or null without throwing', (t) => {
  const limit = containerMemoryLimit();
  t.ok(limit === null || (Number.isSafeInteger(limit) && limit >= 0), `got ${String(limit)}`);
  t.end();
});

void t.test('nodeFlags: the command line and NODE_OPTIONS', (t) => {
  t.same(nodeFlags(['--max-semi-space-size=8'], undefined), ['--max-semi-space-size=8']);
  t.same(nodeFlags([], '  --max-old-space-size=200   --max-semi-space-size 8 '), ['--max-old-space-size=200', '--max-semi-space-size', '8']);
  t.same(nodeFlags(['--inspect'], ''), ['--inspect']);
  t.end();
});

void t.test('youngGenerationAdvice: only a small limit without the flag', (t) => {
  t.match(youngGenerationAdvice(256 * MiB, []), /256 MiB memory limit/);
  t.match(youngGenerationAdvice(SMALL_CONTAINER_BYTES - 1, ['--max-old-space-size=200']), /1024 MiB memory limit/, 'another flag does not count');
  t.equal(youngGenerationAdvice(SMALL_CONTAINER_BYTES, []), null, 'from 1 GiB on, V8 keeps 8 MiB or more');
  t.equal(youngGenerationAdvice(null, []), null, 'no limit');
  for (const flags of [['--max-semi-space-size=8'], ['--max_semi_space_size=16'], ['--max-semi-space-size', '8']]) {
    t.equal(youngGenerationAdvice(256 * MiB, flags), null, flags.join(' '));
  }
  t.match(youngGenerationAdvice(256 * MiB, ['--max-semi-space-sizes=8']), /memory limit/, 'only the flag itself');
  t.end();
});
