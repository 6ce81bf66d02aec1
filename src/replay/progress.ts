// Progress on a terminal (cli-progress), by bytes of input read: the files are
// streamed, so the number of exchanges is not known until the end. Off a
// terminal nothing is drawn; messages go to stderr as plain lines.
import { MultiBar, type SingleBar } from 'cli-progress';

export interface ProgressCounts {
  sent: number;
  mismatches: number;
  errors: number;
}

export interface Progress {
  /** Input bytes read so far and the counts to show. */
  update(bytes: number, counts: ProgressCounts): void;
  /** A message line (a corrupt line, a warning) without breaking the bar. */
  log(line: string): void;
  stop(): void;
}

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export function createProgress(stream: ProgressStream, totalBytes: number): Progress {
  if (stream.isTTY !== true) {
    return {
      update: () => undefined,
      log: (line) => void stream.write(`${line}\n`),
      stop: () => undefined,
    };
  }
  const multi = new MultiBar({
    stream: stream as NodeJS.WriteStream,
    format: 'replay [{bar}] {percentage}% | {sent} sent | {mismatches} mismatches | {errors} errors',
    hideCursor: true,
    clearOnComplete: false,
    barsize: 30,
  });
  const bar: SingleBar = multi.create(Math.max(1, totalBytes), 0, { sent: 0, mismatches: 0, errors: 0 });
  return {
    update: (bytes, counts) => bar.update(Math.min(bytes, Math.max(1, totalBytes)), { ...counts }),
    log: (line) => multi.log(`${line}\n`),
    // A redraw first: cli-progress writes logged lines on its next redraw, and stop() does not draw.
    stop: () => {
      multi.update();
      multi.stop();
    },
  };
}
