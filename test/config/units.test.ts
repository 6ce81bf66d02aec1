import t from 'tap';
import { formatSize, parseDuration, parseSize } from '../../src/config/units.js';

void t.test('durations', (t) => {
  const table: [string | number, number | undefined][] = [
    ['250ms', 250],
    ['5s', 5_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1.5s', 1_500],
    ['0ms', 0],
    ['1500', 1_500],
    [1500, 1_500],
    [' 5s ', 5_000],
    ['5', 5],
    ['5 s', undefined],
    ['5S', undefined],
    ['5sec', undefined],
    ['-5s', undefined],
    [-1, undefined],
    ['1m30s', undefined],
    ['s', undefined],
    ['', undefined],
    ['5constructor', undefined],
    [Number.POSITIVE_INFINITY, undefined],
    [Number.NaN, undefined],
  ];
  for (const [input, expected] of table) t.equal(parseDuration(input), expected, `parseDuration(${String(input)})`);
  t.end();
});

void t.test('sizes', (t) => {
  const table: [string | number, number | undefined][] = [
    ['512KiB', 512 * 1024],
    ['1MiB', 1_048_576],
    ['1GiB', 1_073_741_824],
    ['10KB', 10_000],
    ['1MB', 1_000_000],
    ['2GB', 2_000_000_000],
    ['100B', 100],
    ['4096', 4096],
    [4096, 4096],
    ['1.5KiB', 1536],
    ['1kib', undefined],
    ['1mb', undefined],
    ['1 MiB', undefined],
    ['1TiB', undefined],
    ['-1MiB', undefined],
    ['MiB', undefined],
    ['toString', undefined],
  ];
  for (const [input, expected] of table) t.equal(parseSize(input), expected, `parseSize(${String(input)})`);
  t.end();
});

void t.test('sizes written back as the config writes them', (t) => {
  const table: [number, string][] = [
    [1024 ** 3, '1GiB'],
    [2 * 1024 ** 3, '2GiB'],
    [64 * 1024 ** 2, '64MiB'],
    [1536 * 1024 ** 2, '1536MiB'],
    [512 * 1024, '512KiB'],
    [1500, '1500B'],
    [0, '0B'],
  ];
  for (const [bytes, expected] of table) {
    t.equal(formatSize(bytes), expected, `formatSize(${bytes})`);
    t.equal(parseSize(expected), bytes, `parseSize(${expected}) reads it back`);
  }
  t.end();
});
