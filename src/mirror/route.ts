// Per-route shadow state, built once per config: compiled comparison rules,
// the release dial, the noise memory, and decision counters bound to labels.
import type { IncomingMessage } from 'node:http';
import type { OrderKey, RouteConfig } from '../config/types.js';
import type { CompiledRules, DecodeLimits } from '../compare/index.js';
import { NoiseLearner, compileRules } from '../compare/index.js';
import { DECISIONS, type Decision } from '../errors.js';
import { requestPath } from '../http/routes.js';
import { RouteStats } from '../observe/divergences.js';
import type { Metrics } from '../observe/metrics.js';
import { Ramp, sameRamp } from './ramp.js';
import { sampleKeyValue } from './sample.js';

/** How to read a request's order key: its name in the shared queue map, and where its value is. */
interface OrderReader {
  /** `header:x-cart`, `path:id`: routes with the same spec share queues. */
  readonly prefix: string;
  readonly key: OrderKey;
  /** For path:PARAM: the 0-based segment of the route pattern holding it. */
  readonly segment: number;
}

function orderReader(config: RouteConfig): OrderReader | null {
  const key = config.mirror.orderBy;
  if (key === null) return null;
  let segment = -1;
  if (key.kind === 'path') {
    const m = config.match;
    // Validation keeps path:PARAM to routes whose pattern has it.
    if (m === null || !('path' in m)) return null;
    segment = m.path.split('/').slice(1).indexOf(`:${key.name}`);
    if (segment === -1) return null;
  }
  return { prefix: `${key.kind}:${key.name}=`, key, segment };
}

/** The n-th segment (0-based) of a request path, or undefined when it has fewer or it is empty. */
function pathSegment(path: string, n: number): string | undefined {
  let start = 1;
  for (let i = 0; i < n; i++) {
    const slash = path.indexOf('/', start);
    if (slash === -1) return undefined;
    start = slash + 1;
  }
  const end = path.indexOf('/', start);
  const part = path.slice(start, end === -1 ? path.length : end);
  return part === '' ? undefined : part;
}

export class RouteRuntime {
  readonly name: string;
  sample: number;
  readonly methods: ReadonlySet<string>;
  readonly rules: CompiledRules;
  readonly learner: NoiseLearner;
  readonly stats: RouteStats;
  readonly decisions: Readonly<Record<Decision, { inc(): void }>>;
  /** This route's mirroring is paused (by its ramp's failing gate, or by a person); the kill switch is the Mirror's. */
  paused: boolean;
  /** Who paused it: `ramp` (its gate failed) or the admin caller's address; null while it runs. */
  pausedBy: string | null;
  /** The automatic release dial, or null when the route has no ramp. */
  readonly ramp: Ramp | null;
  /** The ramp began with this runtime (not carried over a reload): its start is an audit line. */
  readonly rampIsNew: boolean;
  private readonly order: OrderReader | null;

  constructor(
    readonly config: RouteConfig,
    private readonly metrics: Metrics,
    decode: DecodeLimits,
    previous?: RouteRuntime,
  ) {
    this.name = config.name;
    // On hot reload a route keeps what it has counted and learned.
    this.learner = previous?.learner ?? new NoiseLearner();
    this.stats = previous?.stats ?? new RouteStats();
    this.paused = previous?.paused ?? false;
    this.pausedBy = previous?.pausedBy ?? null;
    // A ramp whose config is unchanged keeps its step; a new or changed one starts at its first.
    const ramp = config.ramp;
    const kept = ramp !== null && previous?.ramp != null && sameRamp(previous.ramp.config, ramp);
    this.ramp = ramp === null ? null : kept ? (previous?.ramp) : new Ramp(ramp, Date.now());
    this.rampIsNew = this.ramp !== null && !kept;
    this.sample = this.ramp !== null && this.ramp.phase !== 'stopped' ? this.ramp.sample : config.mirror.sample;
    this.methods = new Set(config.mirror.methods);
    this.rules = compileRules(config.compare, decode);
    this.order = orderReader(config);
    const d = {} as Record<Decision, { inc(): void }>;
    for (const decision of DECISIONS) d[decision] = metrics.decision(this.name, decision);
    this.decisions = d;
    metrics.sampleRatio.set({ route: this.name }, this.sample);
  }

  /** Count one decision: on the metric and in the route's stats (the API's `dropped`). */
  decide(decision: Decision): void {
    this.decisions[decision].inc();
    this.stats.decided(decision);
  }

  /**
   * The queue a shadow request of this route waits in (`path:id=42`), or null
   * when the route is not ordered or the request lacks the key's value (then
   * it is sent at once, like any other).
   */
  orderKey(req: IncomingMessage): string | null {
    const o = this.order;
    if (o === null) return null;
    const value = o.key.kind === 'path' ? pathSegment(requestPath(req.url), o.segment) : sampleKeyValue(req, o.key);
    return value === undefined ? null : o.prefix + value;
  }

  setSample(sample: number): void {
    this.sample = sample;
    this.metrics.sampleRatio.set({ route: this.name }, sample);
  }
}
