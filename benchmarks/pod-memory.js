// umbra's memory the way the shipped pod runs it: inside a memory cgroup with the
// limit of the shipped manifest (deploy/kubernetes/umbra-sidecar.yaml, container
// `umbra`), on the runtime the image ships (pass its node with --node), at full
// load, 100 % mirrored to a healthy dark and to the chaos dark of `npm run bench`.
//
//   node benchmarks/pod-memory.js [--node PATH] [--flags '--a-v8-flag=N']... [--limit 192Mi] [--seconds 3] [--rounds 6] [--out FILE]
//
// V8 sizes its heap, the young generation above all, from the memory it sees: the
// machine's, or a cgroup's limit. So the same umbra on the same load takes very
// different room in a pod and on a bare 24 GiB machine; this measures both, in one
// run. Each --flags adds a healthy and a chaos row in the pod's limit with those
// node flags (e.g. a young generation size), to weigh a setting against the default.
// --limit replaces the manifest's limit, to try another size. Every umbra runs at once, and each round drives them one after another in turn,
// so their req/s share the machine's weather. It needs a memory cgroup it may create (root, cgroup v1 or v2, as on the
// benchmark machine); without one it says why and exits with status 3. No CPU limit is
// set: full load is the worst case for memory this machine can make. Writes a
// Markdown report (default benchmarks/POD-MEMORY.md) generated, never typed.
// Everything talks to 127.0.0.1 and the run has a fixed length.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fmtMiB, fmtRatio, fmtRps, median, pairedMedian } from './lib/format.js';
import { runLoad } from './lib/load.js';
import { cpuSecondsOf, memoryOf, startBackend, startChaosBackend } from './lib/procs.js';
// After procs.js: its exit handler kills umbra before pod.js's removes the cgroups.
import { containerResources, imageNodeFlags, memoryController, parseQuantity } from './lib/pod.js';
import { byLabel, scrapeMetrics, startUmbraProcess, sumMetric } from './lib/umbra.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MANIFEST = 'deploy/kubernetes/umbra-sidecar.yaml';
const USAGE = "usage: node benchmarks/pod-memory.js [--node PATH] [--flags '--a-v8-flag=N']... [--limit 192Mi] [--seconds 3] [--rounds 6] [--out FILE]\n";

let values;
try {
  values = parseArgs({
    options: {
      node: { type: 'string', default: process.execPath },
      flags: { type: 'string', multiple: true, default: [] },
      limit: { type: 'string' },
      seconds: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '6' },
      out: { type: 'string', default: `${ROOT}benchmarks/POD-MEMORY.md` },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  process.stderr.write(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
if (!(Number.isInteger(SECONDS) && SECONDS > 0 && Number.isInteger(ROUNDS) && ROUNDS > 0)) {
  process.stderr.write(`--seconds and --rounds take positive integers\n${USAGE}`);
  process.exit(2);
}

const nodeVersion = execFileSync(values.node, ['--version'], { encoding: 'utf8' }).trim();
const shippedFlags = imageNodeFlags(readFileSync(`${ROOT}Dockerfile`, 'utf8'));
const resources = containerResources(readFileSync(`${ROOT}${MANIFEST}`, 'utf8'), 'umbra');
let limit = resources.memoryLimit;
if (values.limit !== undefined) {
  try {
    limit = parseQuantity(values.limit);
  } catch (err) {
    process.stderr.write(`--limit: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
}
if (limit === null) {
  process.stderr.write(`${MANIFEST}: the umbra container has no memory limit to measure against (give one with --limit)\n`);
  process.exit(2);
}
const controller = memoryController();
if (controller.reason !== undefined) {
  process.stderr.write(`pod-memory: cannot run umbra under a memory limit here: ${controller.reason}\n`);
  process.exit(3);
}

const shipped = shippedFlags.length === 0 ? 'as shipped (no node flags)' : `as shipped (\`${shippedFlags.join(' ')}\`)`;
const CONFIGS = [
  ...(shippedFlags.length === 0
    ? []
    : [
        { label: `healthy dark, pod limit, ${shipped}`, dark: 'healthy', limited: true, nodeArgs: shippedFlags },
        { label: `chaos dark, pod limit, ${shipped}`, dark: 'chaos', limited: true, nodeArgs: shippedFlags },
      ]),
  { label: "healthy dark, pod limit, V8's defaults", dark: 'healthy', limited: true, nodeArgs: [] },
  { label: "chaos dark, pod limit, V8's defaults", dark: 'chaos', limited: true, nodeArgs: [] },
  { label: "healthy dark, no limit, V8's defaults", dark: 'healthy', limited: false, nodeArgs: [] },
  { label: "chaos dark, no limit, V8's defaults", dark: 'chaos', limited: false, nodeArgs: [] },
  ...values.flags.flatMap((f) => [
    { label: `healthy dark, pod limit, \`${f}\``, dark: 'healthy', limited: true, nodeArgs: f.split(/\s+/).filter(Boolean) },
    { label: `chaos dark, pod limit, \`${f}\``, dark: 'chaos', limited: true, nodeArgs: f.split(/\s+/).filter(Boolean) },
  ]),
].map((c, i) => ({ ...c, id: i }));

/** The first 'umbra started' log line's budget fields. */
function startedLine(text) {
  for (const line of text.split('\n')) {
    try {
      const o = JSON.parse(line);
      if (o.msg === 'umbra started') return o;
    } catch {
      // not a JSON line
    }
  }
  return {};
}

async function start(cfg, backends) {
  const group = cfg.limited ? controller.create(`umbra-pod-memory-${process.pid}-${cfg.id}`, limit) : null;
  const launcher = group === null ? [] : group.launcher;
  const dark = cfg.dark === 'chaos' ? backends.chaos : backends.healthy;
  try {
    const umbra = await startUmbraProcess({
      liveUrl: backends.live.url,
      extraYaml: ['dark:', `  url: ${dark.url}`, 'mirror:', '  sample: 1.0'].join('\n'),
      node: values.node,
      nodeArgs: cfg.nodeArgs,
      launcher,
      logLevel: 'info',
    });
    return { cfg, group, umbra, started: startedLine(umbra.child.stdoutText), rounds: [], peakBuffered: 0 };
  } catch (err) {
    group?.remove();
    throw err;
  }
}

const alive = (run) => run.umbra.child.exitCode === null && run.umbra.child.signalCode === null;

/** /metrics, or null from an umbra that is gone (OOM-killed: the report says so, the run goes on). */
async function metricsOf(run) {
  try {
    return await scrapeMetrics(run.umbra.adminUrl);
  } catch {
    return null;
  }
}

/** One round of load: its req/s, and umbra's CPU (all threads) per request in µs; 0 and null once umbra is gone. */
async function round(run, seconds) {
  if (!alive(run)) return { rps: 0, cpuUs: null };
  const cpu0 = cpuSecondsOf(run.umbra.pid);
  const r = await runLoad({ url: `${run.umbra.proxyUrl}/api/items`, seconds });
  const cpu1 = alive(run) ? cpuSecondsOf(run.umbra.pid) : null;
  const m = await metricsOf(run);
  if (m !== null) run.peakBuffered = Math.max(run.peakBuffered, sumMetric(m, 'umbra_shadow_buffered_bytes') ?? 0);
  const requests = r.rps * r.seconds;
  return { rps: r.rps, cpuUs: cpu0 === null || cpu1 === null || !(requests > 0) ? null : ((cpu1 - cpu0) * 1e6) / requests };
}

async function finish(run) {
  const { cfg, group, umbra } = run;
  try {
    const m = (await metricsOf(run)) ?? [];
    const mem = memoryOf(umbra.pid);
    return {
      ...cfg,
      alive: alive(run),
      rps: Math.max(...run.rounds.map((x) => x.rps)),
      rounds: run.rounds,
      cpuUs: median(run.rounds.map((x) => x.cpuUs).filter((x) => x !== null)),
      hwm: mem.hwm,
      charged: group?.peakBytes() ?? null,
      oomKills: group?.oomKills() ?? null,
      newSpace: sumMetric(m, 'nodejs_heap_space_size_total_bytes', { space: 'new' }),
      heapTotal: sumMetric(m, 'nodejs_heap_size_total_bytes'),
      budget: run.started.maxBufferedBytes ?? null,
      budgetFrom: run.started.maxBufferedBytesFrom ?? null,
      overMemory: m.length === 0 ? null : (byLabel(m, 'umbra_comparison_skips_total', 'reason').over_memory ?? 0),
      peakBuffered: run.peakBuffered,
    };
  } finally {
    await umbra.stop();
    group?.remove();
  }
}

const backends = { live: await startBackend('fast'), healthy: await startBackend('fast'), chaos: await startChaosBackend() };
const runs = [];
const rows = [];
try {
  for (const cfg of CONFIGS) runs.push(await start(cfg, backends));
  for (const run of runs) await round(run, 2); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    // Every second round in reverse order, so no configuration always goes first.
    for (const run of i % 2 === 0 ? runs : [...runs].reverse()) {
      run.rounds.push(await round(run, SECONDS));
      const last = run.rounds.at(-1);
      process.stderr.write(`  round ${i + 1}, ${run.cfg.label}: ${Math.round(last.rps)} req/s, ${last.cpuUs === null ? '—' : last.cpuUs.toFixed(1)} µs CPU per request\n`);
    }
  }
  for (const run of runs) rows.push(await finish(run));
} finally {
  for (const run of runs) if (!rows.some((r) => r.id === run.cfg.id)) await run.umbra.stop().finally(() => run.group?.remove());
  await Promise.all(Object.values(backends).map((b) => b.stop()));
}

/** The same dark, in the pod's limit, with no node flags: what every other row is weighed against. */
const baseOf = (r) => rows.find((b) => b.dark === r.dark && b.limited && b.nodeArgs.length === 0);
const vsBase = (r, field) => (baseOf(r) === r ? (r.rounds.some((x) => x.rps > 0) ? '1' : 'n/a') : fmtRatio(pairedMedian(r.rounds, baseOf(r)?.rounds, field)));
/** This run's command line, with the path of a --node other than the runner's own shown as what it is. */
const command = ['node benchmarks/pod-memory.js', ...process.argv.slice(2).map((a) => (a === values.node || a === `--node=${values.node}` ? (a.startsWith('--node=') ? `--node=<Node.js ${nodeVersion}>` : `<Node.js ${nodeVersion}>`) : a))].join(' ');
const mb = (b) => (b === null || b === undefined ? '—' : `${(b / 1e6).toFixed(1)} MB (${fmtMiB(b)})`);
const limitText =
  values.limit === undefined ? `${fmtMiB(limit)} (the \`umbra\` container's \`limits.memory\` in ${MANIFEST})` : `${fmtMiB(limit)} (--limit ${values.limit}; the manifest's is ${fmtMiB(resources.memoryLimit)})`;
const lines = [
  '# umbra in the shipped pod\'s memory limit',
  '',
  `Generated by \`${command}\` (benchmarks/pod-memory.js) — do not edit by hand; run it again. See [README.md](README.md).`,
  '',
  '| what | value |',
  '| --- | --- |',
  `| date | ${new Date().toISOString()} |`,
  `| CPU | ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores |`,
  `| memory | ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB |`,
  `| umbra's runtime | Node.js ${nodeVersion} |`,
  `| memory limit | ${limitText}, as a cgroup v${controller.version} limit; no CPU limit |`,
  `| load | wrk, 32 connections; every umbra runs at once, each gets a 2 s warm-up, then ${ROUNDS} rounds of ${SECONDS} s in which they are driven one after another (every second round in reverse order); 100 % of requests mirrored (\`mirror: { sample: 1.0 }\`), default limits |`,
  '',
  "| umbra | still running | OOM kills | live req/s (best round) | req/s by round | umbra CPU per request (median round) | req/s / V8's defaults in the pod | CPU per request / V8's defaults in the pod | peak RSS (VmHWM) | peak charged to the cgroup | V8 young generation | V8 heap | shadow budget in force | most buffered at a round's end | over_memory skips |",
  '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
  ...rows.map((r) =>
    [
      r.label,
      r.alive ? 'yes' : '**no**',
      r.oomKills ?? '—',
      fmtRps(r.rps),
      r.rounds.map((x) => fmtRps(x.rps)).join(', '),
      r.cpuUs === null || Number.isNaN(r.cpuUs) ? '—' : `${r.cpuUs.toFixed(1)} µs`,
      vsBase(r, 'rps'),
      vsBase(r, 'cpuUs'),
      mb(r.hwm),
      mb(r.charged),
      fmtMiB(r.newSpace),
      fmtMiB(r.heapTotal),
      r.budget === null ? '—' : `${fmtMiB(r.budget)} (${r.budgetFrom})`,
      fmtMiB(r.peakBuffered),
      r.overMemory === null ? '—' : String(r.overMemory),
    ].join(' | ').replace(/^/, '| ').replace(/$/, ' |'),
  ),
  '',
  '- Peak RSS is the process\'s VmHWM over its whole life. It counts the pages of the node binary and its libraries the process touched, which the kernel charges to whichever cgroup read them first (here, not umbra\'s): the cgroup\'s own peak is what its limit and the OOM killer go by.',
  '- The two "/ V8\'s defaults in the pod" columns divide each round by the same round of the row with the same dark, in the pod\'s limit, with no node flags, and give the median over rounds.',
  `- The image starts umbra with ${shippedFlags.length === 0 ? 'no node flags' : `\`node ${shippedFlags.join(' ')}\``} (its ENTRYPOINT in the Dockerfile); the "as shipped" rows use the same.`,
  '- "No limit" rows run the same umbra outside any cgroup limit, on this machine\'s memory: V8 then sizes its young generation from the machine, not the pod.',
  '',
];
writeFileSync(values.out, lines.join('\n'));
process.stdout.write(`${lines.join('\n')}\nwrote ${values.out}\n`);
