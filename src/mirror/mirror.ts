// Shadow traffic: decide per request whether to mirror it, copy what the live
// path forwards, send the copies to the dark (and secondary) backend on their
// own pools, and hand complete answers to the comparison - all off the path of
// the client's answer. Every limit drops and counts; nothing queues.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Counter } from 'prom-client';
import type { Config, RouteConfig } from '../config/types.js';
import type { Answer, CompiledRules, ComparePool, Verdict } from '../compare/index.js';
import { NoiseLearner, compileRules } from '../compare/index.js';
import type { Logger } from '../observe/log.js';
import type { Decision, Metrics } from '../observe/metrics.js';
import type { DivergenceStore} from '../observe/divergences.js';
import { RouteStats } from '../observe/divergences.js';
import type { Redactor } from '../observe/redact.js';
import { redactTarget, replayCommand } from '../observe/replay.js';
import type { LiveFailure, LiveObserver, ShadowHook } from '../proxy/exchange.js';
import { connectionListed, forwardedFor, isHopByHop } from '../proxy/hop.js';
import { InFlight, MemoryBudget, RateLimit } from './limits.js';
import type { CompiledRoute } from './routes.js';
import { sampled } from './sample.js';
import { ShadowTarget, shadowHeaders, type ShadowOutcome } from './shadow.js';

const DECISIONS: readonly Decision[] = [
  'mirrored',
  'not_sampled',
  'method_excluded',
  'body_too_large',
  'over_in_flight',
  'over_rate',
  'over_memory',
  'paused',
];

/** Per-route state built once: compiled rules, the dial, counters bound to their labels. */
export class RouteRuntime {
  readonly name: string;
  sample: number;
  readonly methods: ReadonlySet<string>;
  readonly rules: CompiledRules;
  readonly learner: NoiseLearner;
  readonly stats: RouteStats;
  readonly decisions: Readonly<Record<Decision, Counter>>;

  constructor(
    readonly config: RouteConfig,
    metrics: Metrics,
    maxDecodedBytes: number,
    previous?: RouteRuntime,
  ) {
    this.name = config.name;
    // On hot reload a route keeps what it has counted and learned.
    this.learner = previous?.learner ?? new NoiseLearner();
    this.stats = previous?.stats ?? new RouteStats();
    this.sample = config.mirror.sample;
    this.methods = new Set(config.mirror.methods);
    this.rules = compileRules(config.compare, { maxDecodedBytes });
    const d = {} as Record<Decision, Counter>;
    for (const decision of DECISIONS) d[decision] = metrics.decisions.labels({ route: this.name, decision }) as unknown as Counter;
    this.decisions = d;
    metrics.sampleRatio.set({ route: this.name }, this.sample);
  }
}

export interface MirrorDeps {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly pool: ComparePool;
  readonly store: DivergenceStore;
  readonly redactor: Redactor;
  /** The mirror this one replaces on hot reload: its route stats, noise memory and pause state carry over. */
  readonly previous?: Mirror | null;
}

/** What the admin API sees of a route. */
export interface RouteView {
  name: string;
  sample: number;
  mirrored: number;
  compared: number;
  matches: number;
  mismatches: number;
  noise: number;
  skipped: number;
  topFields: { field: string; count: number }[];
}

export class Mirror implements ShadowHook {
  paused = false;
  readonly runtimes: readonly RouteRuntime[];
  readonly budget: MemoryBudget;
  readonly dark: ShadowTarget;
  readonly secondary: ShadowTarget | null;
  readonly darkInFlight: InFlight;
  readonly secondaryInFlight: InFlight;
  readonly rate: RateLimit;
  readonly deps: MirrorDeps;
  private readonly logLimit: RateLimit;
  private suppressedLogs = 0;
  private readonly pending = new Set<Promise<void>>();

  constructor(deps: MirrorDeps) {
    const { config, metrics } = deps;
    if (config.dark === null) throw new Error('mirroring needs a dark backend');
    this.deps = deps;
    const prev = deps.previous ?? null;
    this.runtimes = config.routes.map((r) => new RouteRuntime(r, metrics, config.limits.maxDecodedBytes, prev?.runtime(r.name)));
    if (prev !== null) this.paused = prev.paused;
    this.budget = new MemoryBudget(config.mirror.maxBufferedBytes);
    const dark = config.dark;
    this.dark = new ShadowTarget({ url: dark.url, timeout: dark.timeout, connections: dark.maxInFlight });
    this.secondary =
      config.secondary === null
        ? null
        : new ShadowTarget({ url: config.secondary.url, timeout: dark.timeout, connections: dark.maxInFlight });
    this.darkInFlight = new InFlight(dark.maxInFlight);
    this.secondaryInFlight = new InFlight(dark.maxInFlight);
    this.rate = new RateLimit(dark.maxRps);
    this.logLimit = new RateLimit(config.limits.mismatchLogsPerSecond);
  }

  begin(req: IncomingMessage, route: CompiledRoute): LiveObserver | null {
    const rt = this.runtimes[route.index] as RouteRuntime;
    if (this.paused) return this.drop(rt, 'paused');
    if (!rt.methods.has(req.method ?? '')) return this.drop(rt, 'method_excluded');
    if (!sampled(req, rt.sample, rt.config.mirror.sampleBy)) return this.drop(rt, 'not_sampled');
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > rt.config.mirror.maxBodyBytes) return this.drop(rt, 'body_too_large');
    // The limits are checked again when the shadow is sent (after the body);
    // checking them here too keeps a saturated dark side cheap: no copy is made.
    if (!this.darkInFlight.hasRoom) return this.drop(rt, 'over_in_flight');
    if (this.budget.full) return this.drop(rt, 'over_memory');
    if (!this.rate.available()) return this.drop(rt, 'over_rate');
    return new Exchange(this, rt, req);
  }

  drop(rt: RouteRuntime, decision: Decision): null {
    rt.decisions[decision].inc();
    return null;
  }

  /** The admin API's view of every route. */
  views(): RouteView[] {
    return this.runtimes.map((rt) => ({
      name: rt.name,
      sample: rt.sample,
      mirrored: rt.stats.mirrored,
      compared: rt.stats.compared,
      matches: rt.stats.matches,
      mismatches: rt.stats.mismatches,
      noise: rt.stats.noise,
      skipped: rt.stats.skipped,
      topFields: rt.stats.topFields(),
    }));
  }

  runtime(name: string): RouteRuntime | undefined {
    return this.runtimes.find((r) => r.name === name);
  }

  setSample(rt: RouteRuntime, sample: number): void {
    rt.sample = sample;
    this.deps.metrics.sampleRatio.set({ route: rt.name }, sample);
  }

  /** Keep track of background work so that stop() can wait for it. */
  track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Wait (bounded) for shadow work under way, then close the pools. */
  async close(waitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.pending]),
      new Promise((r) => {
        timer = setTimeout(r, waitMs);
      }),
    ]);
    clearTimeout(timer);
    await Promise.allSettled([this.dark.close(), this.secondary?.close()]);
  }

  logMismatch(fields: Record<string, unknown>): void {
    if (!this.logLimit.tryTake()) {
      this.suppressedLogs++;
      return;
    }
    const suppressed = this.suppressedLogs;
    this.suppressedLogs = 0;
    this.deps.log.info(suppressed > 0 ? { ...fields, suppressed } : fields, 'divergence');
  }
}

type SideState = { kind: 'pending' } | { kind: 'none' } | { kind: 'done'; outcome: ShadowOutcome };

/** One mirrored request, from its first body byte to its verdict. */
class Exchange implements LiveObserver {
  private reqChunks: Buffer[] | null = [];
  private reqSize = 0;
  private reserved = 0;
  private dropped = false;
  private dispatched = false;
  private liveStatus = 0;
  private liveHeaders: IncomingHttpHeaders = {};
  private liveChunks: Buffer[] = [];
  private liveSize = 0;
  private liveTruncated = false;
  private liveMs = 0;
  private live: 'pending' | 'done' | LiveFailure = 'pending';
  private dark: SideState = { kind: 'pending' };
  private secondary: SideState = { kind: 'none' };
  private finished = false;
  private readonly maxBody: number;

  constructor(
    private readonly mirror: Mirror,
    private readonly rt: RouteRuntime,
    private readonly req: IncomingMessage,
  ) {
    this.maxBody = rt.config.mirror.maxBodyBytes;
    // A request without a body gets no 'data' events: dispatch on 'end' all the same.
  }

  requestChunk(chunk: Buffer): void {
    if (this.dropped || this.reqChunks === null) return;
    this.reqSize += chunk.length;
    if (this.reqSize > this.maxBody) return this.abandon('body_too_large');
    if (!this.reserve(chunk.length)) return this.abandon('over_memory');
    this.reqChunks.push(chunk);
  }

  requestEnd(): void {
    if (this.dropped || this.dispatched) return;
    const m = this.mirror;
    if (!m.darkInFlight.tryAcquire()) return this.abandon('over_in_flight');
    if (m.budget.full) {
      m.darkInFlight.release();
      return this.abandon('over_memory');
    }
    if (!m.rate.tryTake()) {
      m.darkInFlight.release();
      return this.abandon('over_rate');
    }
    this.dispatched = true;
    this.rt.decisions.mirrored.inc();
    this.rt.stats.mirrored++;
    const chunks = this.reqChunks ?? [];
    const body = chunks.length === 0 ? null : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.reqSize);
    this.reqChunks = body === null ? [] : [body];
    const request = this.shadowRequest(body);
    const metrics = m.deps.metrics;
    metrics.shadowInFlight.inc({ target: 'dark' });
    m.track(
      m.dark.send(request, this.maxBody, m.budget).then((outcome) => {
        m.darkInFlight.release();
        metrics.shadowInFlight.dec({ target: 'dark' });
        this.dark = { kind: 'done', outcome };
        this.sideDone('dark', outcome);
      }),
    );
    if (m.secondary !== null && m.secondaryInFlight.tryAcquire()) {
      this.secondary = { kind: 'pending' };
      const secondary = m.secondary;
      metrics.shadowInFlight.inc({ target: 'secondary' });
      m.track(
        secondary.send(request, this.maxBody, m.budget).then((outcome) => {
          m.secondaryInFlight.release();
          metrics.shadowInFlight.dec({ target: 'secondary' });
          this.secondary = { kind: 'done', outcome };
          this.sideDone('secondary', outcome);
        }),
      );
    }
  }

  responseStart(status: number, headers: IncomingHttpHeaders): void {
    this.liveStatus = status;
    this.liveHeaders = headers;
  }

  responseChunk(chunk: Buffer): void {
    if (this.dropped || this.liveTruncated) return;
    if (this.liveSize + chunk.length > this.maxBody || !this.reserve(chunk.length)) {
      // Over the cap (or the budget): this pair will not be compared, so let go of what was held.
      this.liveTruncated = true;
      this.liveChunks = [];
      return;
    }
    this.liveSize += chunk.length;
    this.liveChunks.push(chunk);
  }

  responseEnd(ms: number): void {
    this.liveMs = ms;
    this.live = 'done';
    this.maybeFinish();
  }

  failed(reason: LiveFailure): void {
    this.live = reason;
    if (!this.dispatched) {
      // The request never completed, so no shadow was sent: nothing to compare.
      this.dropped = true;
      this.release();
      return;
    }
    this.maybeFinish();
  }

  private shadowRequest(body: Buffer | null): { method: string; url: string; headers: Record<string, string | string[]>; body: Buffer | null } {
    const req = this.req;
    const listed = connectionListed(req.headers.connection);
    const headers = shadowHeaders(req.headers, this.mirror.deps.config.dark?.headers ?? { set: {}, remove: [] }, (n) =>
      n === 'transfer-encoding' || isHopByHop(n, listed),
    );
    const fwd = forwardedFor(req);
    headers['x-forwarded-for'] = fwd.for;
    if (fwd.proto !== undefined) headers['x-forwarded-proto'] = fwd.proto;
    if (fwd.host !== undefined) headers['x-forwarded-host'] = fwd.host;
    return { method: req.method ?? 'GET', url: req.url ?? '/', headers, body };
  }

  private sideDone(target: 'dark' | 'secondary', outcome: ShadowOutcome): void {
    const metrics = this.mirror.deps.metrics;
    const route = this.rt.name;
    if (outcome.ok) {
      this.reserved += outcome.answer.body.length;
      metrics.duration.observe({ route, target }, outcome.answer.ms / 1000);
      if (outcome.answer.truncated) metrics.shadowErrors.inc({ route, target, reason: 'too_large' });
    } else if (outcome.reason !== 'over_memory') {
      metrics.shadowErrors.inc({ route, target, reason: outcome.reason });
      this.mirror.deps.log.debug({ route, target, reason: outcome.reason, err: outcome.message }, 'shadow request failed');
    }
    this.maybeFinish();
  }

  private reserve(n: number): boolean {
    if (!this.mirror.budget.tryReserve(n)) return false;
    this.reserved += n;
    return true;
  }

  private release(): void {
    this.mirror.budget.release(this.reserved);
    this.reserved = 0;
    this.reqChunks = null;
    this.liveChunks = [];
  }

  private abandon(decision: Decision): void {
    this.dropped = true;
    this.release();
    this.mirror.drop(this.rt, decision);
  }

  private maybeFinish(): void {
    if (this.finished || this.live === 'pending' || this.dark.kind === 'pending' || this.secondary.kind === 'pending') return;
    this.finished = true;
    const verdict = this.verdictInputs();
    if (typeof verdict === 'string') {
      this.record({ result: 'skipped', differences: [], noise: [] }, verdict);
      this.release();
      return;
    }
    const { live, dark, secondary } = verdict;
    const m = this.mirror;
    m.track(
      m.deps.pool
        .compareWithBaseline(live, dark, secondary, this.rt.rules, this.rt.learner, { method: this.req.method ?? 'GET' })
        .then(
          (v) => this.record(v, v.reason ?? null),
          (err: unknown) => {
            const busy = (err as { code?: string }).code === 'UMBRA_COMPARE_BUSY';
            this.record({ result: 'skipped', differences: [], noise: [] }, busy ? 'busy' : 'compare_error');
          },
        )
        .finally(() => this.release()),
    );
  }

  /** The three answers to compare, or why there is nothing to compare. */
  private verdictInputs(): { live: Answer; dark: Answer; secondary: Answer | null } | string {
    if (this.live !== 'done') return `live_${this.live}`;
    if (this.dark.kind !== 'done') return 'dark_missing';
    const d = this.dark.outcome;
    if (!d.ok) return `dark_${d.reason}`;
    const live: Answer = {
      status: this.liveStatus,
      headers: this.liveHeaders,
      body: this.liveChunks.length === 1 ? (this.liveChunks[0] as Buffer) : Buffer.concat(this.liveChunks, this.liveSize),
      truncated: this.liveTruncated,
    };
    const dark: Answer = { status: d.answer.status, headers: d.answer.headers, body: d.answer.body, truncated: d.answer.truncated };
    let secondary: Answer | null = null;
    if (this.secondary.kind === 'done' && this.secondary.outcome.ok) {
      const s = this.secondary.outcome.answer;
      secondary = { status: s.status, headers: s.headers, body: s.body, truncated: s.truncated };
    }
    return { live, dark, secondary };
  }

  private record(v: Verdict, reason: string | null): void {
    const m = this.mirror;
    const { metrics, redactor, store, config } = m.deps;
    const route = this.rt.name;
    const stats = this.rt.stats;
    metrics.comparisons.inc({ route, result: v.result });
    if (v.result === 'skipped') {
      stats.skipped++;
      metrics.comparisonSkips.inc({ route, reason: reason ?? 'unknown' });
      m.deps.log.debug({ route, reason }, 'comparison skipped');
      return;
    }
    stats.compared++;
    if (v.result === 'match') stats.matches++;
    else if (v.result === 'noise') stats.noise++;
    if (v.result !== 'mismatch') return;
    stats.mismatches++;
    const parts = new Set<string>();
    const fields = new Set<string>();
    for (const d of v.differences) {
      parts.add(d.part);
      fields.add(d.field);
    }
    for (const part of parts) metrics.mismatches.inc({ route, part });
    for (const field of fields) {
      metrics.fieldMismatch(route, field);
      stats.countField(field);
    }
    const differences = v.differences.map((d) => redactor.redactDifference(d));
    const darkAnswer = this.dark.kind === 'done' && this.dark.outcome.ok ? this.dark.outcome.answer : null;
    const path = this.req.url ?? '/';
    const body = this.reqChunks !== null && this.reqChunks.length > 0 ? (this.reqChunks[0] as Buffer) : null;
    const replay = replayCommand(
      { method: this.req.method ?? 'GET', url: path, headers: this.req.headers, body, liveUrl: config.live.url, darkUrl: config.dark?.url ?? '' },
      redactor,
    );
    const sample = {
      id: store.nextId(),
      time: new Date().toISOString(),
      route,
      method: this.req.method ?? 'GET',
      path: redactTarget(path),
      live: { status: this.liveStatus, ms: Math.round(this.liveMs * 10) / 10 },
      dark: { status: darkAnswer?.status ?? 0, ms: Math.round((darkAnswer?.ms ?? 0) * 10) / 10 },
      differences,
      replay,
    };
    store.add(sample);
    m.logMismatch({
      route,
      method: sample.method,
      path: sample.path,
      live: sample.live,
      dark: sample.dark,
      fields: [...fields].slice(0, 10),
      differences: differences.slice(0, 5),
      replay,
    });
  }
}
