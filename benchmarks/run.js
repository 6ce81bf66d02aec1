// The benchmark suite: runs every scenario (or one), then writes RESULTS.md,
// results.svg and results.json from the numbers it measured.
//
//   npm run build && npm run bench                 # full run, rewrites benchmarks/RESULTS.*
//   node benchmarks/run.js --quick                 # short smoke run, written to benchmarks/out/
//   node benchmarks/run.js --only isolation        # one scenario, written to benchmarks/out/
//   node benchmarks/run.js --only h2,grpc          # the HTTP/2 and gRPC scenarios
//   node benchmarks/run.js --load autocannon       # force the load generator
//   node benchmarks/run.js --only cpu --rate 5000  # the cpu scenario's fixed rate (default 2000 req/s)
//
// Only a full run (no --quick, no --only) replaces the committed results; other runs
// go to benchmarks/out/ (or --out DIR) so a partial run never passes for a full one.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadTool, loadToolVersion } from './lib/load.js';
import { renderMarkdown, renderSvg } from './lib/report.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..');
const SCENARIOS = ['passthrough', 'cpu', 'isolation', 'mirror-compare', 'dark-chaos', 'diff', 'capture', 'h2', 'grpc', 'killswitch'];
// A hard ceiling for the whole run. A full run takes about 10.5 minutes (620 s on
// 2026-12-02, with mirror-compare's and dark-chaos's extra paired rounds); the
// ceiling leaves room for the quiet-machine waits (up to 30 s) and a slow start or two.
const WATCHDOG_MS = 15 * 60 * 1000;

const USAGE = `usage: node benchmarks/run.js [--quick] [--only NAME[,NAME]] [--load wrk|autocannon] [--rate REQ_PER_S] [--out DIR]
scenarios: ${SCENARIOS.join(', ')}
`;

let args;
try {
  args = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      load: { type: 'string' },
      rate: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  process.stderr.write(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const only = (args.only ?? []).flatMap((s) => s.split(',')).filter(Boolean);
for (const n of only) {
  if (!SCENARIOS.includes(n)) {
    process.stderr.write(`unknown scenario "${n}"\n${USAGE}`);
    process.exit(2);
  }
}
if (args.load !== undefined && !['wrk', 'autocannon'].includes(args.load)) {
  process.stderr.write(`--load must be wrk or autocannon\n${USAGE}`);
  process.exit(2);
}
const rate = args.rate === undefined ? undefined : Number(args.rate);
if (rate !== undefined && !(Number.isInteger(rate) && rate > 0)) {
  process.stderr.write(`--rate must be a positive whole number of requests per second\n${USAGE}`);
  process.exit(2);
}
for (const f of ['dist/cli.js', 'dist/app.js', 'dist/compare/index.js']) {
  if (!existsSync(join(ROOT, f))) {
    process.stderr.write(`${f} not found: run npm run build first\n`);
    process.exit(1);
  }
}

const watchdog = setTimeout(() => {
  process.stderr.write(`benchmarks: still running after ${WATCHDOG_MS / 60000} minutes, giving up\n`);
  process.exit(1); // the 'exit' handler in lib/procs.js kills every child
}, WATCHDOG_MS);
watchdog.unref();

function git(...a) {
  try {
    return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** "AMD EPYC (family 26 model 2, 2596 MHz, virtual machine)" from /proc/cpuinfo where it can. */
function cpuDescription(cpus) {
  const model = cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown';
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return model;
  }
  const field = (name) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
  const details = [];
  if (field('cpu family') !== undefined) details.push(`family ${field('cpu family')} model ${field('model')}`);
  if (field('cpu MHz') !== undefined) details.push(`${Math.round(Number(field('cpu MHz')))} MHz`);
  if (/^flags\s*:.*\bhypervisor\b/m.test(info)) details.push('virtual machine');
  return details.length > 0 ? `${model} (${details.join(', ')})` : model;
}

function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpuDescription(cpus),
    cores: cpus.length,
    memoryGiB: (os.totalmem() / 1024 ** 3).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map((x) => x.toFixed(2)).join(', '),
  };
}

function umbraBuild() {
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown commit';
  const dirty = git('status', '--porcelain', '--', 'src') !== '';
  return `dist/ built from ${commit}${dirty ? ' plus uncommitted changes in src/' : ''}`;
}

const quick = args.quick;
const tool = loadTool(args.load);
const ctx = {
  quick,
  tool,
  rounds: quick ? 2 : 3,
  seconds: quick ? 2 : 3,
  warmupSec: quick ? 1 : 2,
  // The cpu scenario's fixed request rate (its default when undefined).
  rate,
  // Total time the suite may spend waiting for other processes to calm down.
  quietBudget: { leftMs: quick ? 5_000 : 30_000, perRunMs: quick ? 1_000 : 5_000 },
  log: (s) => process.stderr.write(`${s}\n`),
};
const selected = only.length > 0 ? SCENARIOS.filter((n) => only.includes(n)) : SCENARIOS;
const full = !quick && only.length === 0;
const outDir = args.out ?? (full ? HERE : join(HERE, 'out'));

const t0 = Date.now();
const report = {
  command: full ? 'npm run bench' : `node benchmarks/run.js ${process.argv.slice(2).join(' ')}`,
  date: new Date().toISOString(),
  machine: machine(),
  load: {
    tool,
    version: await loadToolVersion(tool),
    how: tool === 'wrk' ? '1 thread, own process' : 'forked worker process',
  },
  umbraBuild: umbraBuild(),
  quick,
  rounds: ctx.rounds,
  seconds: ctx.seconds,
  warmupSec: ctx.warmupSec,
  scenarios: [],
};

ctx.log(`benchmarks: ${selected.join(', ')} (${quick ? 'quick' : 'full'}, load: ${report.load.version})`);
for (const n of selected) {
  const s0 = Date.now();
  ctx.log(`${n}:`);
  try {
    const mod = await import(`./scenarios/${n}.js`);
    const result = await mod.run(ctx);
    report.scenarios.push({ ...result, seconds: (Date.now() - s0) / 1000 });
  } catch (err) {
    ctx.log(`${n} failed: ${err.stack ?? err}`);
    report.scenarios.push({ name: n, title: n, error: String(err.message ?? err), seconds: (Date.now() - s0) / 1000, tables: [], ratios: [], notes: [], bars: [] });
  }
}
report.wallSeconds = (Date.now() - t0) / 1000;

mkdirSync(outDir, { recursive: true });
const md = renderMarkdown(report);
writeFileSync(join(outDir, 'RESULTS.md'), md);
writeFileSync(join(outDir, 'results.svg'), renderSvg(report));
writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(md);
ctx.log(`\nwrote ${join(outDir, 'RESULTS.md')}, results.svg, results.json in ${report.wallSeconds.toFixed(0)} s`);
clearTimeout(watchdog);
process.exitCode = report.scenarios.some((s) => s.error) ? 1 : 0;
