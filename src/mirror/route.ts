// Per-route shadow state, built once per config: compiled comparison rules,
// the release dial, the noise memory, and decision counters bound to labels.
import type { RouteConfig } from '../config/types.js';
import type { CompiledRules, DecodeLimits } from '../compare/index.js';
import { NoiseLearner, compileRules } from '../compare/index.js';
import { DECISIONS, type Decision } from '../errors.js';
import { RouteStats } from '../observe/divergences.js';
import type { Metrics } from '../observe/metrics.js';

export class RouteRuntime {
  readonly name: string;
  sample: number;
  readonly methods: ReadonlySet<string>;
  readonly rules: CompiledRules;
  readonly learner: NoiseLearner;
  readonly stats: RouteStats;
  readonly decisions: Readonly<Record<Decision, { inc(): void }>>;

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
    this.sample = config.mirror.sample;
    this.methods = new Set(config.mirror.methods);
    this.rules = compileRules(config.compare, decode);
    const d = {} as Record<Decision, { inc(): void }>;
    for (const decision of DECISIONS) d[decision] = metrics.decisions.labels({ route: this.name, decision });
    this.decisions = d;
    metrics.sampleRatio.set({ route: this.name }, this.sample);
  }

  /** Count one decision: on the metric and in the route's stats (the API's `dropped`). */
  decide(decision: Decision): void {
    this.decisions[decision].inc();
    this.stats.decided(decision);
  }

  setSample(sample: number): void {
    this.sample = sample;
    this.metrics.sampleRatio.set({ route: this.name }, sample);
  }
}
