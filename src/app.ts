// Builds a running umbra from a validated config: the live proxy, the shadow
// side, the admin listener. The CLI (cli.ts) and the tests both start it here.

import type { AddressInfo, Server as NetServer } from 'node:net';
import { once } from 'node:events';
import type { CaptureConfig, Config, RedactConfig } from './config/types.js';
import { createAdminServer, type ApiHandler } from './admin/server.js';
import { createApiHandler } from './admin/api.js';
import { createPageHandler } from './admin/page.js';
import { COMPARE_HEAP_PER_BODY, ComparePool } from './compare/index.js';
import { containerMemoryLimit, nodeFlags, youngGenerationAdvice } from './config/container.js';
import { restartOnlyChanges } from './config/reloader.js';
import { hopRules } from './http/headers.js';
import { Router } from './http/routes.js';
import { CaptureHook } from './mirror/capture.js';
import { combineHooks } from './mirror/hook.js';
import { Mirror, isExpired } from './mirror/mirror.js';
import { CaptureWriter } from './observe/capture.js';
import { DivergenceStore } from './observe/divergences.js';
import { createLogger, type Logger } from './observe/log.js';
import { Metrics } from './observe/metrics.js';
import { FleetStore, type StoreTiming } from './observe/store.js';
import { LiveProxy, type LiveState } from './proxy/live.js';
import { applyLimits, createProxyServer } from './proxy/server.js';
import { createFront } from './proxy/front.js';
import { Tunnels } from './proxy/tunnel.js';

export interface UmbraOptions {
  readonly log?: Logger;
  readonly metrics?: Metrics;
  /** Extra admin handlers (behind the token), tried after the API. */
  readonly handlers?: readonly ApiHandler[];
  /** The store's background timings (tests shorten them). */
  readonly storeTiming?: Partial<StoreTiming>;
  /** How node runs umbra, for the start-up advice on its young generation; default: this process's cgroup limit and node flags. */
  readonly runtime?: { readonly containerLimit: number | null; readonly nodeFlags: readonly string[] };
}

export interface Umbra {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Where the proxy listens, e.g. http://127.0.0.1:8080 */
  readonly proxyUrl: string;
  readonly adminUrl: string;
  readonly ready: boolean;
  /** The mirror in force, or null without a dark backend. */
  readonly mirror: Mirror | null;
  /** The fleet's store (store.url), or null: samples stay in memory only. */
  readonly fleet: FleetStore | null;
  /** Swap in a new validated config without dropping connections (hot reload). */
  reload(config: Config): Promise<void>;
  /** Graceful stop: not ready, stop accepting, let in-flight requests finish (up to drainTimeout). */
  stop(): Promise<void>;
}

async function listen(server: NetServer, host: string, port: number, scheme = 'http'): Promise<string> {
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `${scheme}://${h}:${addr.port}`;
}

/** Everything that depends on the config and is swapped as a whole on reload. */
interface Generation {
  readonly config: Config;
  readonly router: Router;
  readonly mirror: Mirror | null;
  /** Capture's writer, or null when capture is off; kept across reloads that leave its settings alone. */
  readonly writer: CaptureWriter | null;
  readonly state: LiveState;
}

/** A writer can stay across a reload when nothing it writes with changed (sampling and routes are the hook's). */
function sameWriter(w: CaptureWriter, capture: CaptureConfig, redact: RedactConfig): boolean {
  const a = w.config;
  const list = (x: readonly string[]): string => JSON.stringify(x);
  return (
    a.dir === capture.dir &&
    a.maxFileBytes === capture.maxFileBytes &&
    a.maxTotalBytes === capture.maxTotalBytes &&
    a.gzip === capture.gzip &&
    list(w.redact.headers) === list(redact.headers) &&
    list(w.redact.fields) === list(redact.fields)
  );
}

/**
 * How long a reload waits for a replaced capture writer's queue to be written
 * (only a hung disk takes long), and the most stop() waits within the drain.
 */
const CAPTURE_FLUSH_MS = 30_000;

export async function startUmbra(initial: Config, opts: UmbraOptions = {}): Promise<Umbra> {
  const log = opts.log ?? createLogger(initial.log.level, initial.redact.headers, undefined, { service: initial.service, instance: initial.instance });
  const metrics = opts.metrics ?? new Metrics();
  const store = new DivergenceStore(initial.limits.samplesPerRoute);
  // Comparison of large bodies runs in a worker so it never blocks the live path.
  const pool = new ComparePool({ maxQueue: initial.limits.compareQueue, workerHeapMb: initial.limits.compareHeap / 1024 ** 2 });
  // One memory budget for all shadow work, kept across reloads (the mirror sets its maximum).
  metrics.bufferedBytesSource = () => pool.budget.bytes;
  // With store.url, every sample also goes to PostgreSQL, queued against the same budget (DESIGN §2.8, §11).
  const fleet =
    initial.store === null
      ? null
      : new FleetStore({
          config: initial.store,
          service: initial.service,
          instance: initial.instance,
          log,
          metrics,
          budget: pool.budget,
          routes: () => gen.mirror?.views() ?? [],
          minutes: (after) => gen.mirror?.minutes(after) ?? [],
          ...(opts.storeTiming !== undefined ? { timing: opts.storeTiming } : {}),
        });
  if (fleet !== null) store.sink = (sample) => fleet.enqueue(sample);
  let ready = false;
  let stopping: Promise<void> | null = null;

  const build = (config: Config, previous: Generation | null): Generation => {
    const router = new Router(config.routes);
    // Capture holds bytes in the budget too, with or without a dark backend.
    pool.budget.max = config.mirror.maxBufferedBytes;
    // With a dark backend the compare worker will be needed: start it before traffic.
    if (config.dark !== null) pool.warm();
    const mirror =
      config.dark === null
        ? null
        : new Mirror({ config, metrics, log, pool, store, previous: previous?.mirror ?? null });
    const capture = config.capture;
    const kept = previous?.writer ?? null;
    const writer =
      capture === null ? null : kept !== null && sameWriter(kept, capture, config.redact) ? kept : new CaptureWriter({ config: capture, redact: config.redact, metrics, log });
    const captureHook = capture === null || writer === null ? null : new CaptureHook(capture, config.routes, writer, pool.budget);
    return {
      config,
      router,
      mirror,
      writer,
      state: {
        target: { url: config.live.url, protocol: config.live.protocol, timeout: config.live.timeout },
        router,
        // The live path sees one hook: the mirror, capture, both, or none.
        shadow: combineHooks(mirror, captureHook),
        hop: hopRules(config.forwarded.trust),
      },
    };
  };

  /** Dark launches past their `expires` date: a warn line each, at start and on every reload (DESIGN §12). */
  const lifecycle = (config: Config): void => {
    metrics.setRouteExpiry(config.routes);
    if (config.dark === null) return;
    for (const r of config.routes) {
      if (!isExpired(r.expires)) continue;
      log.warn(
        { route: r.name, owner: r.owner, expires: r.expires },
        `dark launch expired: route ${r.name} passed its expires date ${r.expires as string}${r.owner !== '' ? ` (owner ${r.owner})` : ''}; release it or remove the route`,
      );
    }
  };

  /**
   * A heap cap small for the bodies umbra may compare: pairs past it are skipped
   * `compare_heap` (docs/compare.md, Memory). Said at start and on every reload.
   */
  const heapAdvice = (config: Config): void => {
    if (config.dark === null && config.secondary === null) return;
    const largest = Math.max(config.limits.maxDecodedBytes, ...config.routes.map((r) => r.mirror.maxBodyBytes));
    const heap = config.limits.compareHeap;
    if (heap >= COMPARE_HEAP_PER_BODY * largest) return;
    log.warn(
      { compareHeap: heap, largestBody: largest },
      `limits.compareHeap (${heap} bytes) is under ${COMPARE_HEAP_PER_BODY} times the largest body umbra may compare (${largest} bytes, limits.maxDecodedBytes or mirror.maxBodyBytes): large pairs will be skipped compare_heap; raise limits.compareHeap`,
    );
  };

  let gen = build(initial, null);
  metrics.breakerOpenSource = (target) => (gen.mirror !== null && gen.mirror.breakers[target].state !== 'closed' ? 1 : 0);
  metrics.verdictSource = () => gen.mirror?.verdicts().routes ?? [];
  const live = new LiveProxy(gen.state, { log, metrics });
  const tunnels = new Tunnels(log);
  const proxyServer = createProxyServer({ live, tunnels, limits: () => gen.config.limits, log, metrics });
  const front = createFront({ http1: proxyServer, live, tls: initial.tls, limits: () => gen.config.limits, log, metrics });
  const api = createApiHandler({
    mirror: () => gen.mirror,
    store: () => store,
    routeNames: () => gen.router.routes.map((r) => r.name),
    log,
    fleet: () => fleet,
    service: () => initial.service,
  });
  const adminServer = createAdminServer({
    token: () => gen.config.admin.token,
    hosts: () => gen.config.admin.hosts,
    metrics,
    log,
    isReady: () => ready,
    handlers: [api, ...(opts.handlers ?? [])],
    openHandlers: [createPageHandler()],
  });

  const adminUrl = await listen(adminServer, initial.admin.listen.host, initial.admin.listen.port);
  let proxyUrl: string;
  try {
    proxyUrl = await listen(front.server, initial.listen.host, initial.listen.port, initial.tls === null ? 'http' : 'https');
  } catch (err) {
    adminServer.close();
    await pool.close();
    await gen.mirror?.close(0);
    await gen.writer?.close(0);
    await live.close();
    await fleet?.close();
    throw err;
  }
  ready = true;
  // Live traffic first: the store connects (and creates its schema) in the background, retrying until it answers.
  fleet?.start();
  // The shadow budget in force and where it came from (the file, the container's memory limit or the default).
  const budget = initial.dark === null && initial.capture === null ? {} : { maxBufferedBytes: initial.mirror.maxBufferedBytes, maxBufferedBytesFrom: initial.mirror.maxBufferedBytesFrom };
  const capturing = initial.capture === null ? {} : { capture: initial.capture.dir };
  log.info({ listen: proxyUrl, admin: adminUrl, live: initial.live.url, dark: initial.dark?.url ?? null, ...capturing, store: fleet?.url ?? null, ...budget }, 'umbra started');
  lifecycle(initial);
  heapAdvice(initial);
  const runtime = opts.runtime ?? { containerLimit: containerMemoryLimit(), nodeFlags: nodeFlags(process.execArgv, process.env['NODE_OPTIONS']) };
  const young = youngGenerationAdvice(runtime.containerLimit, runtime.nodeFlags);
  if (young !== null) log.warn({ memoryLimit: runtime.containerLimit }, young);

  const reload = async (config: Config): Promise<void> => {
    const old = gen;
    const restartOnly = restartOnlyChanges(old.config, config);
    if (JSON.stringify(old.config.store) !== JSON.stringify(config.store)) restartOnly.push('store');
    gen = build(config, old);
    // One assignment: requests under way finish with the state they started with.
    live.setState(gen.state);
    applyLimits(proxyServer, config.limits);
    front.applyLimits(config.limits);
    if (config.tls !== null) front.setTls(config.tls);
    store.capacity = config.limits.samplesPerRoute;
    pool.maxQueue = config.limits.compareQueue;
    pool.workerHeapMb = config.limits.compareHeap / 1024 ** 2;
    log.level = config.log.level;
    metrics.configReloads.inc({ result: 'success' });
    log.info({ source: config.source, ...(restartOnly.length > 0 ? { needsRestart: restartOnly } : {}) }, 'config reloaded');
    lifecycle(config);
    heapAdvice(config);
    // The old shadow pools close once their requests are done.
    // A replaced capture writer writes what it has queued, then closes its file.
    await Promise.all([
      old.mirror === null ? null : old.mirror.close(config.dark?.timeout ?? 5000),
      old.writer === null || old.writer === gen.writer ? null : old.writer.close(CAPTURE_FLUSH_MS),
    ]);
  };

  const stop = async (): Promise<void> => {
    ready = false;
    log.info({ inFlight: live.active }, 'draining');
    front.close();
    front.closeIdleConnections();
    const deadline = performance.now() + gen.config.limits.drainTimeout;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      live.drain().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), gen.config.limits.drainTimeout);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) log.warn({ inFlight: live.active }, 'drain timeout: closing remaining connections');
    // WebSocket tunnels are not requests in flight: they are closed (1001) at the end of the drain.
    await tunnels.closeAll(Math.max(0, Math.min(500, deadline - performance.now())));
    front.closeAllConnections();
    await live.close();
    await gen.mirror?.close(Math.min(1000, gen.config.limits.drainTimeout));
    // Every live answer is in: what capture has queued is written before the file closes.
    await gen.writer?.close(Math.max(1000, Math.min(CAPTURE_FLUSH_MS, deadline - performance.now())));
    // What the store has queued gets one bounded last write.
    await fleet?.close();
    await pool.close();
    adminServer.close();
    adminServer.closeAllConnections();
    log.info('stopped');
  };

  return {
    get config() {
      return gen.config;
    },
    log,
    metrics,
    proxyUrl,
    adminUrl,
    get ready() {
      return ready;
    },
    get mirror() {
      return gen.mirror;
    },
    fleet,
    reload,
    stop: () => (stopping ??= stop()),
  };
}
