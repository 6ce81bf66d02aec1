// `umbra demo --grpc` must show a newcomer a gRPC divergence in one command:
// the price regression on GetItem (both answers OK), the status regression
// (live OK, dark NOT_FOUND), and ListItems, a server stream, never compared.
// Only one assertion names a body field path: that the demo's compare.protos
// is in force (the price as $.price_cents); the rest holds however umbra reads
// a gRPC body.
import t from 'tap';
import { PRODUCTS } from '../../src/demo/catalogue.js';
import { GET_ITEM, LIST_ITEMS, LOST_ID, answer } from '../../src/demo/grpc-catalogue.js';
import { grpcTrafficPlan, runGrpcDemo, streamingLine, troubleLines } from '../../src/demo/grpc-run.js';
import { encodeMessage } from '../../src/demo/grpc-wire.js';
import { json, metricValue } from '../helpers/net.js';
import { runUmbra, staleDist } from '../helpers/spawn.js';
import { capture, parseSummary } from '../helpers/demo.js';

t.test('the plan: every id once per 50 GetItem calls in a seeded order, a ListItems call per 40', (t) => {
  const plan = grpcTrafficPlan(200);
  t.same(grpcTrafficPlan(200), plan, 'the same calls every run');
  const ids = plan.flatMap((c) => (c.method === 'GetItem' ? [c.id] : []));
  t.equal(ids.length, 200, '200 GetItem calls');
  for (let id = 1; id <= 50; id++) t.equal(ids.filter((x) => x === String(id)).length, 4, `id ${id}: once a round`);
  t.same(
    plan.flatMap((c) => (c.method === 'ListItems' ? [c.category] : [])),
    ['', 'kitchen', 'garden', 'office', 'outdoor'],
    'five ListItems calls, by category in turn',
  );
  t.not(ids.slice(0, 50).join(), ids.slice(50, 100).join(), 'each round in its own order');
  t.equal(grpcTrafficPlan(19).length, 19, 'a plan of fewer than 20 calls has no ListItems call');
  t.end();
});

t.test('v2 answers as v1 does but for sale prices and the lost item', (t) => {
  const call = (v: 'v1' | 'v2', id: string): ReturnType<typeof answer> => answer(v, GET_ITEM, encodeMessage([[1, id]]));
  const differ: string[] = [];
  for (let id = 1; id <= 50; id++) if (JSON.stringify(call('v1', String(id))) !== JSON.stringify(call('v2', String(id)))) differ.push(String(id));
  const onSale = PRODUCTS.filter((p) => p.discount > 0).map((p) => String(p.id));
  t.same(differ, [...onSale, LOST_ID].sort((a, b) => Number(a) - Number(b)));
  t.match(call('v1', LOST_ID), { code: 'OK' });
  t.match(call('v2', LOST_ID), { code: 'NOT_FOUND', message: `no item "${LOST_ID}"` });
  t.match(call('v1', '49'), { code: 'NOT_FOUND', message: 'no item "49"' }, 'an unknown id');
  t.same(call('v2', '49'), call('v1', '49'), 'the same answer for an unknown id');
  t.ok((answer('v1', LIST_ITEMS, encodeMessage([[1, 'outdoor']])).messages?.length ?? 0) > 1, 'ListItems streams several messages');
  t.end();
});

t.test('streamingLine says what became of the streaming calls, skipped or not mirrored', (t) => {
  const route = { name: 'catalog', sample: 1, mirrored: 5, compared: 0, matches: 0, mismatches: 0, noise: 0, topFields: [] };
  t.match(streamingLine({ ...route, skipped: 5, skippedBy: { streaming: 5 } }, 5), /5 mirrored, 0 compared, 5 skipped \(streaming\)\./);
  t.match(streamingLine({ ...route, mirrored: 0, dropped: { streaming: 3 } }, 3), /0 mirrored, 0 compared, 3 not mirrored \(decision streaming\)\./);
  t.match(streamingLine(undefined, 2), /route catalog not found/);
  t.end();
});

t.test('troubleLines names what the table leaves out: failed shadow requests and drops, streaming aside', (t) => {
  const route = { name: 'get-item', sample: 1, mirrored: 90, compared: 70, matches: 0, mismatches: 0, noise: 0, topFields: [] };
  t.equal(troubleLines([{ ...route, errors: 0, dropped: { streaming: 2, over_in_flight: 0 } }]), null, 'nothing to say');
  const text = troubleLines([{ ...route, errors: 20, errorsBy: { timeout: 20 }, dropped: { over_in_flight: 10, streaming: 1 } }]);
  t.match(text, /get-item: 20 shadow requests failed \(timeout 20\); 10 calls not mirrored \(over_in_flight 10\)\./);
  t.notMatch(text, /streaming/);
  t.end();
});

t.test('runGrpcDemo, in process: a divergence on get-item with live OK, a status difference, ListItems never compared', async (t) => {
  const { out, text } = capture();
  const stop = new AbortController();
  const requests = 120;
  const plan = grpcTrafficPlan(requests);
  const streams = plan.filter((c) => c.method === 'ListItems').length;
  // keep, so the test can read umbra's API after the summary; stop ends it as SIGTERM would.
  const run = runGrpcDemo({ keep: true, stop: stop.signal, requests, out });
  t.teardown(() => stop.abort());
  const deadline = Date.now() + 30_000;
  while (!text().includes('Serving until Ctrl-C') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const output = text();
  const admin = /divergence page\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(output)?.[1];
  t.ok(admin, `the demo serves, and says where\n${output}`);
  if (admin === undefined) return;

  t.match(output, new RegExp(`traffic \\[#+\\] ${plan.length}/${plan.length} calls, 0 failed`), 'every call answered as expected');
  t.match(output, new RegExp(`\\(${requests} GetItem, ${streams} ListItems\\)`));
  const rows = parseSummary(output);
  t.same([...rows.keys()], ['get-item', 'catalog'], `the summary has both routes\n${output}`);
  const item = rows.get('get-item');
  t.ok(item !== undefined && item.mirrored >= requests * 0.95 && item.mirrored <= requests, `get-item: mirrored ≈ the ${requests} calls sent (${item?.mirrored})`);
  t.equal(item?.compared, item?.mirrored, 'every mirrored GetItem was compared');
  t.ok(item !== undefined && item.rate !== null && item.rate > 0 && item.rate < 100, `get-item mismatch rate between 0 and 100%: ${item?.rate}`);
  t.equal(rows.get('catalog')?.compared, 0, 'catalog (ListItems): nothing compared');
  t.notMatch(output, /Not in the table:/, 'no shadow request failed or was dropped');
  t.match(output, /e\.g\. POST \/shop\.v1\.Catalog\/GetItem\s+live OK, dark OK\n\s+\S/, 'an example with both answers OK, and its difference');
  t.match(output, /e\.g\. POST \/shop\.v1\.Catalog\/GetItem\s+live OK, dark NOT_FOUND\n\s+\S/, 'an example of the status difference');
  t.match(output, new RegExp(`ListItems, server streaming \\(route catalog, ${streams} calls\\)`));
  t.match(output, /The secondary answered (no call|\d+ calls)/, 'what the secondary did');

  const samples = (await json(`${admin}/api/divergences?route=get-item&limit=500`)).body.divergences as Array<{ route: string; path: string; live: { status: number; grpcCode?: string }; dark: { status: number; grpcCode?: string }; differences: unknown[] }>;
  const price = samples.find((s) => s.live.grpcCode === 'OK' && s.dark.grpcCode === 'OK');
  t.match(price, { route: 'get-item', path: '/shop.v1.Catalog/GetItem', live: { status: 200, grpc: 0, grpcCode: 'OK' }, dark: { status: 200, grpc: 0, grpcCode: 'OK' } }, 'a divergence with live OK (the price)');
  t.ok((price?.differences.length ?? 0) > 0, 'with its differences');
  t.ok(
    samples.some((s) => s.differences.some((d: any) => d.field === '$.price_cents')),
    'the price read by name: config/demo/grpc.yaml\'s compare.protos is in force',
  );
  const status = samples.find((s) => s.dark.grpcCode === 'NOT_FOUND');
  t.match(status, { route: 'get-item', live: { grpc: 0, grpcCode: 'OK' }, dark: { grpc: 5, grpcCode: 'NOT_FOUND' } }, 'a status difference: live OK, dark NOT_FOUND');
  t.notOk(samples.some((s) => s.live.grpcCode === 'NOT_FOUND'), 'the unknown ids (NOT_FOUND on both) are no divergence');

  const routes = (await json(`${admin}/api/routes`)).body.routes as Array<{ name: string; compared: number; mirrored: number; skippedBy: Record<string, number>; dropped: Record<string, number> }>;
  const catalog = routes.find((r) => r.name === 'catalog');
  t.equal(catalog?.compared, 0, 'ListItems: never compared');
  t.equal((catalog?.skippedBy.streaming ?? 0) + (catalog?.dropped.streaming ?? 0), streams, 'every ListItems call skipped or dropped as streaming');
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  for (const result of ['match', 'mismatch', 'noise']) t.equal(metricValue(metrics, 'umbra_comparisons_total', { route: 'catalog', result }), 0, `no ${result} on catalog`);
  t.equal(metricValue(metrics, 'umbra_grpc_responses_total', { route: 'catalog', code: 'OK' }), streams, 'the streams themselves were answered OK');
  t.ok(metricValue(metrics, 'umbra_grpc_responses_total', { route: 'get-item', code: 'NOT_FOUND' }) > 0, 'the unknown ids: NOT_FOUND from live');

  stop.abort();
  t.equal(await run, 0, 'returns 0');
});

t.test('the real CLI: `umbra demo --grpc` exits 0 by itself after the burst', async (t) => {
  const stale = staleDist();
  if (stale.length > 0) {
    t.fail(`dist/ is older than src/ (${stale.slice(0, 3).join(', ')}...): run \`npm run build\` first (npm test does)`);
    return;
  }
  const r = await runUmbra(['demo', '--grpc'], { env: { UMBRA_DEMO_REQUESTS: '60' }, timeout: 30_000 });
  t.equal(r.code, 0, `exit 0\n${r.stderr}`);
  t.equal(r.stderr, '', 'nothing on stderr (logs at warn)');
  t.match(r.stdout, /^umbra demo --grpc: /);
  const rows = parseSummary(r.stdout);
  t.ok((rows.get('get-item')?.mirrored ?? 0) > 0, `get-item mirrored\n${r.stdout}`);
  t.ok((rows.get('get-item')?.rate ?? 0) > 0, 'get-item mismatches');
  t.ok(rows.has('catalog'), 'the catalog route (ListItems) is listed');
  t.match(r.stdout, /Run `umbra demo --grpc --keep` to keep it serving/);
});
