// The bound a compare worker checks before parsing a pair (heap-room.ts); the
// pool and end-to-end cases that crashed umbra without it are in pool-heap.test.ts.
import t from 'tap';
import { SCAN_ABOVE_BYTES, WORST_HEAP_PER_BYTE, largestAllocation, largestGrpcAllocation, parseIsSafe } from '../../src/compare/heap-room.js';

const MiB = 1024 * 1024;
const json = (s: string): Buffer => Buffer.from(s);
/** `[0,0,...]` with `n` elements, padded with spaces to at least `size` bytes. */
const numbers = (n: number, size = 0): Buffer => json(`[${'0,'.repeat(n - 1)}0]`.padEnd(size, ' '));

void t.test('small bodies are not scanned: nothing in them can pass the bound', async (t) => {
  t.equal(largestAllocation(numbers(700_000)), 0, `${numbers(700_000).length} bytes`);
  t.equal(largestAllocation(json('"'.padEnd(SCAN_ABOVE_BYTES, 'x'))), 0);
});

void t.test('arrays, objects, strings, lines and depth are each bounded', async (t) => {
  const pad = SCAN_ABOVE_BYTES + 1;
  t.equal(largestAllocation(numbers(1_000_000, pad)), 24 * 1_000_000, 'an array: 24 bytes an element');
  const obj = json(`{${Array.from({ length: 300_000 }, (_, i) => `"k${i}":0`).join(',')}}`.padEnd(pad, ' '));
  t.equal(largestAllocation(obj), 64 * 300_000, 'an object: 64 bytes a member');
  const str = json(`["${'a\\"'.repeat(600_000)}"]`.padEnd(pad, ' '));
  t.equal(largestAllocation(str), 2 * (1 + 3 * 600_000), 'a string: escaped quotes do not end it');
  const lines = json('\n'.repeat(2 * MiB));
  t.equal(largestAllocation(lines), 8 * (2 * MiB + 1), 'text: 8 bytes a line');
  const deep = json('['.repeat(SCAN_ABOVE_BYTES + 10));
  t.equal(largestAllocation(deep), 16 * (SCAN_ABOVE_BYTES + 10), 'unclosed nesting: the stack of open containers');
  const stray = json(`]]]}}${'0,'.repeat(SCAN_ABOVE_BYTES)}`);
  t.ok(largestAllocation(stray) >= 8, 'stray closers are ignored, not fatal');
});

void t.test('gRPC messages are bounded by their size alone', async (t) => {
  t.equal(largestGrpcAllocation(Buffer.alloc(MiB)), 0);
  t.equal(largestGrpcAllocation(Buffer.alloc(2 * MiB)), 32 * MiB);
});

void t.test('parseIsSafe: room for the texts first, then either no big allocation or room for the worst case', async (t) => {
  const small = json('{"a":1}');
  const typical = json(JSON.stringify(Array.from({ length: 80_000 }, (_, i) => ({ id: i, name: `item ${i}` }))));
  t.ok(typical.length > SCAN_ABOVE_BYTES);
  t.ok(parseIsSafe(small, typical, 96 * MiB), 'a typical body of several MiB');
  t.notOk(parseIsSafe(small, typical, typical.length), 'no room for its text');
  const big = numbers(2_000_000);
  t.notOk(parseIsSafe(small, big, 96 * MiB), 'an array of 2 million numbers and a 96 MiB heap');
  t.ok(parseIsSafe(small, big, WORST_HEAP_PER_BYTE * (small.length + big.length)), 'the same with room for the worst case');
  t.notOk(parseIsSafe(small, Buffer.alloc(2 * MiB), 96 * MiB, true), 'a gRPC message of 2 MiB');
  t.ok(parseIsSafe(small, Buffer.alloc(MiB), 96 * MiB, true), 'one of 1 MiB');
});
