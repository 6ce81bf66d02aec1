// The alert rules load in Prometheus and behave as their unit tests say.
// Needs promtool: on Debian/Ubuntu `apt-get install -y prometheus` (CI installs it).
// A missing promtool fails this test on purpose: skipping would let broken rules land.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = fileURLToPath(new URL('../../', import.meta.url));

function promtool(...args: string[]): { status: number | null; output: string; missing: boolean } {
  const r = spawnSync('promtool', args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`, missing };
}

const version = promtool('--version');
if (version.missing) {
  t.fail('promtool is not on PATH: install the Debian package `prometheus` (apt-get update && apt-get install -y prometheus)');
} else {
  void t.test('promtool check rules', (t) => {
    const r = promtool('check', 'rules', 'deploy/prometheus/umbra-alerts.yaml');
    t.equal(r.status, 0, r.output);
    t.match(r.output, /SUCCESS: \d+ rules found/);
    t.end();
  });

  void t.test('promtool test rules', (t) => {
    const r = promtool('test', 'rules', 'deploy/prometheus/umbra-alerts.test.yaml');
    t.equal(r.status, 0, r.output);
    t.match(r.output, /SUCCESS/);
    t.end();
  });
}
