// Whether a compare worker may parse a pair without risking the whole process.
//
// A worker that runs out of its V8 heap (limits.compareHeap) is ended cleanly
// only when the allocation that crossed the cap fits in the 16 MiB node lends
// it to unwind (ERR_WORKER_OUT_OF_MEMORY, skip `compare_heap`). One larger
// allocation made while the heap is nearly full is V8's "FATAL ERROR: Reached
// heap limit": the process aborts, live traffic with it. A dark answer of 8 MiB
// (the default limits.maxDecodedBytes; a few KiB gzipped) did it: 3 MiB of
// arrays nested deep filled the heap, then one array of 2.5 million numbers
// asked for 20 MB.
//
// So before parsing, the worker bounds the largest single allocation parsing
// and diffing a body can make (largestAllocation: one pass over its bytes,
// only for bodies that could make one past BIG_ALLOCATION_BYTES at all). A
// pair with none past it is parsed: at worst it fills the heap and its worker
// is ended cleanly. A pair with one is parsed only when even its worst case
// (WORST_HEAP_PER_BYTE) fits in the heap left, so the heap is never near full;
// otherwise it is skipped `compare_heap` unparsed. The text of both bodies is
// made before either is parsed (body.ts), while the heap holds little else: it
// needs 2 bytes a byte of room at most, checked first.

/** Single allocations up to this size cannot take the process down (node lends an ending worker 16 MiB). */
export const BIG_ALLOCATION_BYTES = 12 * 1024 * 1024;

/**
 * Bodies up to this size cannot make an allocation past BIG_ALLOCATION_BYTES
 * once their text is made: no array, object, string or list of lines in them
 * is bigger than 8 bytes a byte of body.
 */
export const SCAN_ABOVE_BYTES = BIG_ALLOCATION_BYTES / 8;

/**
 * Heap a body may need per byte, whatever its structure: an array nested in an
 * array costs 56 bytes per two bytes of text under JSON.parse, more under the
 * exact parser (json-parse.ts: arrays grown by push, objects in dictionary mode).
 */
export const WORST_HEAP_PER_BYTE = 100;

/**
 * An upper bound of the largest single heap allocation parsing `b` (as JSON,
 * as text split into lines, or as JSON.parse or the exact parser would) can
 * make once its text is made, in bytes; 0 for a body too small to make one
 * past BIG_ALLOCATION_BYTES.
 * Outside strings it counts each array's and object's members and the nesting
 * depth; inside them their length. Bytes that are not JSON are bounded as well
 * (a stray `]` is ignored), never rejected: parsing decides what is JSON.
 */
export function largestAllocation(b: Uint8Array): number {
  const n = b.length;
  if (n <= SCAN_ABOVE_BYTES) return 0;
  // Its lines as an array (a text body is split). Its text is not counted
  // here: it is made before anything is parsed (parseIsSafe checks for it).
  let lines = 1;
  for (let i = b.indexOf(0x0a); i !== -1; i = b.indexOf(0x0a, i + 1)) lines++;
  let largest = 8 * lines;
  // Members of each open array or object, by depth.
  let counts = new Uint32Array(1024);
  let depth = 0;
  let deepest = 0;
  let i = 0;
  while (i < n) {
    const c = b[i] as number;
    if (c === 0x22) {
      // A string: to its closing quote, a backslash escaping the byte after it.
      const start = i++;
      while (i < n && b[i] !== 0x22) i += b[i] === 0x5c ? 2 : 1;
      largest = Math.max(largest, 2 * (i - start));
    } else if (c === 0x5b || c === 0x7b) {
      if (depth === counts.length) {
        const grown = new Uint32Array(counts.length * 2);
        grown.set(counts);
        counts = grown;
      }
      counts[depth++] = 1;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x2c) {
      if (depth > 0) (counts[depth - 1] as number)++;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) {
      // An array: its elements (8 bytes each, grown by half again under push),
      // and the diff's list of work for two arrays of one length (two entries an
      // element, grown the same way). An object: its members in a dictionary
      // (about 3 words each, twice over).
      const members = counts[--depth] as number;
      largest = Math.max(largest, (c === 0x5d ? 24 : 64) * members);
    }
    i++;
  }
  // Unclosed containers, and the exact parser's stack of open ones.
  for (let d = 0; d < depth; d++) largest = Math.max(largest, 64 * (counts[d] as number));
  return Math.max(largest, 16 * deepest);
}

/**
 * The same bound for gRPC messages (protobuf, not scanned): a packed repeated
 * field holds an element per byte, 8 bytes each in an array grown by push;
 * 0 below the size where that stays under BIG_ALLOCATION_BYTES.
 */
export function largestGrpcAllocation(b: Uint8Array): number {
  return 12 * b.length <= BIG_ALLOCATION_BYTES ? 0 : 16 * b.length;
}

/**
 * Heap left that parsing bodies `a` and `b` (JSON or text; gRPC messages when
 * `grpc`) needs to be safe: room for both texts when no allocation can pass
 * BIG_ALLOCATION_BYTES, else room for the worst case of both.
 */
export function heapNeeded(a: Uint8Array, b: Uint8Array, grpc = false): number {
  const total = a.length + b.length;
  const largest = grpc ? largestGrpcAllocation : largestAllocation;
  return Math.max(largest(a), largest(b)) <= BIG_ALLOCATION_BYTES ? 2 * total : WORST_HEAP_PER_BYTE * total;
}

/** Whether parsing bodies `a` and `b` is safe with `left` bytes of heap left (heapNeeded). */
export function parseIsSafe(a: Uint8Array, b: Uint8Array, left: number, grpc = false): boolean {
  return left >= heapNeeded(a, b, grpc);
}
