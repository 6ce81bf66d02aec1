// The CPU priority of umbra's worker threads. Shadow work (comparing, capture)
// runs on worker threads one step behind the event loop that serves live
// traffic: on a machine short of CPU, the kernel runs live's thread first, and
// a compression bomb or a megabyte of JSON in a worker waits rather than takes
// a core from live. A worker's work is still bounded in time (a compare job's
// timeout), and what waits too long is dropped and counted as it always was.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** How much lower (in niceness, Linux: -20 highest to 19 lowest) a worker thread runs than its process. */
export const WORKER_NICENESS = 10;

/**
 * Lower the calling thread's CPU priority by `step` (Linux: setpriority on its
 * thread id, read from /proc/thread-self; other threads are not touched).
 * Returns the thread's niceness now, or null where the thread cannot be named
 * (no /proc) or the call is refused. Never throws.
 */
export function lowerThreadPriority(step = WORKER_NICENESS): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return null;
    const niceness = Math.min(19, getPriority(tid) + step);
    setPriority(tid, niceness);
    return getPriority(tid);
  } catch {
    return null;
  }
}
