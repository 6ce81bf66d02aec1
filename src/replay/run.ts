// `umbra replay` (DESIGN §10): captured requests sent to a target, each answer
// compared with the recorded live answer by the serving engine, under the
// routes and rules of a config, and written down by the serving Recorder into
// route stats and divergence samples, which the report shows in the admin
// API's shapes.
//
// Bounds: at most `concurrency` exchanges are under way (one with --ordered),
// and the reader is pulled only when one of them has ended, so memory holds
// that many exchanges plus one chunk of input, whatever the size of the files.
import { openSync, statSync } from 'node:fs';
import type { Answer, CompiledRules, Verdict } from '../compare/index.js';
import { ComparePool, NoiseLearner, compileRules, engineSkipReason } from '../compare/index.js';
import { DEFAULTS, configFromFlags, loadConfigFile } from '../config/load.js';
import type { Config, RouteConfig } from '../config/types.js';
import { ReplayFileError, type SkipReason } from '../errors.js';
import { isSafeMethod, type HeaderEdits } from '../http/headers.js';
import { Router, requestPath } from '../http/routes.js';
import { DivergenceStore, RouteStats } from '../observe/divergences.js';
import { createLogger } from '../observe/log.js';
import { Metrics } from '../observe/metrics.js';
import { Recorder } from '../observe/record.js';
import { compileRedactor } from '../observe/redact.js';
import { Pacer, Slots } from './limits.js';
import type { ReplayOptions } from './options.js';
import { createProgress, type ProgressStream } from './progress.js';
import { captureFiles, readCaptures, type CapturedExchange } from './read.js';
import { formatTable, routeView, verdict, verdictLine, writeReport, type ReplayReport, type ReplaySummary } from './report.js';
import { ReplayTarget, replayHeaders, type ReplayAnswer, type ReplayRequest, type SendOutcome } from './send.js';

export interface ReplayIO {
  readonly stdout: { write(text: string): unknown };
  /** Progress and messages; a bar is drawn only when this is a terminal. */
  readonly stderr: ProgressStream;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted: stop reading, let the exchanges under way end, report what was done. */
  readonly signal?: AbortSignal;
}

export interface ReplayResult {
  /** 0 passed, 1 failed (DESIGN §3). */
  readonly code: 0 | 1;
  readonly report: ReplayReport;
}

/** Corrupt lines printed one by one; past this many they are only counted. */
export const MAX_PROBLEMS_SHOWN = 20;

/** A route's state for the run: its config, compiled rules, noise memory and counts. */
interface RouteRun {
  readonly name: string;
  readonly config: RouteConfig;
  readonly rules: CompiledRules;
  readonly learner: NoiseLearner;
  readonly stats: RouteStats;
}

/** Headers edits for a hop to the secondary: none (it is a live instance: no shadow marker). */
const NO_EDITS: HeaderEdits = { set: {}, remove: [] };

function asAnswer(a: ReplayAnswer): Answer {
  return { status: a.status, headers: a.headers, body: a.body, truncated: a.truncated };
}

/** The config in force: --config FILE, or the default rules (one route, "default"). Throws ConfigError. */
function replayConfig(opts: ReplayOptions, env: NodeJS.ProcessEnv): Config {
  return opts.config === null ? configFromFlags({ live: opts.target }) : loadConfigFile(opts.config, env);
}

/** Opens --report FILE for writing now, so that a path that cannot be written fails before any request is sent. */
function openReport(file: string): number {
  try {
    return openSync(file, 'w');
  } catch (err) {
    throw new ReplayFileError(`--report ${file}: cannot write it: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Runs a replay to the end and prints its table on stdout. Throws, before
 * anything is sent, UsageError-free setup errors: ConfigError (a bad --config)
 * and ReplayFileError (input that cannot be read, a report that cannot be written).
 */
export async function runReplay(opts: ReplayOptions, io: ReplayIO): Promise<ReplayResult> {
  const started = performance.now();
  const config = replayConfig(opts, io.env);
  const files = captureFiles(opts.inputs);
  const reportFd = opts.report === null ? null : openReport(opts.report);

  const router = new Router(config.routes);
  const decode = { maxDecodedBytes: config.limits.maxDecodedBytes, maxDecodeRatio: config.limits.maxDecodeRatio };
  const routes: RouteRun[] = config.routes.map((r) => ({ name: r.name, config: r, rules: compileRules(r.compare, decode), learner: new NoiseLearner(), stats: new RouteStats() }));
  const store = new DivergenceStore(config.limits.samplesPerRoute);
  const recorder = new Recorder({
    metrics: new Metrics({ defaultMetrics: false }),
    log: createLogger('silent', [], { write: () => undefined }),
    store,
    redactor: compileRedactor(config.redact),
    liveUrl: null,
    darkUrl: opts.target,
    logLimit: { tryTake: () => false },
    failureLogLimit: { tryTake: () => false },
    service: config.service,
    instance: config.instance,
  });
  const edits = config.dark?.headers ?? DEFAULTS.dark.headers;
  const target = new ReplayTarget(opts.target, { connections: opts.concurrency, timeout: opts.timeout });
  const secondary = opts.secondary === null ? null : new ReplayTarget(opts.secondary, { connections: opts.concurrency, timeout: opts.timeout });
  // Never busy: there are never more comparisons than exchanges under way.
  const pool = new ComparePool({ maxQueue: opts.concurrency + 1, workerHeapMb: config.limits.compareHeap / 1024 ** 2 });

  const totalBytes = files.reduce((n, f) => n + statSync(f).size, 0);
  const progress = createProgress(io.stderr, totalBytes);
  let doneBytes = 0;
  let current: () => number = () => 0;
  let exchanges = 0;
  let corrupt = 0;
  let secondaryErrors = 0;
  const problems: string[] = [];
  const totals = { sent: 0, mismatches: 0, errors: 0 };
  const tick = (): void => {
    totals.sent = totals.mismatches = totals.errors = 0;
    for (const r of routes) {
      totals.sent += r.stats.mirrored;
      totals.mismatches += r.stats.mismatches;
      totals.errors += r.stats.errors;
    }
    progress.update(doneBytes + current(), totals);
  };

  const replayOne = async (x: CapturedExchange): Promise<void> => {
    const method = x.request.method;
    const rt = routes[router.match(method, requestPath(x.request.path)).index] as RouteRun;
    rt.stats.decided('mirrored');
    const maxBody = rt.config.mirror.maxBodyBytes;
    const req = (e: HeaderEdits): ReplayRequest => ({ method, path: x.request.path, headers: replayHeaders(x.request.headers, e, opts.headers), body: x.request.body });
    // A write never goes to the secondary, a live instance (DESIGN §2.9).
    const toSecondary = secondary !== null && isSafeMethod(method) ? secondary.send(req(NO_EDITS), maxBody) : null;
    const [t, s] = await Promise.all([target.send(req(edits), maxBody), toSecondary]);
    answered(rt, 'dark', t);
    if (s !== null) {
      answered(rt, 'secondary', s);
      if (!s.ok) secondaryErrors++;
    }
    let result: Verdict = { result: 'skipped', differences: [], noise: [] };
    let skip: SkipReason | null = null;
    if (!t.ok) skip = `dark_${t.reason}`;
    else if (t.answer.truncated || x.live.body.length > maxBody) skip = 'too_large';
    else {
      const live: Answer = { status: x.live.status, headers: x.live.headers, body: x.live.body, truncated: false };
      const sec = s !== null && s.ok ? asAnswer(s.answer) : null;
      try {
        result = await pool.compareWithBaseline(live, asAnswer(t.answer), sec, rt.rules, rt.learner, { method });
        skip = result.reason ?? null;
      } catch (err) {
        skip = engineSkipReason(err);
      }
    }
    recorder.record({
      route: rt.name,
      stats: rt.stats,
      request: { method, url: x.request.path, headers: x.request.headers, body: x.request.body.length > 0 ? x.request.body : null },
      live: { status: x.live.status, ms: x.live.ms },
      dark: t.ok ? { status: t.answer.status, ms: t.answer.ms } : null,
      verdict: result,
      skip,
    });
  };

  const answered = (rt: RouteRun, side: 'dark' | 'secondary', o: SendOutcome): void => {
    if (o.ok) recorder.shadowAnswered(rt.name, rt.stats, side, o.answer.ms, o.answer.truncated ? 'too_large' : null);
    else recorder.shadowAnswered(rt.name, rt.stats, side, o.ms, o.reason, o.message);
  };

  const slots = new Slots(opts.ordered ? 1 : opts.concurrency);
  const pacer = new Pacer(opts.rate);
  const running = new Set<Promise<void>>();
  let interrupted = false;
  try {
    const input = readCaptures(files, {
      corrupt(where, reason) {
        corrupt++;
        if (problems.length < MAX_PROBLEMS_SHOWN) {
          problems.push(`${where}: ${reason}`);
          progress.log(`${where}: ${reason}`);
        }
      },
      file(_file, bytesRead) {
        doneBytes += current();
        current = bytesRead;
      },
    });
    for await (const x of input) {
      exchanges++;
      await slots.acquire();
      await pacer.wait();
      if (io.signal?.aborted === true) {
        interrupted = true;
        slots.release();
        break;
      }
      const p = replayOne(x).finally(() => {
        running.delete(p);
        slots.release();
        tick();
      });
      running.add(p);
    }
    await Promise.all(running);
  } finally {
    await Promise.all(running);
    await Promise.all([pool.close(), target.close(), secondary?.close()]);
    doneBytes = totalBytes;
    current = () => 0;
    tick();
    progress.stop();
  }
  if (corrupt > problems.length) io.stderr.write(`... and ${corrupt - problems.length} more corrupt lines not shown\n`);

  const used = routes.filter((r) => r.stats.mirrored > 0);
  const sum = (k: 'mirrored' | 'compared' | 'matches' | 'mismatches' | 'noise' | 'skipped' | 'errors'): number => used.reduce((n, r) => n + r.stats.counts.total[k], 0);
  const compared = sum('compared');
  const mismatches = sum('mismatches');
  const v = verdict(compared, mismatches, opts.maxMismatchRate);
  const summary: ReplaySummary = {
    target: opts.target,
    secondary: opts.secondary,
    ordered: opts.ordered,
    concurrency: opts.ordered ? 1 : opts.concurrency,
    rate: opts.rate,
    files: files.length,
    exchanges,
    corrupt,
    problems,
    sent: sum('mirrored'),
    compared,
    matches: sum('matches'),
    mismatches,
    noise: sum('noise'),
    skipped: sum('skipped'),
    errors: sum('errors'),
    secondaryErrors,
    mismatchRate: v.rate,
    maxMismatchRate: opts.maxMismatchRate,
    passed: v.passed && !interrupted,
    interrupted,
    ms: Math.round(performance.now() - started),
  };
  const report: ReplayReport = {
    summary,
    routes: used.map((r) => routeView(r.name, r.stats, r.learner)),
    divergences: store.list(null, Number.MAX_SAFE_INTEGER),
  };
  if (reportFd !== null) writeReport(reportFd, report);
  io.stdout.write(formatTable(report));
  if (io.stderr.isTTY !== true) {
    io.stderr.write(`umbra replay: ${summary.sent} sent from ${files.length} file${files.length === 1 ? '' : 's'} in ${(summary.ms / 1000).toFixed(1)} s; ${verdictLine(summary)}\n`);
  }
  return { code: summary.passed ? 0 : 1, report };
}
