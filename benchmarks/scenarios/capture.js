// The cost of capture (DESIGN §10) on the live path: umbra with no dark backend and
// capture off, then every request captured to a directory (plain JSON Lines, then
// gzip), then every request captured to a full disk (a tiny tmpfs: every write
// past the first few fails with ENOSPC, so records are dropped and counted).
// Capture must never slow live: the full-disk row shows what dropping costs.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { failures, fmtCores, fmtMs, fmtMiB, fmtPct, fmtRps, fmtSpread, ratio } from '../lib/format.js';
import { measureRounds } from '../lib/measure.js';
import { removeTempDir, startBackend, tempDir } from '../lib/procs.js';
import { byLabel, scrapeMetrics, startUmbraProcess } from '../lib/umbra.js';

export const name = 'capture';
export const title = 'Capture: the cost of recording traffic on the live path';
export const about =
  'umbra with no dark backend: capture off, `capture: { sample: 0.01 }` (a typical share), then `capture: { sample: 1 }` (every exchange written as a JSON Lines ' +
  'record, ~1 KB answer), then the same with `gzip: true`, then capture to a full disk (a 256 KiB tmpfs the first ' +
  'records fill, so later writes fail with ENOSPC and are dropped and counted; without the right to mount, a directory ' +
  'path under a regular file). 32 connections. ' +
  'The written/dropped columns are `umbra_capture_records_total` over the measured rounds.';

const CONNECTIONS = 32;

function captureYaml(dir, extra = '', sample = 1) {
  return ['capture:', `  dir: ${dir}`, `  sample: ${sample}`, '  maxFileBytes: 16MiB', '  maxTotalBytes: 256MiB', extra].filter(Boolean).join('\n');
}

/**
 * A directory on a full disk: a 256 KiB tmpfs (root only), which the first records
 * fill, so every later write fails with ENOSPC. Without the right to mount, a
 * directory path under a regular file (every open fails with ENOTDIR): the same
 * path through umbra (write error, drop, count, retry later), labelled as such.
 */
function fullDisk(root) {
  const dir = join(root, 'full');
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { stdio: 'ignore' });
    return { dir, label: 'full disk (256 KiB tmpfs)', cleanup: () => execFileSync('umount', [dir], { stdio: 'ignore' }) };
  } catch {
    const file = join(root, 'not-a-dir');
    writeFileSync(file, '');
    return { dir: join(file, 'capture'), label: 'unwritable dir (no right to mount a tmpfs)', cleanup: () => undefined };
  }
}

function records(m) {
  return byLabel(m, 'umbra_capture_records_total', 'result');
}

function dirBytes(dir) {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const f of readdirSync(dir)) total += statSync(join(dir, f)).size;
  return total;
}

export async function run(ctx) {
  const live = await startBackend('fast');
  const root = tempDir('umbra-bench-capture-');
  const plain = join(root, 'plain');
  const gzip = join(root, 'gzip');
  const onePct = join(root, 'one-percent');
  mkdirSync(plain);
  mkdirSync(gzip);
  mkdirSync(onePct);
  const full = fullDisk(root);
  const CONFIGS = [
    ['off', ''],
    ['capture 1 %', captureYaml(onePct, '', 0.01)],
    ['capture 100 %', captureYaml(plain)],
    ['capture 100 %, gzip', captureYaml(gzip, '  gzip: true')],
    [`capture 100 %, ${full.label}`, captureYaml(full.dir)],
  ];
  let results;
  try {
    results = await measureRounds(
      ctx,
      CONFIGS.map(([label, yaml]) => ({
        key: label,
        start: async () => {
          const umbra = await startUmbraProcess({ liveUrl: live.url, extraYaml: yaml });
          return {
            url: `${umbra.proxyUrl}/api/items`,
            pid: umbra.pid,
            stop: () => umbra.stop(),
            beforeRun: async () => records(await scrapeMetrics(umbra.adminUrl)),
            afterRun: async (before) => {
              const after = records(await scrapeMetrics(umbra.adminUrl));
              return { written: (after.written ?? 0) - (before.written ?? 0), dropped: (after.dropped ?? 0) - (before.dropped ?? 0) };
            },
          };
        },
      })),
      { connections: CONNECTIONS },
    );
  } finally {
    await live.stop();
  }
  const bytes = { 'capture 1 %': dirBytes(onePct), 'capture 100 %': dirBytes(plain), 'capture 100 %, gzip': dirBytes(gzip) };
  full.cleanup();
  removeTempDir(root);
  const rows = CONFIGS.map(([label]) => ({ config: label, ...results[label] }));
  const off = rows[0];
  const notes = [];
  for (const r of rows) if (failures(r) > 0) notes.push(`${r.config}: ${failures(r)} failed live requests over all rounds.`);
  const total = (r, k) => r.rounds.reduce((a, x) => a + (x.extra?.[k] ?? 0), 0);
  const capturing = rows.slice(1, 4).every((r) => total(r, 'written') > 0);
  if (!capturing) notes.push('**umbra wrote no capture record** in a capture row: the ratios are not the cost of capture.');
  const fullRow = rows[4];
  notes.push(`${fullRow.config}: ${total(fullRow, 'written')} records written (the first ones fill the disk), ${total(fullRow, 'dropped')} dropped and counted over the measured rounds.`);
  return {
    name,
    title,
    about,
    tables: [
      {
        head: ['umbra', 'req/s', 'p50', 'p99', 'failed', 'records written', 'records dropped', 'files on disk', 'CPU (% of a core)', 'peak RSS (VmHWM)', 'req/s over rounds', 'other load (cores)'],
        rows: rows.map((r) => [
          r.config,
          fmtRps(r.rps),
          fmtMs(r.p50Ms),
          fmtMs(r.p99Ms),
          String(failures(r)),
          String(total(r, 'written')),
          String(total(r, 'dropped')),
          bytes[r.config] === undefined ? '–' : fmtMiB(bytes[r.config]),
          fmtPct(r.cpuPercent),
          fmtMiB(r.rssHwmBytes),
          fmtSpread(r),
          fmtCores(r.otherCores),
        ]),
      },
    ],
    ratios: rows.slice(1).flatMap((r) => [
      { name: `umbra ${r.config} / off, req/s`, value: capturing ? ratio(r.rps, off.rps) : null, note: capturing ? undefined : 'no record written' },
      { name: `umbra ${r.config} / off, p99 latency`, value: capturing ? ratio(r.p99Ms, off.p99Ms) : null, note: capturing ? undefined : 'no record written' },
    ]),
    notes,
    bars: rows.map((r) => ({ label: `umbra, ${r.config}`, rps: r.rps })),
    raw: rows,
  };
}
