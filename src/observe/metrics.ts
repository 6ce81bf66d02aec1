// Every metric umbra exports, defined in one place and named as in DESIGN.md §6.
// Labels are bounded on purpose: route names, targets, decisions, reasons and
// canonical field paths (capped per route) - never raw paths or header values.
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { methodLabel } from '../http/headers.js';

export type Target = 'live' | 'dark' | 'secondary';
export type ComparisonResult = 'match' | 'mismatch' | 'noise' | 'skipped';

/** Field label cap per route (DESIGN §6): the rest are counted as `_other`. */
export const MAX_FIELDS_PER_ROUTE = 100;

// Latency buckets from 1 ms to 30 s: shadow backends can be much slower than live.
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface LiveRouteMetrics {
  observeDuration(seconds: number): void;
  countRequest(method: string, code: string): void;
}

/** A route's per-exchange shadow metrics, bound to their labels once. */
export interface ShadowRouteMetrics {
  readonly duration: Readonly<Record<'dark' | 'secondary', { observe(seconds: number): void }>>;
  readonly comparisons: Readonly<Record<ComparisonResult, { inc(): void }>>;
}

/**
 * A counter's child on the request path: it counts in a plain number and hands
 * the count to prom-client when prom-client collects (on every scrape, and on
 * get()). prom-client's own children hash their label values into a string,
 * check them and allocate on every call. One cell per label set, kept for the
 * life of the Metrics (hot reloads reuse them).
 */
export class CounterCell {
  private n = 0;
  private touched = false;

  constructor(readonly labels: Readonly<Record<string, string>>) {}

  inc(by = 1): void {
    this.n += by;
    this.touched = true;
  }

  /** Hand what was counted since the last collection to prom-client (an inc(0) still makes the series). */
  flushTo(counter: Counter<string>): void {
    if (!this.touched) return;
    counter.inc(this.labels, this.n);
    this.n = 0;
    this.touched = false;
  }
}

/** One metric's cells by label values: the same cell for the same labels, every time. */
class LabelCells<T> {
  private readonly cells = new Map<string, T>();

  constructor(
    private readonly labelNames: readonly string[],
    private readonly make: (labels: Readonly<Record<string, string>>) => T,
  ) {}

  cell(labels: Readonly<Record<string, string>>): T {
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let c = this.cells.get(key);
    if (c === undefined) {
      c = this.make(labels);
      this.cells.set(key, c);
    }
    return c;
  }

  all(): IterableIterator<T> {
    return this.cells.values();
  }
}

/** The cells of one counter. */
class CounterCells extends LabelCells<CounterCell> {
  constructor(labelNames: readonly string[]) {
    super(labelNames, (labels) => new CounterCell(labels));
  }

  flushTo(counter: Counter<string>): void {
    for (const c of this.all()) c.flushTo(counter);
  }
}

/** A gauge's child on the request path, read by prom-client when it collects (see CounterCell). */
export class GaugeCell {
  value = 0;

  inc(): void {
    this.value++;
  }

  dec(): void {
    this.value--;
  }
}

/** One label set of a CellHistogram: counts per bucket (not cumulative), their sum and count. */
export class HistogramCell {
  private readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    // Past the last bound: only the +Inf bucket (the count) has it.
    if (i < b.length) this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }

  /** The bucket counts as Prometheus exposes them: cumulative, bound by bound. */
  cumulative(): number[] {
    let acc = 0;
    return Array.from(this.counts, (n) => (acc += n));
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** A value as prom-client's registry formats it: `labels` first (le), then `sharedLabels` (the series'). */
interface ExposedValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly sharedLabels?: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName: string;
}

interface ExposedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: ExposedValue[];
  readonly aggregator: 'sum';
}

/**
 * A histogram whose label sets are cells observed on the request path (see
 * CounterCell: prom-client's Histogram hashes and checks its labels on every
 * observation). It gives the registry what prom-client's Histogram gives, in
 * the same shape, so /metrics reads the same; a label set has a series from its
 * first observation, as with prom-client.
 */
export class CellHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly cells: LabelCells<HistogramCell>;

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    this.cells = new LabelCells(labelNames, (labels) => new HistogramCell(labels, bounds));
    registry.registerMetric(this as unknown as Metric);
  }

  /** The cell for these label values (the same one every time). */
  cell(labels: Readonly<Record<string, string>>): HistogramCell {
    return this.cells.cell(labels);
  }

  /** What the registry formats for /metrics (prom-client's Histogram.getForPromString shape). */
  getForPromString(): ExposedMetric {
    const values: ExposedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.cells.all()) {
      if (c.count === 0) continue;
      const sharedLabels = c.labels;
      c.cumulative().forEach((value, i) => values.push({ labels: { le: this.bounds[i] as number }, sharedLabels, value, metricName: bucket }));
      values.push({ labels: { le: '+Inf' }, sharedLabels, value: c.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The same with each value's labels whole (prom-client's Histogram.get shape, for the registry's JSON). */
  get(): ExposedMetric {
    const data = this.getForPromString();
    return { ...data, values: data.values.map((v) => ({ labels: { ...v.labels, ...v.sharedLabels }, value: v.value, metricName: v.metricName })) };
  }

  reset(): void {
    for (const c of this.cells.all()) c.reset();
  }
}

export class Metrics {
  readonly registry = new Registry();

  private readonly requestCells = new CounterCells(['route', 'method', 'code']);
  readonly requests: Counter<'route' | 'method' | 'code'> = new Counter({
    name: 'umbra_requests_total',
    help: 'Live answers sent to clients.',
    labelNames: ['route', 'method', 'code'] as const,
    registers: [this.registry],
    collect: (): void => this.requestCells.flushTo(this.requests),
  });
  readonly duration = new CellHistogram('umbra_request_duration_seconds', "Time to the end of each backend's answer.", ['route', 'target'], DURATION_BUCKETS, this.registry);
  private readonly decisionCells = new CounterCells(['route', 'decision']);
  readonly decisions: Counter<'route' | 'decision'> = new Counter({
    name: 'umbra_mirror_decisions_total',
    help: 'One mirror decision per request that reached a route.',
    labelNames: ['route', 'decision'] as const,
    registers: [this.registry],
    collect: (): void => this.decisionCells.flushTo(this.decisions),
  });
  readonly shadowErrors = new Counter({
    name: 'umbra_shadow_errors_total',
    help: 'Shadow requests that failed.',
    labelNames: ['route', 'target', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly comparisonCells = new CounterCells(['route', 'result']);
  readonly comparisons: Counter<'route' | 'result'> = new Counter({
    name: 'umbra_comparisons_total',
    help: 'Finished comparisons.',
    labelNames: ['route', 'result'] as const,
    registers: [this.registry],
    collect: (): void => this.comparisonCells.flushTo(this.comparisons),
  });
  readonly mismatches = new Counter({
    name: 'umbra_mismatches_total',
    help: 'Mismatching comparisons by part.',
    labelNames: ['route', 'part'] as const,
    registers: [this.registry],
  });
  readonly fieldMismatches = new Counter({
    name: 'umbra_field_mismatches_total',
    help: 'Mismatches by canonical field path; at most 100 fields a route, the rest as _other.',
    labelNames: ['route', 'field'] as const,
    registers: [this.registry],
  });
  private readonly inFlightCells = { dark: new GaugeCell(), secondary: new GaugeCell() };
  readonly shadowInFlight: Gauge<'target'> = new Gauge({
    name: 'umbra_shadow_in_flight',
    help: 'Shadow requests under way.',
    labelNames: ['target'] as const,
    registers: [this.registry],
    collect: (): void => {
      for (const t of ['dark', 'secondary'] as const) this.shadowInFlight.set({ target: t }, this.inFlightCells[t].value);
    },
  });
  /** Read when scraped: 1 while a target's circuit breaker keeps shadow requests from it (app.ts points it at the mirror's breakers). */
  breakerOpenSource: (target: 'dark' | 'secondary') => number = () => 0;
  readonly shadowBreakerOpen: Gauge<'target'> = new Gauge({
    name: 'umbra_shadow_breaker_open',
    help: 'Whether a shadow target\'s circuit breaker is open (1) after connection failures in a row: shadow requests to it are dropped (decision dark_down) but for one probe per cooldown.',
    labelNames: ['target'] as const,
    registers: [this.registry],
    collect: (): void => {
      for (const t of ['dark', 'secondary'] as const) this.shadowBreakerOpen.set({ target: t }, this.breakerOpenSource(t));
    },
  });
  /** Read when scraped: bytes held for shadow work (app.ts points it at the memory budget). */
  bufferedBytesSource: () => number = () => 0;
  readonly shadowBufferedBytes: Gauge = new Gauge({
    name: 'umbra_shadow_buffered_bytes',
    help: 'Bytes held for shadow work (request and answer copies, decoded bodies, data handed to compare workers) against mirror.maxBufferedBytes.',
    registers: [this.registry],
    collect: (): void => this.shadowBufferedBytes.set(this.bufferedBytesSource()),
  });
  readonly sampleRatio = new Gauge({
    name: 'umbra_sample_ratio',
    help: 'The sample fraction in force.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  /** Read when scraped: each route's release verdict (DESIGN §12; app.ts points it at the mirror). */
  verdictSource: () => readonly { readonly route: string; readonly verdict: 'pass' | 'fail' | 'inconclusive' }[] = () => [];
  readonly verdict: Gauge = new Gauge({
    name: 'umbra_verdict',
    help: "1 for each route's release verdict in force (pass, fail, inconclusive) over its gate window, 0 for the other two.",
    labelNames: ['route', 'verdict'] as const,
    registers: [this.registry],
    collect: (): void => {
      this.verdict.reset();
      for (const v of this.verdictSource()) for (const name of ['pass', 'fail', 'inconclusive'] as const) this.verdict.set({ route: v.route, verdict: name }, v.verdict === name ? 1 : 0);
    },
  });
  /** A route's `expires` date (00:00 UTC of that day) in seconds since the epoch, for the expiry alerts; only routes that have one. */
  readonly routeExpiry = new Gauge({
    name: 'umbra_route_expiry_timestamp_seconds',
    help: "A route's expires date (the start of that day, UTC) in seconds since the epoch; routes without one have no series.",
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'umbra_config_reloads_total',
    help: 'Hot reloads of the configuration.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly captureRecords = new Counter({
    name: 'umbra_capture_records_total',
    help: 'Captured exchanges (DESIGN §10): written to a capture file, or dropped (too large, no memory, queue full, write error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** Divergence records for the store (DESIGN §11); its series are made at 0 when a store is configured. */
  readonly storeWrites = new Counter({
    name: 'umbra_store_writes_total',
    help: 'Divergence records for the store: written, dropped (queue or memory budget full, or left at shutdown), failed (a batch the database refused or did not answer).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** Not in DESIGN §6's table: inbound requests umbra refused itself (limits hit). */
  readonly clientErrors = new Counter({
    name: 'umbra_client_errors_total',
    help: 'Inbound requests refused by umbra before forwarding (malformed, header_too_large, too_many_headers, timeout, draining), and HTTP/2 connections closed for resetting streams too fast (rapid_reset).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  /** Not in DESIGN §6's table: live gRPC answers by gRPC status (umbra_requests_total's code stays the HTTP status). */
  readonly grpcResponses = new Counter({
    name: 'umbra_grpc_responses_total',
    help: 'Live answers to gRPC calls, by route and gRPC status name (OK, NOT_FOUND, ..., OTHER); code in umbra_requests_total stays the HTTP status.',
    labelNames: ['route', 'code'] as const,
    registers: [this.registry],
  });
  /** Not in DESIGN §6's table: why comparisons were skipped (a bounded set of reasons). */
  readonly comparisonSkips = new Counter({
    name: 'umbra_comparison_skips_total',
    help: 'Comparisons skipped, by reason (too_large, decode_too_large, busy, live_<failure>, dark_<failure>, ...).',
    labelNames: ['route', 'reason'] as const,
    registers: [this.registry],
  });
  /**
   * Not in DESIGN §6's table: connections to each shadow target, opened and
   * closed. A target that closes its connections (or fails on them) makes umbra
   * reconnect, and each reconnect costs the live thread far more CPU than its own
   * work (docs/architecture.md); this shows how often it happens.
   */
  readonly shadowConnections: Counter<'target' | 'event'> = new Counter({
    name: 'umbra_shadow_connections_total',
    help: 'Connections to a shadow target, by event: opened, or closed (by the target, by umbra cutting a late or oversized answer, or idle).',
    labelNames: ['target', 'event'] as const,
    registers: [this.registry],
  });
  /** Not in DESIGN §6's table: live-backend failures by reason. */
  readonly liveErrors = new Counter({
    name: 'umbra_live_errors_total',
    help: 'Live requests that failed upstream (connect, timeout, reset) or were aborted by the client.',
    labelNames: ['route', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly fieldsSeen = new Map<string, Set<string>>();
  private readonly liveRoutes = new Map<string, LiveRouteMetrics>();
  private readonly shadowRoutes = new Map<string, ShadowRouteMetrics>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // Event-loop lag sampled every 1 ms (prom-client's default is 10 ms, so its p99
    // could never read below ~10 ms: DESIGN §6 asks for 1 ms or better).
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1 });
    // Both series from the start, so that an alert sees the first failed reload as an increase from 0.
    for (const result of ['success', 'failure'] as const) this.configReloads.inc({ result }, 0);
    // Both series exist from the start, so that a rate() over them is defined before the first record.
    for (const result of ['written', 'dropped'] as const) this.captureRecords.inc({ result }, 0);
    for (const target of ['dark', 'secondary'] as const) for (const event of ['opened', 'closed'] as const) this.shadowConnections.inc({ target, event }, 0);
  }

  /** The expiry gauge for the routes in force (on start and reload: a removed route's series goes). */
  setRouteExpiry(routes: readonly { readonly name: string; readonly expires: string | null }[]): void {
    this.routeExpiry.reset();
    for (const r of routes) if (r.expires !== null) this.routeExpiry.set({ route: r.name }, Date.parse(`${r.expires}T00:00:00Z`) / 1000);
  }

  /**
   * The live path's per-request metrics for one route, bound to their labels
   * once: prom-client hashes a label object on every call otherwise.
   */
  liveRoute(route: string): LiveRouteMetrics {
    let m = this.liveRoutes.get(route);
    if (m === undefined) {
      const duration = this.duration.cell({ route, target: 'live' });
      const counters = new Map<string, { inc(): void }>();
      const cells = this.requestCells;
      m = {
        observeDuration: (seconds: number) => duration.observe(seconds),
        countRequest(method: string, code: string): void {
          const key = `${method} ${code}`;
          let c = counters.get(key);
          if (c === undefined) {
            c = cells.cell({ route, method: methodLabel(method), code });
            counters.set(key, c);
          }
          c.inc();
        },
      };
      this.liveRoutes.set(route, m);
    }
    return m;
  }

  /** The shadow side's per-exchange metrics for one route, bound to their labels once. */
  shadowRoute(route: string): ShadowRouteMetrics {
    let m = this.shadowRoutes.get(route);
    if (m === undefined) {
      m = {
        duration: { dark: this.duration.cell({ route, target: 'dark' }), secondary: this.duration.cell({ route, target: 'secondary' }) },
        comparisons: {
          match: this.comparisonCells.cell({ route, result: 'match' }),
          mismatch: this.comparisonCells.cell({ route, result: 'mismatch' }),
          noise: this.comparisonCells.cell({ route, result: 'noise' }),
          skipped: this.comparisonCells.cell({ route, result: 'skipped' }),
        },
      };
      this.shadowRoutes.set(route, m);
    }
    return m;
  }

  /** A route's mirror decision, counted on the request path (see CounterCell). */
  decision(route: string, decision: string): CounterCell {
    return this.decisionCells.cell({ route, decision });
  }

  /** Count a connection to a shadow target opened or closed (per connection, not per request). */
  shadowConnection(target: 'dark' | 'secondary'): (event: 'opened' | 'closed') => void {
    const opened = this.shadowConnections.labels({ target, event: 'opened' });
    const closed = this.shadowConnections.labels({ target, event: 'closed' });
    return (event) => (event === 'opened' ? opened : closed).inc();
  }

  /** Shadow requests under way to a target, kept on the request path (see GaugeCell). */
  inFlight(target: 'dark' | 'secondary'): GaugeCell {
    return this.inFlightCells[target];
  }

  /** Count a mismatching field, folding fields past the per-route cap into `_other`. */
  fieldMismatch(route: string, field: string): void {
    let seen = this.fieldsSeen.get(route);
    if (seen === undefined) {
      seen = new Set();
      this.fieldsSeen.set(route, seen);
    }
    let label = field;
    if (!seen.has(field)) {
      if (seen.size >= MAX_FIELDS_PER_ROUTE) label = '_other';
      else seen.add(field);
    }
    this.fieldMismatches.inc({ route, field: label });
  }
}
