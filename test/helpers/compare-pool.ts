// Shared by the compare pool's tests (pool.test.ts, pool-memory.test.ts).
import zlib from 'node:zlib';
import type { Answer } from '../../src/compare/index.js';
import { compileRules } from '../../src/compare/index.js';

export const rules = compileRules(
  { ignoreHeaders: [], ignore: ['$.items[*].updatedAt'], unordered: ['$.tags'], tolerance: 0, keyed: [], allowAdded: [], tolerances: [] },
  { maxDecodedBytes: 16 * 1024 * 1024 },
);
export const ctx = { method: 'GET' };

export function bigBody(n: number, tweak: number): Buffer {
  const items = Array.from({ length: n }, (_, i) => ({ id: i, price: i === tweak ? 999 : i * 1.5, updatedAt: Math.random(), name: `item ${i}` }));
  return Buffer.from(JSON.stringify({ tags: ['b', 'a'], total: 12345678901234567890n.toString(), items }));
}

export function answer(body: Buffer, headers: Record<string, string> = {}): Answer {
  return { status: 200, headers: { 'content-type': 'application/json', ...headers }, body, truncated: false };
}

let made: [string, Buffer, string][] | undefined;

/** Bodies that expand to far more than any cap, as a hostile dark backend sends them (made once: brotli at quality 11 takes seconds). */
export function bombs(): [string, Buffer, string][] {
  if (made !== undefined) return made;
  const zeros = Buffer.alloc(64 * 1024 * 1024, 0x20);
  const gz = zlib.gzipSync(zeros, { level: 9 });
  made = [
    ['br', zlib.brotliCompressSync(zeros, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }), 'br'],
    ['gzip', gz, 'gzip'],
    ['deflate', zlib.deflateSync(zeros, { level: 9 }), 'deflate'],
    ['raw deflate', zlib.deflateRawSync(zeros, { level: 9 }), 'deflate'],
    ['gzip inside gzip', zlib.gzipSync(gz, { level: 9 }), 'gzip, gzip'],
  ];
  return made;
}

/**
 * 8 MiB of JSON (the default limits.maxDecodedBytes) made to stop the whole
 * process under the default 96 MiB worker heap: 3.12 MiB of arrays nested ten
 * deep nearly fill the heap, then one array of 2.5 million numbers asks for
 * 20 MB at once, more than the 16 MiB node lends a worker to end cleanly.
 */
export function heapCrasher(): Buffer {
  const unit = '[[[[[[[[[[]]]]]]]]]],';
  const filler = unit.repeat(Math.floor((3.12 * 1024 * 1024) / unit.length));
  const numbers = Math.floor((8 * 1024 * 1024 - 100 - filler.length) / 2) - 4;
  return Buffer.from(`[${filler}[${'0,'.repeat(numbers)}0]]`);
}
