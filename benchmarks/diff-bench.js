// Comparison engine benchmark: median time to compare JSON pairs inline, and the
// event-loop delay while 1 MiB pairs are compared inline vs through the pool.
//
//   npx tsc -p tsconfig.build.json && node benchmarks/diff-bench.js
//
// Prints a markdown table. `runDiffBench()` is exported for benchmarks/run.js.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const lib = await import(new URL('../dist/compare/index.js', import.meta.url).href).catch((err) => {
  throw new Error('dist/compare/index.js not found: run `npx tsc -p tsconfig.build.json` first', { cause: err });
});
const { ComparePool, compareAnswers, compileRules } = lib;

/** A JSON document of about `bytes`; `variant` 1 reorders keys and changes one price. */
function doc(bytes, variant) {
  const items = [];
  let size = 20;
  for (let i = 0; size < bytes; i++) {
    const item = {
      id: i,
      sku: `SKU-${String(i).padStart(8, '0')}`,
      name: `Item number ${i}`,
      price: variant === 1 && i === 3 ? 0.5 : i * 1.25,
      tags: ['alpha', 'beta', i % 2 === 0 ? 'even' : 'odd'],
      stock: { warehouse: 'eu-1', count: i % 17, reserved: false },
    };
    const ordered = variant === 1 ? Object.fromEntries(Object.entries(item).reverse()) : item;
    const s = JSON.stringify(ordered);
    size += s.length + 1;
    items.push(ordered);
  }
  return Buffer.from(JSON.stringify({ total: items.length, items }));
}

function answer(body) {
  return { status: 200, headers: { 'content-type': 'application/json' }, body, truncated: false };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const rules = compileRules({ ignoreHeaders: [], ignore: ['$.items[*].stock.reserved'], unordered: [], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] }, { maxDecodedBytes: 16 * 1024 * 1024 });
const ctx = { method: 'GET' };

/**
 * Median time of one comparison of a `bytes` pair, and in the same rounds the
 * median time of JSON.parse on both bodies alone: the floor any JSON diff pays,
 * so `ms / parseMs` is the engine's own cost as a ratio, whatever the machine.
 */
function timeInline(bytes, runs) {
  const live = answer(doc(bytes, 0));
  const dark = answer(doc(bytes, 1));
  const v = compareAnswers(live, dark, rules, ctx); // warm-up, and check it really differs
  if (v.result !== 'mismatch') throw new Error(`benchmark pair should differ, got ${v.result}`);
  const parseBoth = () => {
    JSON.parse(live.body.toString('utf8'));
    JSON.parse(dark.body.toString('utf8'));
  };
  for (let i = 0; i < Math.min(runs, 5); i++) {
    compareAnswers(live, dark, rules, ctx);
    parseBoth();
  }
  const times = [];
  const parses = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    compareAnswers(live, dark, rules, ctx);
    const t1 = process.hrtime.bigint();
    parseBoth();
    parses.push(Number(process.hrtime.bigint() - t1) / 1e6);
    times.push(Number(t1 - t0) / 1e6);
  }
  return { bytes: live.body.length, ms: median(times), parseMs: median(parses) };
}

/** Event-loop delay p99/max while comparing `count` 1 MiB pairs, one every `gapMs`. */
async function loopDelay(mode, count, gapMs) {
  const live = answer(doc(1024 * 1024, 0));
  const dark = answer(doc(1024 * 1024, 1));
  const pool = new ComparePool({ size: 1, maxQueue: count, inlineBelowBytes: 64 * 1024 });
  try {
    if (mode === 'pool') await pool.compare(live, dark, rules, ctx); // start the worker first
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const pending = [];
    for (let i = 0; i < count; i++) {
      if (mode === 'inline') compareAnswers(live, dark, rules, ctx);
      else pending.push(pool.compare(live, dark, rules, ctx));
      await sleep(gapMs);
    }
    await Promise.all(pending);
    h.disable();
    return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  } finally {
    await pool.close();
  }
}

export async function runDiffBench({ quick = false } = {}) {
  const sizes = [
    ['1 KB', 1024, quick ? 200 : 2000],
    ['100 KB', 100 * 1024, quick ? 20 : 200],
    ['1 MB', 1024 * 1024, quick ? 5 : 30],
  ];
  const inline = sizes.map(([label, bytes, runs]) => ({ label, runs, ...timeInline(bytes, runs) }));
  const count = quick ? 10 : 40;
  const delayInline = await loopDelay('inline', count, 10);
  const delayPool = await loopDelay('pool', count, 10);
  const lines = [
    `Node ${process.version}, ${process.platform}/${process.arch}. Pairs differ in one field and in key order.`,
    '',
    '| JSON pair | bytes | runs | median compare (inline) | median JSON.parse of both | compare / parse |',
    '|---|---:|---:|---:|---:|---:|',
    ...inline.map((r) => `| ${r.label} | ${r.bytes} | ${r.runs} | ${r.ms.toFixed(3)} ms | ${r.parseMs.toFixed(3)} ms | ${(r.ms / r.parseMs).toFixed(2)} |`),
    '',
    `Event-loop delay while comparing ${count} 1 MB pairs, one every 10 ms:`,
    '',
    '| mode | loop delay p99 | loop delay max |',
    '|---|---:|---:|',
    `| inline | ${delayInline.p99.toFixed(1)} ms | ${delayInline.max.toFixed(1)} ms |`,
    `| pool (1 worker) | ${delayPool.p99.toFixed(1)} ms | ${delayPool.max.toFixed(1)} ms |`,
  ];
  return { inline, delay: { inline: delayInline, pool: delayPool }, markdown: lines.join('\n') };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { markdown } = await runDiffBench({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${markdown}\n`);
}
