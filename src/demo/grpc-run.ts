// `umbra demo --grpc`: the same first five minutes for a gRPC service. In one
// process it starts the catalogue as shop.v1.Catalog in two versions (v1 live,
// v2 dark with two planted regressions) plus a second v1, puts umbra in front
// with config/demo/grpc.yaml (h2c to every backend), sends unary GetItem calls
// and a few server-streaming ListItems calls through umbra over h2c, and
// prints what umbra found, read from its admin API as any user would read it.
import type { Umbra } from '../app.js';
import { DemoError } from '../errors.js';
import { PRODUCTS, type CatalogueVersion } from './catalogue.js';
import { connectGrpc } from './grpc-client.js';
import { GET_ITEM, LIST_ITEMS, LOST_ID, SERVICE, priceCents, startGrpcCatalogue, type GrpcCatalogueServer } from './grpc-catalogue.js';
import { encodeMessage } from './grpc-wire.js';
import { burstSize, fetchRoutes, formatSummary, getJson, lcg, runBurst, settle, show, startDemoUmbra, waitForSignal, type DemoOptions, type RouteSummary } from './harness.js';

const CONFIG = 'config/demo/grpc.yaml';
const DEFAULT_CALLS = 200;
export const GRPC_DEMO_ROUTES = ['get-item', 'catalog'];
/** Ids the plan asks for: the 48 items and two that do not exist. */
const IDS = 50;
const CATEGORIES = ['', 'kitchen', 'garden', 'office', 'outdoor'];

export type GrpcCall = { readonly method: 'GetItem'; readonly id: string } | { readonly method: 'ListItems'; readonly category: string };

/**
 * The burst: `n` GetItem calls, every id from 1 to 50 once per 50 calls in a
 * seeded order (so each run, and each round, has the same mix: the lost item,
 * the items on sale, the two unknown ids), and a ListItems call after the 20th
 * GetItem and every 40th after it, by category in turn ("" = all).
 */
export function grpcTrafficPlan(n: number): GrpcCall[] {
  const rnd = lcg(20240602);
  const plan: GrpcCall[] = [];
  let round: number[] = [];
  let lists = 0;
  for (let u = 0; u < n; u++) {
    if (round.length === 0) {
      round = Array.from({ length: IDS }, (_, i) => i + 1);
      // Fisher-Yates, seeded.
      for (let i = round.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [round[i], round[j]] = [round[j] as number, round[i] as number];
      }
    }
    plan.push({ method: 'GetItem', id: String(round.pop()) });
    if (u % 40 === 19) plan.push({ method: 'ListItems', category: CATEGORIES[lists++ % CATEGORIES.length] ?? '' });
  }
  return plan;
}

/** A sample of GET /api/divergences for a gRPC call (DESIGN §7; grpc/grpcCode from src/observe/record.ts). */
interface GrpcSample {
  readonly method: string;
  readonly path: string;
  readonly live: { readonly status: number; readonly grpcCode?: string };
  readonly dark: { readonly status: number; readonly grpcCode?: string };
  readonly differences: ReadonlyArray<{ part: string; field: string; kind: string; live?: unknown; dark?: unknown }>;
}

/** A value as printed: JSON, cut at 32 characters (a body compared as bytes shows its length and hash). */
function brief(v: unknown): string {
  const s = show(v);
  return s.length > 32 ? `${s.slice(0, 31)}…` : s;
}

/** Text in lines of at most `width` characters, broken at spaces. */
function wrap(text: string, width = 84): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line].join('\n');
}

function describe(sample: GrpcSample): string {
  const head = `  e.g. ${sample.method} ${sample.path}   live ${sample.live.grpcCode ?? '?'}, dark ${sample.dark.grpcCode ?? '?'}`;
  // Header and trailer fields name their part already (header:grpc-status); a body path does not ($).
  const where = (d: GrpcSample['differences'][number]): string => (d.field === d.part || d.field.startsWith(`${d.part}:`) ? d.field : `${d.part} ${d.field}`);
  const lines = sample.differences.slice(0, 3).map((d) => `    ${where(d)} ${d.kind}: live ${brief(d.live)}, dark ${brief(d.dark)}`);
  return [head, ...lines].join('\n');
}

/** Two samples of get-item, when umbra kept them: one where both answered OK (the price), one where the gRPC status differs. */
async function exampleDivergences(adminUrl: string): Promise<string[]> {
  // Every sample kept: each field keeps its own recent ones, so the rarer status difference is there too.
  const body = (await getJson(`${adminUrl}/api/divergences?route=get-item&limit=500`)) as { divergences?: GrpcSample[] };
  const samples = body.divergences ?? [];
  const bothOk = samples.find((s) => s.live.grpcCode === 'OK' && s.dark.grpcCode === 'OK');
  const status = samples.find((s) => s.live.grpcCode !== s.dark.grpcCode);
  return [bothOk, status].filter((s) => s !== undefined).map(describe);
}

/** What became of the server-streaming calls, from the route's counts: never compared, and why. */
export function streamingLine(route: RouteSummary | undefined, calls: number): string {
  if (route === undefined) return `  ListItems (${calls} calls): route catalog not found in /api/routes`;
  const notMirrored = route.dropped?.streaming ?? 0;
  const skipped = route.skippedBy?.streaming ?? 0;
  const parts = [`${route.mirrored} mirrored`, `${route.compared} compared`];
  if (skipped > 0) parts.push(`${skipped} skipped (streaming)`);
  if (notMirrored > 0) parts.push(`${notMirrored} not mirrored (decision streaming)`);
  return [
    `  ListItems, server streaming (route catalog, ${calls} calls): ${parts.join(', ')}.`,
    '  umbra forwards a streaming call whole and compares unary calls only (one message',
    '  each way): its dark copy, when one is sent, is never compared.',
  ].join('\n');
}

function byReason(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
}

/**
 * What the table leaves out, when there is any: failed shadow requests and
 * requests not mirrored for a reason other than streaming (a dark that falls
 * behind on a busy machine: timeouts, then over_in_flight). Null when none.
 */
export function troubleLines(routes: readonly RouteSummary[]): string | null {
  const lines: string[] = [];
  for (const r of routes) {
    const dropped = Object.fromEntries(Object.entries(r.dropped ?? {}).filter(([d]) => d !== 'streaming' && d !== 'not_sampled'));
    const notMirrored = Object.values(dropped).reduce((n, c) => n + c, 0);
    const parts: string[] = [];
    if ((r.errors ?? 0) > 0) parts.push(`${r.errors} shadow requests failed (${byReason(r.errorsBy ?? {})})`);
    if (notMirrored > 0) parts.push(`${notMirrored} calls not mirrored (${byReason(dropped)})`);
    if (parts.length > 0) lines.push(`  ${r.name}: ${parts.join('; ')}.`);
  }
  return lines.length === 0 ? null : ['Not in the table:', ...lines, '  (see the dark errors and drops on the divergence page)'].join('\n');
}

export async function runGrpcDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const say = (text = ''): void => {
    out.write(`${text}\n`);
  };
  const started: Array<{ close(): Promise<void> }> = [];
  let umbra: Umbra | null = null;
  try {
    const plan = grpcTrafficPlan(burstSize(opts, DEFAULT_CALLS));
    const versions: CatalogueVersion[] = ['v1', 'v2', 'v1'];
    const [live, dark, secondary] = (await Promise.all(versions.map(startGrpcCatalogue))) as [GrpcCatalogueServer, GrpcCatalogueServer, GrpcCatalogueServer];
    started.push(live, dark, secondary);
    umbra = await startDemoUmbra(CONFIG, { live, dark, secondary }, opts.keep);
    // Fail before the burst if this build has no divergence API to read.
    await fetchRoutes(umbra.adminUrl);

    say(`umbra demo --grpc: the catalogue as the gRPC service ${SERVICE}, v1 live and v2 dark`);
    say(`  live       Catalog v1  ${live.url}   (h2c)`);
    say(`  dark       Catalog v2  ${dark.url}   (two planted regressions)`);
    say(`  secondary  Catalog v1  ${secondary.url}   (the noise baseline for reads)`);
    say(`  umbra      proxy ${umbra.proxyUrl} (h2c and HTTP/1.1), admin ${umbra.adminUrl}`);
    say();

    const client = await connectGrpc(umbra.proxyUrl).catch((err: unknown) => {
      throw new DemoError(`cannot open an h2c connection to umbra at ${umbra?.proxyUrl}: ${(err as Error).message}`);
    });
    const burst = await runBurst(plan, opts.concurrency ?? 8, out, 'calls', async (call) => {
      if (call.method === 'GetItem') {
        const r = await client.call(GET_ITEM, encodeMessage([[1, call.id]]));
        // NOT_FOUND is an answer (the unknown ids); anything else but OK is a failure.
        return r.code === 'OK' || r.code === 'NOT_FOUND';
      }
      const r = await client.call(LIST_ITEMS, encodeMessage([[1, call.category]]));
      return r.code === 'OK' && r.messages.length > 1;
    }).finally(() => client.close());
    const unary = plan.filter((c) => c.method === 'GetItem').length;
    const streams = plan.length - unary;
    say(`  ${burst.sent} calls in ${(burst.ms / 1000).toFixed(1)} s through umbra (${unary} GetItem, ${streams} ListItems); waiting for comparisons to finish...`);
    const routes = await settle(umbra.adminUrl);
    say();
    say('What umbra found (from its admin API, /api/routes):');
    say();
    say(formatSummary(routes, GRPC_DEMO_ROUTES));
    say();
    const trouble = troubleLines(routes);
    if (trouble !== null) {
      say(trouble);
      say();
    }
    for (const example of await exampleDivergences(umbra.adminUrl)) say(example);
    say();
    say(streamingLine(routes.find((r) => r.name === 'catalog'), streams));
    say();
    const onSale = PRODUCTS.find((p) => p.discount > 0);
    const example = onSale === undefined ? '' : ` (item ${onSale.id}: ${priceCents(onSale, 'v1')} in v1, ${priceCents(onSale, 'v2')} in v2)`;
    const baseline = Object.values(secondary.calls).reduce((n, c) => n + c, 0);
    say(
      wrap(
        'The planted regressions: v2 rounds sale prices (the outdoor category, 15% off) to whole units, ' +
          `so Item.price_cents (field 3) differs on every item on sale${example}. ` +
          `And v2's data migration lost item ${LOST_ID}: v2 answers NOT_FOUND where v1 answers OK, ` +
          'a gRPC status difference (grpc-status, grpc-message) and a message on one side only.',
      ),
    );
    say(
      wrap(
        baseline === 0
          ? 'The secondary answered no call: a gRPC call is a POST, and umbra never sends a copy of a possible write ' +
              'to a live instance. There is no noise baseline for gRPC, so the demo\'s answers carry nothing that ' +
              'differs by nature (noise stays 0).'
          : `The secondary answered ${baseline} calls: what differs between two v1 answers is noise.`,
      ),
    );
    say();
    say('Where to look:');
    say(`  divergence page  ${umbra.adminUrl}/`);
    say(`  metrics          ${umbra.adminUrl}/metrics   (umbra_grpc_responses_total, umbra_comparison_skips_total)`);
    say(`  JSON API         ${umbra.adminUrl}/api/routes  ${umbra.adminUrl}/api/divergences?route=get-item`);
    if (!opts.keep) {
      say();
      say('These URLs close with the demo. Run `umbra demo --grpc --keep` to keep it serving.');
      return 0;
    }
    say();
    say(`Serving until Ctrl-C. Call ${SERVICE} through umbra at ${umbra.proxyUrl.replace(/^http:\/\//, '')} with any`);
    say('gRPC client that speaks plain-text HTTP/2 (h2c), e.g. grpcurl in plain-text mode with');
    say('config/demo/catalog.proto for the message names. curl cannot: it does not frame gRPC messages.');
    const signal = await waitForSignal(opts.stop);
    say(`\n${signal}: stopping`);
    return 0;
  } catch (err) {
    if (!(err instanceof DemoError)) throw err;
    (opts.err ?? process.stderr).write(`umbra demo --grpc: ${err.message}\n`);
    return 1;
  } finally {
    if (umbra !== null) {
      await umbra.stop();
      umbra.log.flush();
    }
    await Promise.all(started.map((s) => s.close()));
  }
}
