// docs/release.md's numbers are the verdict's own: the sizing block is exactly what
// scripts/release-sizing.ts prints from src/observe/verdict.ts, the gate: and ramp:
// block is what the config loader applies, and the worked example's figures follow
// from the same functions. A change to the verdict or the defaults fails here until
// the doc is regenerated.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import { comparisonsToPass, wilson } from '../../src/observe/verdict.js';
import {
  DEFAULT_MAX_MISMATCH_RATE,
  LONGEST_WINDOW_MINUTES,
  MISMATCHES,
  RATES,
  TOO_LONG,
  TRAFFIC,
  comparisonsToPassWith,
  formatCount,
  formatMinutes,
  minutesToVerdict,
  sizingTable,
} from '../../scripts/release-sizing.js';

const doc = readFileSync(new URL('../../docs/release.md', import.meta.url), 'utf8');
/** The prose with line breaks folded, for sentences that wrap. */
const prose = doc.replace(/\s+/g, ' ');

const BASE = 'live:\n  url: http://127.0.0.1:3000\n';
const load = (yaml: string) => parseConfigText(BASE + yaml, 'release.yaml', {}, { containerLimit: null });
const defaults = load('');

function between(text: string, name: string): string {
  const begin = `<!-- ${name}:begin -->\n`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from || text.indexOf(begin, from + 1) >= 0 || text.indexOf(end, to + 1) >= 0) return '';
  return text.slice(from + begin.length, to);
}

void t.test('the sizing block is the generator\'s output', (t) => {
  const block = between(doc, 'sizing');
  t.not(block, '', 'docs/release.md has one <!-- sizing:begin --> … <!-- sizing:end --> block');
  t.equal(block, sizingTable(), 'identical to `scripts/release-sizing.ts` output: regenerate and paste it');
  t.end();
});

void t.test('the first table: one row a rate, one column a traffic', (t) => {
  const rows = sizingTable().split('\n').filter((l) => l.startsWith('| ')).slice(0, RATES.length + 1);
  const [head, ...body] = rows;
  t.equal(head?.split(' | ').length, TRAFFIC.length + 2, 'rate, count, then one column per traffic');
  t.equal(body.length, RATES.length);
  RATES.forEach((rate, i) => {
    const cells = (body[i] ?? '').slice(2, -2).split(' | ');
    t.equal(cells[1], formatCount(comparisonsToPass(rate)), `${rate}: the count is comparisonsToPass(${rate})`);
    t.equal(cells.length, TRAFFIC.length + 2, `${rate}: a cell for each traffic`);
  });
  const marked = body.filter((r) => r.includes('(default)'));
  t.equal(marked.length, 1, 'one row is marked as the default');
  t.equal(DEFAULT_MAX_MISMATCH_RATE, defaults.gate.maxMismatchRate, 'and it is the config\'s default gate.maxMismatchRate');
  t.ok(RATES.includes(DEFAULT_MAX_MISMATCH_RATE), 'which has a row');
  t.end();
});

void t.test('each count is the least n whose Wilson upper bound reaches the rate', (t) => {
  for (const rate of RATES) {
    for (const k of MISMATCHES) {
      const n = comparisonsToPassWith(k, rate);
      t.ok(wilson(k, n).upper <= rate, `${k} in ${n}: upper bound ${wilson(k, n).upper} <= ${rate}`);
      t.ok(wilson(k, n - 1).upper > rate, `${k} in ${n - 1}: still above ${rate}`);
    }
    t.equal(comparisonsToPassWith(0, rate), comparisonsToPass(rate), `${rate}: no mismatch is comparisonsToPass`);
  }
  const counts = MISMATCHES.map((k) => comparisonsToPassWith(k, DEFAULT_MAX_MISMATCH_RATE));
  t.ok(counts.every((n, i) => i === 0 || n > (counts[i - 1] ?? Infinity)), `each mismatch needs more: ${counts.join(', ')}`);
  t.end();
});

void t.test('time to a verdict: whole minutes, at least one, past 6 h marked', (t) => {
  t.equal(minutesToVerdict(381, 10), 39, 'rounded up');
  t.equal(minutesToVerdict(381, 10_000), 1, 'at least a minute');
  t.equal(minutesToVerdict(600, 100), 6, 'exact');
  t.equal(formatMinutes(39), '39 min');
  t.equal(formatMinutes(60), '1 h');
  t.equal(formatMinutes(77), '1 h 17 min');
  t.equal(formatMinutes(LONGEST_WINDOW_MINUTES), '6 h', 'the longest window itself fits');
  t.equal(formatMinutes(LONGEST_WINDOW_MINUTES + 1), TOO_LONG, 'a minute more does not');
  t.equal(formatCount(38411), '38 411');
  t.equal(formatCount(999), '999');
  t.end();
});

void t.test('6 h is the longest gate.window the config accepts', (t) => {
  const longest = load(`gate:\n  window: ${LONGEST_WINDOW_MINUTES}m\n`);
  t.equal(longest.gate.window, LONGEST_WINDOW_MINUTES * 60_000, `${LONGEST_WINDOW_MINUTES}m is accepted`);
  t.throws(() => load(`gate:\n  window: ${LONGEST_WINDOW_MINUTES + 1}m\n`), ConfigError, 'a minute more is refused');
  t.end();
});

void t.test('the doc\'s gate: and ramp: block is what umbra applies', (t) => {
  const block = /```yaml\n(gate:[\s\S]*?)```/.exec(doc)?.[1] ?? '';
  t.match(block, /^ramp:/m, 'the block has gate: and ramp:');
  const config = load(block);
  t.same(config.gate, defaults.gate, 'its gate: values are the defaults');
  const rampDefaults = load('ramp:\n  steps: [0.5]\n').ramp;
  t.same(config.ramp, { steps: [0.01, 0.05, 0.25, 1.0], hold: rampDefaults?.hold, onFail: rampDefaults?.onFail }, 'its ramp: hold and onFail are the defaults');
  t.end();
});

void t.test('the minComparisons claim: the default is below every count in the table', (t) => {
  t.match(prose, new RegExp(`\`minComparisons\` \\(${defaults.gate.minComparisons}\\) is below every count in the table`));
  for (const rate of RATES) t.ok(comparisonsToPass(rate) > defaults.gate.minComparisons, `${rate}: ${comparisonsToPass(rate)} > ${defaults.gate.minComparisons}`);
  t.end();
});

void t.test('the figures in the prose follow from the verdict', (t) => {
  const upper = /0 mismatches in 100 comparisons is an observed rate of 0%, but the upper bound is still ([\d.]+)%/.exec(prose)?.[1];
  t.equal(upper, (wilson(0, 100).upper * 100).toFixed(1), 'the Wilson example');

  const m = /for `get-product` at ([\d ]+) requests a minute over (\d+) pods/.exec(prose);
  const perMinute = Number(m?.[1]?.replace(/ /g, '')) / Number(m?.[2]);
  t.ok(perMinute > 0, 'the worked example names its traffic');
  const first = perMinute * 0.01;
  const wide = perMinute * 0.25;
  const passAt = comparisonsToPass(DEFAULT_MAX_MISMATCH_RATE);
  const low = comparisonsToPass(0.01);
  const oneMismatch = comparisonsToPassWith(1, DEFAULT_MAX_MISMATCH_RATE);
  const lowWindow = Number(/maxMismatchRate: 0\.01, window: (\d+)m \}/.exec(prose)?.[1]);
  const wideWindow = Number(/so `window: (\d+)m` holds a pass/.exec(prose)?.[1]);
  const expected = [
    `At the ramp's first step (0.01) each pod mirrors ${first} a minute`,
    `would take about ${Math.round(minutesToVerdict(passAt, first) / 60)} h, longer than any window`,
    `on the route: ${formatCount(low)} comparisons, ${minutesToVerdict(low, first)} min)`,
    `At 0.25 each pod mirrors ${wide} a minute: ${formatCount(passAt)} comparisons in ${minutesToVerdict(passAt, wide)} min`,
    `One mismatch raises the need to ${formatCount(oneMismatch)}, ${minutesToVerdict(oneMismatch, wide)} min`,
  ];
  for (const s of expected) t.ok(prose.includes(s), s);
  t.ok(minutesToVerdict(passAt, first) > LONGEST_WINDOW_MINUTES, 'the first step really is past the longest window');
  t.ok(minutesToVerdict(low, first) <= lowWindow, `the lower bar's ${minutesToVerdict(low, first)} min fit in the ${lowWindow}m window suggested`);
  t.ok(minutesToVerdict(passAt, wide) <= wideWindow, `${minutesToVerdict(passAt, wide)} min fit in the ${wideWindow}m window suggested`);
  t.ok(minutesToVerdict(oneMismatch, wide) > wideWindow, 'and one mismatch needs more than it holds');
  t.end();
});
