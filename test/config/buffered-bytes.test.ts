// mirror.maxBufferedBytes: a configured value is used as given (at most 1GiB);
// otherwise a quarter of the container's memory limit, read from cgroup files
// laid out in a temp dir, within 4 MiB..1 GiB; 64 MiB when there is no limit.
import t, { type Test } from 'tap';
import { limitFrom } from '../helpers/cgroup.js';
import { ConfigError, configFromFlags, parseConfigText } from '../../src/config/load.js';
import type { Config, MirrorConfig } from '../../src/config/types.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TEXT = 'live: { url: "http://127.0.0.1:3000" }\ndark: { url: "http://127.0.0.1:3001" }\n';
const ROUTES = 'routes:\n  - name: a\n    match: { prefix: /a }\n    mirror: { sample: 1 }\n';


function load(text: string, containerLimit: number | null): Config {
  return parseConfigText(text, 'c.yaml', {}, { containerLimit });
}

/** The budget and its source, the same on every route (routes inherit the top-level one). */
function budget(t: Test, c: Config): Pick<MirrorConfig, 'maxBufferedBytes' | 'maxBufferedBytesFrom'> {
  const { maxBufferedBytes, maxBufferedBytesFrom } = c.mirror;
  for (const r of c.routes) t.strictSame([r.mirror.maxBufferedBytes, r.mirror.maxBufferedBytesFrom], [maxBufferedBytes, maxBufferedBytesFrom], `route ${r.name}`);
  return { maxBufferedBytes, maxBufferedBytesFrom };
}

void t.test('a configured value wins over a container limit', (t) => {
  t.strictSame(budget(t, load(TEXT + 'mirror: { maxBufferedBytes: 32MiB }\n' + ROUTES, 256 * MiB)), { maxBufferedBytes: 32 * MiB, maxBufferedBytesFrom: 'config' });
  t.strictSame(budget(t, load(TEXT + 'mirror: { maxBufferedBytes: 1GiB }\n', 8 * MiB)), { maxBufferedBytes: GiB, maxBufferedBytesFrom: 'config' }, '1GiB itself is allowed');
  t.strictSame(budget(t, load(TEXT + 'mirror: { maxBufferedBytes: 1KiB }\n', null)), { maxBufferedBytes: 1024, maxBufferedBytesFrom: 'config' }, 'no lower clamp on a configured value');
  t.end();
});

void t.test('cgroup v2: a 256 MiB limit gives 64 MiB', (t) => {
  const limit = limitFrom(t, '0::/\n', { 'memory.max': `${256 * MiB}\n` });
  t.strictSame(budget(t, load(TEXT + ROUTES, limit)), { maxBufferedBytes: 64 * MiB, maxBufferedBytesFrom: 'cgroup' });
  t.end();
});

void t.test('cgroup v1: a 512 MiB limit gives 128 MiB', (t) => {
  const limit = limitFrom(t, '4:memory:/docker/abc\n', { 'memory/docker/abc/memory.limit_in_bytes': `${512 * MiB}\n` });
  t.strictSame(budget(t, load(TEXT, limit)), { maxBufferedBytes: 128 * MiB, maxBufferedBytesFrom: 'cgroup' });
  t.end();
});

void t.test('an ancestor tighter than the leaf sets the budget', (t) => {
  const limit = limitFrom(t, '0::/kubepods/pod1/c1\n', {
    'kubepods/pod1/memory.max': `${128 * MiB}\n`,
    'kubepods/pod1/c1/memory.max': `${2 * GiB}\n`,
  });
  t.strictSame(budget(t, load(TEXT, limit)), { maxBufferedBytes: 32 * MiB, maxBufferedBytesFrom: 'cgroup' });
  t.end();
});

void t.test('no limit ("max", or v1 unlimited): 64 MiB, the default', (t) => {
  const v2 = limitFrom(t, '0::/a\n', { 'memory.max': 'max\n', 'a/memory.max': 'max\n' });
  const v1 = limitFrom(t, '4:memory:/process_api/x\n', { 'memory/memory.limit_in_bytes': '9223372036854771712\n' });
  for (const limit of [v2, v1]) t.strictSame(budget(t, load(TEXT + ROUTES, limit)), { maxBufferedBytes: 64 * MiB, maxBufferedBytesFrom: 'default' });
  t.end();
});

void t.test('the derived value is clamped to 4 MiB .. 1 GiB', (t) => {
  t.strictSame(budget(t, load(TEXT, 8 * MiB)), { maxBufferedBytes: 4 * MiB, maxBufferedBytesFrom: 'cgroup' }, 'a tiny limit');
  t.strictSame(budget(t, load(TEXT, 16 * MiB)), { maxBufferedBytes: 4 * MiB, maxBufferedBytesFrom: 'cgroup' }, 'exactly the floor');
  t.strictSame(budget(t, load(TEXT, 16 * MiB + 7)), { maxBufferedBytes: 4 * MiB + 1, maxBufferedBytesFrom: 'cgroup' }, 'a quarter, rounded down');
  t.strictSame(budget(t, load(TEXT, 4 * GiB)), { maxBufferedBytes: GiB, maxBufferedBytesFrom: 'cgroup' }, 'exactly the ceiling');
  t.strictSame(budget(t, load(TEXT, 64 * GiB)), { maxBufferedBytes: GiB, maxBufferedBytesFrom: 'cgroup' }, 'a huge limit');
  t.end();
});

void t.test('without a dark backend the budget is derived the same way', (t) => {
  t.strictSame(budget(t, load('live: { url: "http://127.0.0.1:3000" }\n', 256 * MiB)), { maxBufferedBytes: 64 * MiB, maxBufferedBytesFrom: 'cgroup' });
  t.end();
});

void t.test('command-line flags derive it too', (t) => {
  const c = configFromFlags({ live: 'http://127.0.0.1:3000', dark: 'http://127.0.0.1:3001' }, { containerLimit: 256 * MiB });
  t.strictSame(budget(t, c), { maxBufferedBytes: 64 * MiB, maxBufferedBytesFrom: 'cgroup' });
  t.end();
});

void t.test('over 1GiB configured is a config error naming the key and the line', (t) => {
  const text = TEXT + 'mirror:\n  sample: 0.5\n  maxBufferedBytes: 2GiB\n';
  let caught: unknown;
  try {
    load(text, null);
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof ConfigError);
  t.strictSame((caught as ConfigError).problems, [{ path: 'mirror.maxBufferedBytes', line: 5, message: 'must be at most 1GiB' }]);
  t.equal((caught as ConfigError).message, 'c.yaml:5: mirror.maxBufferedBytes: must be at most 1GiB');
  t.throws(() => load(TEXT + `mirror: { maxBufferedBytes: ${GiB + 1} }\n`, null), { message: 'c.yaml:3: mirror.maxBufferedBytes: must be at most 1GiB' }, 'one byte over');
  t.throws(() => load(TEXT + 'mirror: { maxBufferedBytes: 0 }\n', null), { message: 'c.yaml:3: mirror.maxBufferedBytes: must be more than 0' });
  t.end();
});

void t.test('without containerLimit the real cgroup files are read', (t) => {
  const c = parseConfigText(TEXT, 'c.yaml', {});
  t.ok(['cgroup', 'default'].includes(c.mirror.maxBufferedBytesFrom), c.mirror.maxBufferedBytesFrom);
  t.ok(c.mirror.maxBufferedBytes >= 4 * MiB && c.mirror.maxBufferedBytes <= GiB);
  t.end();
});
