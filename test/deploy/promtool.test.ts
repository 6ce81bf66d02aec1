// The alert rules and the scrape configs load in Prometheus, and the rules behave
// as their unit tests say. Needs promtool: on Debian/Ubuntu `apt-get install -y
// prometheus` (CI installs it). A missing promtool fails this test on purpose:
// skipping would let broken rules land.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parse, stringify } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

function promtool(...args: string[]): { status: number | null; output: string; missing: boolean } {
  const r = spawnSync('promtool', args, { cwd: root, encoding: 'utf8', timeout: 120_000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`, missing };
}

type ScrapeConfig = Record<string, unknown> & { job_name: string };

/**
 * `promtool check config` on a minimal prometheus.yml holding these scrape jobs
 * and the alert rules. Debian's promtool is built without Kubernetes discovery
 * ("field kubernetes_sd_configs not found"): then the jobs are checked again
 * with a static target in its place, so everything else in them (relabelling,
 * regexes, fields) is still checked by Prometheus' own parser.
 */
function checkScrapeConfigs(t: Test, jobs: readonly ScrapeConfig[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-promtool-'));
  try {
    const write = (list: readonly ScrapeConfig[]): string => {
      const file = join(dir, 'prometheus.yml');
      writeFileSync(file, stringify({
        global: { scrape_interval: '15s', evaluation_interval: '15s' },
        rule_files: [join(root, 'deploy/prometheus/umbra-alerts.yaml')],
        scrape_configs: list,
      }));
      return file;
    };
    let r = promtool('check', 'config', write(jobs));
    if (r.status !== 0 && /field kubernetes_sd_configs not found/.test(r.output)) {
      t.comment('this promtool has no Kubernetes discovery (Debian build): checking with static targets in its place');
      const stat = jobs.map((j) => {
        const { kubernetes_sd_configs: sd, ...rest } = j;
        return sd === undefined ? j : { ...rest, static_configs: [{ targets: ['10.1.2.3:9901'] }] };
      });
      r = promtool('check', 'config', write(stat));
    }
    t.equal(r.status, 0, r.output);
    t.match(r.output, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface RulesFile { groups: Array<{ rules: Array<{ alert?: string }> }> }
interface RuleTests {
  rule_files: string[];
  tests: Array<{
    input_series: Array<{ series: string; values: string }>;
    alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts: unknown[] }>;
  }>;
}

void t.test('every alert has unit tests: firing, silent, from a zero or absent series', (t) => {
  const rules = parse(read('deploy/prometheus/umbra-alerts.yaml')) as RulesFile;
  const tests = parse(read('deploy/prometheus/umbra-alerts.test.yaml')) as RuleTests;
  const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a): a is string => a !== undefined));
  t.ok(alerts.length >= 8, `alerts: ${alerts.join(', ')}`);
  for (const alert of alerts) {
    const groups = tests.tests.filter((g) => g.alert_rule_test?.some((a) => a.alertname === alert));
    const cases = groups.flatMap((g) => g.alert_rule_test ?? []).filter((a) => a.alertname === alert);
    t.ok(cases.some((c) => c.exp_alerts.length > 0), `${alert}: a case where it fires`);
    t.ok(cases.some((c) => c.exp_alerts.length === 0), `${alert}: a case where it does not`);
    // umbra creates many series only when first counted: the test must show the
    // alert working on a series that starts at 0 or is absent at first.
    const fromNothing = groups.some((g) => g.input_series.some((s) => /^\s*(_|0(\D|$))/.test(s.values)));
    t.ok(fromNothing, `${alert}: a series that starts at 0 or absent`);
  }
  t.end();
});

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

  void t.test('promtool check config: deploy/prometheus/scrape-config.yaml', (t) => {
    const { scrape_configs: jobs } = parse(read('deploy/prometheus/scrape-config.yaml')) as { scrape_configs: ScrapeConfig[] };
    t.ok(jobs.length > 0, 'a scrape_configs list');
    checkScrapeConfigs(t, jobs);
    t.end();
  });
}
