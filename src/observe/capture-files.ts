// The capture directory: files named capture-<UTC time>-<seq>.jsonl (or
// .jsonl.gz), a new one past maxFileBytes, the oldest deleted while the total
// would pass maxTotalBytes. Synchronous on purpose: it runs in the capture
// worker, whose only job this is. The file system is passed in so that a full
// disk can be tested without one.
//
// A write error (full disk, no permission, a directory that cannot be made)
// loses the lines of that write, cuts the file back to its last whole line and
// closes it; nothing is written until `retryMs` has passed, then a new file is
// tried. Errors never escape: the caller gets counts and the error's code.
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

/** The few file-system calls used (node:fs satisfies it). */
export interface CaptureFs {
  mkdirSync(path: string, opts: { recursive: true }): unknown;
  openSync(path: string, flags: string): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  ftruncateSync(fd: number, len: number): void;
  closeSync(fd: number): void;
  readdirSync(path: string): string[];
  statSync(path: string): { size: number };
  unlinkSync(path: string): void;
}

export interface CaptureFilesOptions {
  readonly dir: string;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
  readonly gzip: boolean;
  /** ms after a write error before a new file is tried. */
  readonly retryMs: number;
}

export interface WriteOutcome {
  readonly written: number;
  /** Lines lost to a write error (or skipped while waiting to retry after one). */
  readonly failed: number;
  /** Lines that alone would pass maxTotalBytes. */
  readonly tooLarge: number;
  /** The error code (ENOSPC, EACCES, ...) when lines failed. */
  readonly error: string | null;
}

/** Names this writer (and any other umbra) gives capture files. */
export const CAPTURE_FILE = /^capture-\d{8}T\d{9}Z-\d+\.jsonl(\.gz)?$/;

/** Lines gzip-compressed together as one member: big enough to compress well, small next to a file. */
const GZIP_GROUP_BYTES = 1024 * 1024;

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
}

interface Closed {
  readonly name: string;
  readonly size: number;
}

export class CaptureFiles {
  private fd: number | null = null;
  private name = '';
  private size = 0;
  /** Other capture files in the directory, oldest first (names sort by time). */
  private older: Closed[] = [];
  private olderBytes = 0;
  private seq = 0;
  private retryAt = 0;
  private lastError: string | null = null;

  constructor(
    private readonly fs: CaptureFs,
    private readonly opts: CaptureFilesOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** The file being written (a name in `dir`), or null between files. */
  get current(): string | null {
    return this.fd === null ? null : this.name;
  }

  /** Appends whole lines (each ending in "\n"). */
  write(lines: readonly Buffer[]): WriteOutcome {
    if (lines.length === 0) return { written: 0, failed: 0, tooLarge: 0, error: null };
    if (this.fd === null && this.now() < this.retryAt) return { written: 0, failed: lines.length, tooLarge: 0, error: this.lastError };
    let written = 0;
    let tooLarge = 0;
    const groups = this.opts.gzip ? this.gzipGroups(lines) : lines.map((l) => ({ bytes: l, lines: 1 }));
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as { bytes: Buffer; lines: number };
      try {
        if (!this.makeRoom(g.bytes.length)) {
          tooLarge += g.lines;
          continue;
        }
        this.append(g.bytes);
        written += g.lines;
      } catch (err) {
        this.fail(err);
        let failed = 0;
        for (let j = i; j < groups.length; j++) failed += (groups[j] as { lines: number }).lines;
        return { written, failed, tooLarge, error: this.lastError };
      }
    }
    return { written, failed: 0, tooLarge, error: null };
  }

  /** Closes the current file. */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      this.fs.closeSync(fd);
    } catch {
      // Nothing more can be lost: every write was whole or cut back.
    }
  }

  /** Lines in groups of at most GZIP_GROUP_BYTES (or one line), each group one gzip member. */
  private gzipGroups(lines: readonly Buffer[]): { bytes: Buffer; lines: number }[] {
    const out: { bytes: Buffer; lines: number }[] = [];
    const cap = Math.min(GZIP_GROUP_BYTES, this.opts.maxFileBytes);
    let group: Buffer[] = [];
    let size = 0;
    const flush = (): void => {
      if (group.length === 0) return;
      out.push({ bytes: gzipSync(Buffer.concat(group, size)), lines: group.length });
      group = [];
      size = 0;
    };
    for (const l of lines) {
      if (size > 0 && size + l.length > cap) flush();
      group.push(l);
      size += l.length;
    }
    flush();
    return out;
  }

  /**
   * A file with room for `n` more bytes, the total kept under maxTotalBytes by
   * deleting the oldest files. False when `n` alone is over maxTotalBytes.
   */
  private makeRoom(n: number): boolean {
    const { maxFileBytes, maxTotalBytes } = this.opts;
    if (n > maxTotalBytes) return false;
    if (this.fd !== null && this.size > 0 && this.size + n > maxFileBytes) this.rotate();
    if (this.fd === null) this.open();
    while (this.olderBytes + this.size + n > maxTotalBytes) {
      const oldest = this.older.shift();
      if (oldest === undefined) {
        // Only the current file is left and it is too full: it becomes the oldest.
        this.rotate();
        this.open();
        continue;
      }
      this.olderBytes -= oldest.size;
      try {
        this.fs.unlinkSync(join(this.opts.dir, oldest.name));
      } catch (err) {
        if (codeOf(err) !== 'ENOENT') throw err;
      }
    }
    return true;
  }

  private rotate(): void {
    const closed = { name: this.name, size: this.size };
    this.close();
    this.older.push(closed);
    this.olderBytes += closed.size;
  }

  /** A new file; the directory is made when missing and read again (another umbra may share it). */
  private open(): void {
    const { dir, gzip } = this.opts;
    this.fs.mkdirSync(dir, { recursive: true });
    const older: Closed[] = [];
    for (const name of this.fs.readdirSync(dir).filter((f) => CAPTURE_FILE.test(f)).sort()) {
      try {
        older.push({ name, size: this.fs.statSync(join(dir, name)).size });
      } catch (err) {
        if (codeOf(err) !== 'ENOENT') throw err;
      }
    }
    this.older = older;
    this.olderBytes = older.reduce((s, f) => s + f.size, 0);
    const ext = gzip ? '.jsonl.gz' : '.jsonl';
    const time = stamp(this.now());
    for (;;) {
      const name = `capture-${time}-${String(++this.seq).padStart(6, '0')}${ext}`;
      try {
        this.fd = this.fs.openSync(join(dir, name), 'wx');
        this.name = name;
        this.size = 0;
        return;
      } catch (err) {
        if (codeOf(err) !== 'EEXIST') throw err;
      }
    }
  }

  private append(bytes: Buffer): void {
    const fd = this.fd as number;
    let at = 0;
    while (at < bytes.length) at += this.fs.writeSync(fd, bytes, at, bytes.length - at);
    this.size += bytes.length;
  }

  private fail(err: unknown): void {
    this.lastError = codeOf(err);
    this.retryAt = this.now() + this.opts.retryMs;
    if (this.fd === null) return;
    try {
      // A line cut short by a full disk would make the file unreadable past it.
      this.fs.ftruncateSync(this.fd, this.size);
    } catch {
      // The file keeps a partial last line; readers skip what does not parse.
    }
    this.close();
  }
}
