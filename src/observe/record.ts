// Recording one finished exchange: metrics, route stats, the divergence sample
// (redacted, with its replay line) and the rate-capped divergence log line. The
// mirror decides and compares; this is the only place its outcome is written
// down.
import type { IncomingHttpHeaders } from 'node:http';
import type { Verdict } from '../compare/index.js';
import type { ShadowErrorReason, SkipReason } from '../errors.js';
import { grpcCodeName } from '../http/grpc.js';
import type { DivergenceStore, RouteStats } from './divergences.js';
import { loggable, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Redactor } from './redact.js';
import { redactTarget, replayCommand } from './replay.js';
import { isSafeMethod } from '../http/headers.js';

export type ShadowTargetName = 'dark' | 'secondary';

/** One mirrored exchange, complete: what was asked, how each side answered, the verdict. */
export interface FinishedExchange {
  readonly route: string;
  readonly stats: RouteStats;
  readonly request: {
    readonly method: string;
    readonly url: string;
    readonly headers: IncomingHttpHeaders;
    readonly body: Buffer | null;
  };
  /** grpcStatus: for a gRPC call, the answer's grpc-status (null: it sent none). */
  readonly live: { readonly status: number; readonly ms: number; readonly grpcStatus?: number | null };
  /** null when dark gave no answer (the verdict is then a skip). */
  readonly dark: { readonly status: number; readonly ms: number; readonly grpcStatus?: number | null } | null;
  readonly verdict: Verdict;
  /** Why it was not compared, for a skipped verdict. */
  readonly skip: SkipReason | null;
}

export interface RecorderDeps {
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly store: DivergenceStore;
  readonly redactor: Redactor;
  /** For the replay line of a divergence; liveUrl null for `umbra replay` (live's answer was recorded, darkUrl is the target). */
  readonly liveUrl: string | null;
  readonly darkUrl: string;
  /** Lets a divergence log line through (limits.mismatchLogsPerSecond). */
  readonly logLimit: { tryTake(): boolean };
  /** Lets a shadow-failure warn line through (the same rate, counted apart). */
  readonly failureLogLimit: { tryTake(): boolean };
  /** Config `service` and `instance`, in every divergence sample. */
  readonly service: string;
  readonly instance: string;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

/** A gRPC call's status beside the HTTP one: its number and name (`grpc: 5, grpcCode: "NOT_FOUND"`); nothing for other calls. */
function grpcOf(status: number | null | undefined): { grpc?: number | null; grpcCode?: string } {
  if (status === undefined) return {};
  return { grpc: status, grpcCode: grpcCodeName(status) };
}

/** gRPC statuses that say the server failed, as a 5xx does: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const GRPC_SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

type Side = FinishedExchange['live'];
const serverError = (a: Side): boolean => a.status >= 500 || (a.grpcStatus != null && GRPC_SERVER_ERRORS.has(a.grpcStatus));

/** Dark answered with a server error (5xx, or its gRPC equivalent) where live did not: a dark failure for the verdict. */
export function serverErrorOnlyInDark(live: Side, dark: Side): boolean {
  return serverError(dark) && !serverError(live);
}

export class Recorder {
  private suppressed = 0;
  private failuresSuppressed = 0;

  constructor(private readonly deps: RecorderDeps) {}

  /** A shadow request finished: its latency, or why it failed. */
  shadowAnswered(route: string, stats: RouteStats, target: ShadowTargetName, ms: number, failure: ShadowErrorReason | null, message = ''): void {
    const { metrics, log } = this.deps;
    if (failure === null || failure === 'too_large') metrics.shadowRoute(route).duration[target].observe(ms / 1000);
    if (failure === null) return;
    metrics.shadowErrors.inc({ route, target, reason: failure });
    if (target === 'dark') stats.error(failure);
    if (failure === 'too_large') return;
    // A warn line per failure (DESIGN §9), capped like divergence lines: a dark that
    // fails every request must not flood the log; the next line says how many were held back.
    if (!this.deps.failureLogLimit.tryTake()) {
      this.failuresSuppressed++;
      return;
    }
    const suppressed = this.failuresSuppressed;
    this.failuresSuppressed = 0;
    log.warn({ route, target, reason: failure, err: message, ...(suppressed > 0 ? { suppressed } : {}) }, 'shadow request failed');
  }

  record(x: FinishedExchange): void {
    const { metrics } = this.deps;
    const { route, stats, verdict } = x;
    // Both answered (live did not fail): latency pairs and dark server errors for the release verdict.
    if (x.dark !== null && (x.skip === null || !x.skip.startsWith('live_'))) stats.answered(x.live.ms, x.dark.ms, serverErrorOnlyInDark(x.live, x.dark));
    metrics.shadowRoute(route).comparisons[verdict.result].inc();
    if (verdict.result === 'skipped') {
      const reason = x.skip ?? verdict.reason ?? 'compare_error';
      stats.skip(reason);
      metrics.comparisonSkips.inc({ route, reason });
      this.deps.log.debug({ route, reason }, 'comparison skipped');
      return;
    }
    stats.result(verdict.result);
    if (verdict.result === 'mismatch') this.mismatch(x);
  }

  private mismatch(x: FinishedExchange): void {
    const { metrics, redactor, store } = this.deps;
    const { route, stats, verdict, request } = x;
    const parts = new Set<string>();
    const fields = new Set<string>();
    for (const d of verdict.differences) {
      parts.add(d.part);
      fields.add(d.field);
    }
    for (const part of parts) metrics.mismatches.inc({ route, part });
    for (const field of fields) {
      metrics.fieldMismatch(route, field);
      stats.countField(field);
    }
    const differences = verdict.differences.map((d) => redactor.redactDifference(d));
    const write = !isSafeMethod(request.method);
    const replay = replayCommand(
      { method: request.method, url: request.url, headers: request.headers, body: request.body, liveUrl: this.deps.liveUrl, darkUrl: this.deps.darkUrl, write },
      redactor,
    );
    const sample = {
      id: store.nextId(),
      time: new Date().toISOString(),
      service: this.deps.service,
      instance: this.deps.instance,
      route,
      method: request.method,
      path: redactTarget(request.url),
      live: { status: x.live.status, ms: round1(x.live.ms), ...grpcOf(x.live.grpcStatus) },
      dark: { status: x.dark?.status ?? 0, ms: round1(x.dark?.ms ?? 0), ...grpcOf(x.dark?.grpcStatus) },
      differences,
      write,
      replay,
    };
    store.add(sample);
    this.logDivergence({
      route,
      id: sample.id,
      method: sample.method,
      path: sample.path,
      live: sample.live,
      dark: sample.dark,
      write,
      fields: [...fields].slice(0, 10),
      // The first five, without their examples (the sample, by id, has them all).
      differences: loggable(differences.slice(0, 5).map(({ examples: _examples, ...d }) => d)),
      replay,
    });
  }

  /** One info line per divergence, rate-capped; the next line that passes carries the count suppressed. */
  private logDivergence(fields: Record<string, unknown>): void {
    if (!this.deps.logLimit.tryTake()) {
      this.suppressed++;
      return;
    }
    const suppressed = this.suppressed;
    this.suppressed = 0;
    this.deps.log.info(suppressed > 0 ? { ...fields, suppressed } : fields, 'divergence');
  }
}
