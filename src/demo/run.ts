// `umbra demo`: the first five minutes. In one process it starts the product
// catalogue in two versions (v1 live, v2 dark with a planted regression) plus a
// second v1 (the noise baseline), puts umbra in front with config/demo.yaml,
// sends a short burst of traffic, and prints what umbra found, read from
// umbra's own admin API as any user would read it.
import { DemoError } from '../errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startUmbra, type Umbra } from '../app.js';
import { parseConfigText } from '../config/load.js';
import { startCatalogue, type CatalogueServer } from './catalogue.js';

export interface DemoOptions {
  /** Keep serving after the burst until SIGINT/SIGTERM. */
  readonly keep: boolean;
  /** Requests in the burst; default UMBRA_DEMO_REQUESTS, else 400. */
  readonly requests?: number;
  /** Requests in flight at once; default 8. */
  readonly concurrency?: number;
  /** Where the demo writes; default process.stdout. */
  readonly out?: NodeJS.WritableStream & { readonly isTTY?: boolean };
  /** Where a failure is explained; default process.stderr. */
  readonly err?: NodeJS.WritableStream;
  /** Read for UMBRA_DEMO_REQUESTS; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

type Out = NonNullable<DemoOptions['out']>;

/** One row of GET /api/routes (DESIGN §7). */
export interface RouteSummary {
  readonly name: string;
  readonly sample: number;
  readonly mirrored: number;
  readonly compared: number;
  readonly matches: number;
  readonly mismatches: number;
  readonly noise: number;
  readonly topFields: ReadonlyArray<{ readonly field: string; readonly count: number }>;
}

interface DivergenceSample {
  readonly method: string;
  readonly path: string;
  readonly differences: ReadonlyArray<{ part: string; field: string; kind: string; live?: unknown; dark?: unknown }>;
}

const DEFAULT_REQUESTS = 400;
const DEMO_ROUTES = ['list-products', 'get-product', 'categories'];


/** config/demo.yaml, from src/demo/ and from dist/demo/ alike. */
function demoConfigPath(): string {
  const path = fileURLToPath(new URL('../../config/demo.yaml', import.meta.url));
  if (!existsSync(path)) throw new DemoError(`cannot find the demo config at ${path}`);
  return path;
}

function burstSize(opts: DemoOptions): number {
  if (opts.requests !== undefined) return opts.requests;
  const raw = (opts.env ?? process.env).UMBRA_DEMO_REQUESTS;
  if (raw === undefined || raw === '') return DEFAULT_REQUESTS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new DemoError(`UMBRA_DEMO_REQUESTS must be a positive integer, not "${raw}"`);
  return n;
}

async function startDemoUmbra(backends: Record<'live' | 'dark' | 'secondary', CatalogueServer>, keep: boolean): Promise<Umbra> {
  const path = demoConfigPath();
  const text = readFileSync(path, 'utf8');
  const configFor = (listen: string, admin: string): ReturnType<typeof parseConfigText> =>
    parseConfigText(text, 'config/demo.yaml', {
      DEMO_LISTEN: listen,
      DEMO_ADMIN: admin,
      DEMO_LIVE_URL: backends.live.url,
      DEMO_DARK_URL: backends.dark.url,
      DEMO_SECONDARY_URL: backends.secondary.url,
    });
  if (keep) {
    // Memorable ports for a demo that stays up, when they are free.
    try {
      return await startUmbra(configFor('127.0.0.1:8080', '127.0.0.1:9901'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
    }
  }
  return startUmbra(configFor('127.0.0.1:0', '127.0.0.1:0'));
}

async function getJson(url: string): Promise<unknown> {
  const res = await request(url);
  const text = await res.body.text();
  if (res.statusCode !== 200) {
    throw new DemoError(`${url} answered ${res.statusCode}: ${text.slice(0, 200)}`);
  }
  return JSON.parse(text) as unknown;
}

async function fetchRoutes(adminUrl: string): Promise<RouteSummary[]> {
  const body = (await getJson(`${adminUrl}/api/routes`)) as { routes?: unknown };
  if (!Array.isArray(body.routes)) throw new DemoError(`${adminUrl}/api/routes has no "routes" list`);
  return body.routes as RouteSummary[];
}

/** A seeded generator, so every run sends the same mix. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The burst's paths: half single products (a few unknown ids), a third list pages, the rest categories. */
export function trafficPlan(n: number): string[] {
  const rnd = lcg(20240601);
  return Array.from({ length: n }, () => {
    const r = rnd();
    if (r < 0.5) return `/products/${1 + Math.floor(rnd() * 50)}`;
    if (r < 0.82) {
      const categories = ['kitchen', 'garden', 'office', 'outdoor'];
      return rnd() < 0.5 ? `/products?category=${categories[Math.floor(rnd() * 4)] ?? 'kitchen'}` : `/products?page=${1 + Math.floor(rnd() * 4)}`;
    }
    return '/categories';
  });
}

interface BurstResult {
  readonly sent: number;
  readonly failed: number;
  readonly ms: number;
}

async function sendBurst(proxyUrl: string, paths: readonly string[], concurrency: number, out: Out): Promise<BurstResult> {
  const total = paths.length;
  // ~15 ms a request, at most 8 s: long enough to watch, short enough to wait for.
  const durationMs = Math.min(8000, total * 15);
  const interval = durationMs / total;
  const agent = new Agent({ connections: concurrency });
  const tty = out.isTTY === true;
  const started = Date.now();
  let next = 0;
  let done = 0;
  let failed = 0;
  let lastQuarter = 0;

  const progress = (final: boolean): void => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const line = `  traffic [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} requests, ${failed} failed`;
    if (tty) out.write(`\r${line}${final ? '\n' : ''}`);
    else {
      const quarter = Math.floor((done / total) * 4);
      if (final || quarter > lastQuarter) out.write(`${line}\n`);
      lastQuarter = quarter;
    }
  };
  const ticker = tty ? setInterval(() => progress(false), 100) : null;

  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const path = paths[i];
      if (path === undefined) return;
      const wait = started + i * interval - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        const res = await request(`${proxyUrl}${path}`, {
          dispatcher: agent,
          headers: { accept: 'application/json', 'x-user-id': `user-${(i * 7919) % 97}` },
        });
        await res.body.dump();
        if (res.statusCode >= 500) failed++;
      } catch {
        failed++;
      }
      done++;
      if (!tty) progress(false);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  } finally {
    if (ticker !== null) clearInterval(ticker);
    await agent.close();
  }
  // The non-TTY line for 100% was written by the last request.
  if (tty) progress(true);
  return { sent: done, failed, ms: Date.now() - started };
}

/** Polls /api/routes until every mirror is compared or the numbers stop moving. */
async function settle(adminUrl: string, maxMs = 10_000): Promise<RouteSummary[]> {
  const deadline = Date.now() + maxMs;
  let last = '';
  let steady = 0;
  for (;;) {
    const routes = await fetchRoutes(adminUrl);
    const mirrored = routes.reduce((n, r) => n + r.mirrored, 0);
    const compared = routes.reduce((n, r) => n + r.compared, 0);
    const key = JSON.stringify(routes.map((r) => [r.mirrored, r.compared]));
    steady = key === last ? steady + 1 : 0;
    last = key;
    // Shadow errors are mirrored but never compared: hence the steady-state exit.
    if ((mirrored > 0 && compared >= mirrored) || steady >= 3 || Date.now() > deadline) return routes;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function pct(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part / whole) * 100).toFixed(1)}%`;
}

/** The summary table, one row per route, as plain text. */
export function formatSummary(routes: readonly RouteSummary[]): string {
  const header = ['route', 'mirrored', 'compared', 'mismatch rate', 'noise', 'top fields'];
  const rows = routes
    .filter((r) => r.mirrored > 0 || DEMO_ROUTES.includes(r.name))
    .map((r) => [
      r.name,
      String(r.mirrored),
      String(r.compared),
      pct(r.mismatches, r.compared),
      String(r.noise),
      r.topFields.length === 0 ? '-' : r.topFields.slice(0, 3).map((f) => `${f.field} (${f.count})`).join(', '),
    ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const numeric = [false, true, true, true, true, false];
  const line = (cells: readonly string[]): string =>
    `  ${cells.map((c, i) => (numeric[i] === true ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function show(v: unknown): string {
  return v === undefined ? '(absent)' : JSON.stringify(v);
}

async function exampleDivergence(adminUrl: string): Promise<string | null> {
  const body = (await getJson(`${adminUrl}/api/divergences?route=get-product&limit=1`)) as { divergences?: DivergenceSample[] };
  const sample = body.divergences?.[0];
  if (sample === undefined) return null;
  const lines = sample.differences.slice(0, 3).map((d) => `    ${d.part} ${d.field} ${d.kind}: live ${show(d.live)}, dark ${show(d.dark)}`);
  return [`  e.g. ${sample.method} ${sample.path}`, ...lines].join('\n');
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const say = (text = ''): void => {
    out.write(`${text}\n`);
  };
  const started: Array<{ close(): Promise<void> }> = [];
  let umbra: Umbra | null = null;
  try {
    const requests = burstSize(opts);
    const [live, dark, secondary] = await Promise.all([startCatalogue('v1'), startCatalogue('v2'), startCatalogue('v1')]);
    started.push(live, dark, secondary);
    umbra = await startDemoUmbra({ live, dark, secondary }, opts.keep);
    // Fail before the burst if this build has no divergence API to read.
    await fetchRoutes(umbra.adminUrl);

    say('umbra demo: a product catalogue API, v1 live and v2 dark');
    say(`  live       catalogue v1  ${live.url}`);
    say(`  dark       catalogue v2  ${dark.url}   (one planted regression)`);
    say(`  secondary  catalogue v1  ${secondary.url}   (noise baseline)`);
    say(`  umbra      proxy ${umbra.proxyUrl}, admin ${umbra.adminUrl}`);
    say();

    const burst = await sendBurst(umbra.proxyUrl, trafficPlan(requests), opts.concurrency ?? 8, out);
    say(`  ${burst.sent} requests in ${(burst.ms / 1000).toFixed(1)} s through umbra; waiting for comparisons to finish...`);
    const routes = await settle(umbra.adminUrl);
    say();
    say('What umbra found (from its admin API, /api/routes):');
    say();
    say(formatSummary(routes));
    say();
    const example = await exampleDivergence(umbra.adminUrl);
    if (example !== null) {
      say(example);
      say();
    }
    say('The planted regression: v2 rounds sale prices (the outdoor category, 15% off) to');
    say('whole units, so $.price and $.items[*].price differ. Every answer also carries a');
    say('fresh requestId and generatedAt: they differ between the two v1 instances as well,');
    say('so umbra counts them as noise, not as mismatches.');
    say();
    say('Where to look:');
    say(`  divergence page  ${umbra.adminUrl}/`);
    say(`  metrics          ${umbra.adminUrl}/metrics`);
    say(`  JSON API         ${umbra.adminUrl}/api/routes  ${umbra.adminUrl}/api/divergences?route=get-product`);
    if (!opts.keep) {
      say();
      say('These URLs close with the demo. Run `umbra demo --keep` to keep it serving.');
      return 0;
    }
    say();
    say(`Serving until Ctrl-C. Send your own requests through umbra, e.g.:`);
    say(`  curl ${umbra.proxyUrl}/products/8`);
    const signal = await waitForSignal();
    say(`\n${signal}: stopping`);
    return 0;
  } catch (err) {
    if (!(err instanceof DemoError)) throw err;
    (opts.err ?? process.stderr).write(`umbra demo: ${err.message}\n`);
    return 1;
  } finally {
    if (umbra !== null) {
      await umbra.stop();
      umbra.log.flush();
    }
    await Promise.all(started.map((s) => s.close()));
  }
}
