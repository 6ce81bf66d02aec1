// `umbra gate` (DESIGN §12): ask the admin API for the release verdict, once or
// every --interval until it is decided or --wait has passed, and turn it into an
// exit status a CI step can branch on (DESIGN §3):
//   0 pass, 1 fail (a decision: at once) or the API unreachable or refusing,
//   3 still inconclusive when the wait ended.
//
// Bounds: the last poll starts no later than the end of the wait and each poll
// (answer and body) has its own timeout, so the command ends within
// wait + pollTimeout(opts) whatever the server does.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { askVerdict, verdictUrl, type Poll } from './ask.js';
import type { GateOptions } from './options.js';
import { formatLeft, summary, waitingLine } from './summary.js';

export interface GateIO {
  /** The final verdict: a summary, or the API's JSON with --json. */
  readonly stdout: { write(text: string): unknown };
  /** Problems, and while waiting what the verdict waits on. */
  readonly stderr: { write(text: string): unknown };
}

/** 0 pass, 1 fail or runtime failure, 3 inconclusive (2, usage, is the CLI's). */
export type GateCode = 0 | 1 | 3;

/** Asking once: the admin API reads aggregates and answers in milliseconds; 10 s means it is stuck. */
export const MAX_POLL_TIMEOUT = 10_000;
/** While waiting a poll may take its interval, but no less than this (a loaded CI runner). */
export const MIN_POLL_TIMEOUT = 1_000;
/** While waiting, what the verdict waits on goes to stderr this often (CI kills steps that are silent for long). */
export const PROGRESS_EVERY = 60_000;

/** How long one poll may take, its answer's body included. */
export function pollTimeout(opts: Pick<GateOptions, 'wait' | 'interval'>): number {
  return opts.wait === null ? MAX_POLL_TIMEOUT : Math.min(MAX_POLL_TIMEOUT, Math.max(MIN_POLL_TIMEOUT, opts.interval));
}

const CODES = { pass: 0, fail: 1, inconclusive: 3 } as const;

export async function runGate(opts: GateOptions, io: GateIO): Promise<GateCode> {
  const url = verdictUrl(opts.admin, opts.route, opts.window);
  const timeout = pollTimeout(opts);
  const deadline = performance.now() + (opts.wait ?? 0);
  const waited = opts.wait === null ? '' : formatLeft(opts.wait);
  const reported = new Set<string>();
  let lastProgress = -Infinity;
  // An agent of its own, destroyed at the end: no keep-alive socket holds the process open.
  const agent = new Agent({ connections: 1 });
  try {
    for (;;) {
      const poll: Poll = await askVerdict(url, opts.token, timeout, agent);
      const left = deadline - performance.now();
      if (poll.kind === 'answer') {
        const { verdict } = poll.answer;
        if (verdict !== 'inconclusive' || left <= 0) {
          io.stdout.write(opts.json ? `${JSON.stringify(poll.body, null, 2)}\n` : summary(poll.answer));
          if (verdict === 'inconclusive' && opts.wait !== null) io.stderr.write(`umbra gate: still inconclusive when the wait of ${waited} ended\n`);
          return CODES[verdict];
        }
        if (performance.now() - lastProgress >= PROGRESS_EVERY) {
          io.stderr.write(waitingLine(poll.answer, left));
          lastProgress = performance.now();
        }
      } else if (poll.kind === 'refused') {
        io.stderr.write(`umbra gate: GET ${url}: ${poll.problem}\n`);
        return 1;
      } else if (left <= 0) {
        io.stderr.write(`umbra gate: GET ${url}: ${poll.problem}${opts.wait === null ? '' : `; still so when the wait of ${waited} ended`}\n`);
        return 1;
      } else if (!reported.has(poll.key)) {
        reported.add(poll.key);
        io.stderr.write(`umbra gate: GET ${url}: ${poll.problem}; asking again every ${formatLeft(opts.interval)} for up to ${formatLeft(left)}\n`);
      }
      await sleep(Math.min(opts.interval, left));
    }
  } finally {
    await agent.destroy();
  }
}
