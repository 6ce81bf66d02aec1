// `umbra demo`: the first five minutes. In one process it starts the product
// catalogue in two versions (v1 live, v2 dark with a planted regression) plus a
// second v1 (the noise baseline), puts umbra in front with config/demo.yaml,
// sends a short burst of traffic, and prints what umbra found, read from
// umbra's own admin API as any user would read it.
import { DemoError } from '../errors.js';
import { Agent, request } from 'undici';
import type { Umbra } from '../app.js';
import { startCatalogue } from './catalogue.js';
import { burstSize, fetchRoutes, formatSummary, getJson, lcg, runBurst, settle, show, startDemoUmbra, waitForSignal, type BurstResult, type DemoOptions, type Out } from './harness.js';

interface DivergenceSample {
  readonly method: string;
  readonly path: string;
  readonly differences: ReadonlyArray<{ part: string; field: string; kind: string; live?: unknown; dark?: unknown }>;
}

const DEFAULT_REQUESTS = 400;
export const DEMO_ROUTES = ['list-products', 'get-product', 'categories'];

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

async function sendBurst(proxyUrl: string, paths: readonly string[], concurrency: number, out: Out): Promise<BurstResult> {
  const agent = new Agent({ connections: concurrency });
  try {
    return await runBurst(paths, concurrency, out, 'requests', async (path, i) => {
      const res = await request(`${proxyUrl}${path}`, {
        dispatcher: agent,
        headers: { accept: 'application/json', 'x-user-id': `user-${(i * 7919) % 97}` },
      });
      await res.body.dump();
      return res.statusCode < 500;
    });
  } finally {
    await agent.close();
  }
}

async function exampleDivergence(adminUrl: string): Promise<string | null> {
  const body = (await getJson(`${adminUrl}/api/divergences?route=get-product&limit=1`)) as { divergences?: DivergenceSample[] };
  const sample = body.divergences?.[0];
  if (sample === undefined) return null;
  const lines = sample.differences.slice(0, 3).map((d) => `    ${d.part} ${d.field} ${d.kind}: live ${show(d.live)}, dark ${show(d.dark)}`);
  return [`  e.g. ${sample.method} ${sample.path}`, ...lines].join('\n');
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const say = (text = ''): void => {
    out.write(`${text}\n`);
  };
  const started: Array<{ close(): Promise<void> }> = [];
  let umbra: Umbra | null = null;
  try {
    const requests = burstSize(opts, DEFAULT_REQUESTS);
    const [live, dark, secondary] = await Promise.all([startCatalogue('v1'), startCatalogue('v2'), startCatalogue('v1')]);
    started.push(live, dark, secondary);
    umbra = await startDemoUmbra('config/demo.yaml', { live, dark, secondary }, opts.keep);
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
    say(formatSummary(routes, DEMO_ROUTES));
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
    const signal = await waitForSignal(opts.stop);
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
