// `umbra demo` must prove umbra's point on a fresh clone: it finds the planted
// price regression and does not report the fields that differ by nature.
import t from 'tap';
import { PRODUCTS, catalogueHandler, priceOf, startCatalogue } from '../../src/demo/catalogue.js';
import { formatSummary } from '../../src/demo/harness.js';
import { DEMO_ROUTES, runDemo, trafficPlan } from '../../src/demo/run.js';
import { json } from '../helpers/net.js';
import { runUmbra, spawnUmbra, staleDist } from '../helpers/spawn.js';
import { capture, parseSummary } from '../helpers/demo.js';

const NOISY = /requestId|generatedAt|x-request-id/i;

t.test('the catalogue: v2 differs from v1 only in sale prices, rounded to whole units', (t) => {
  const onSale = PRODUCTS.filter((p) => p.discount > 0);
  t.ok(onSale.length >= 8, 'several products are on sale');
  for (const p of PRODUCTS) {
    if (p.discount === 0) t.equal(priceOf(p, 'v2'), priceOf(p, 'v1'), `product ${p.id}: same price`);
    else {
      t.not(priceOf(p, 'v2'), priceOf(p, 'v1'), `product ${p.id}: v2 price differs`);
      t.ok(Number.isInteger(priceOf(p, 'v2')), `product ${p.id}: v2 rounds to a whole unit`);
    }
  }
  t.end();
});

t.test('the catalogue answers JSON with a fresh requestId and generatedAt every time', async (t) => {
  const v1 = await startCatalogue('v1');
  t.teardown(() => v1.close());
  const a = await json(`${v1.url}/products/4`);
  const b = await json(`${v1.url}/products/4`);
  t.equal(a.status, 200);
  t.equal(a.body.price, 57.37);
  t.not(a.body.requestId, b.body.requestId);
  t.not(a.body.generatedAt, b.body.generatedAt);
  t.match(a.body.generatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  const list = await json(`${v1.url}/products?page=2`);
  t.equal(list.body.items.length, 12);
  t.equal(list.body.items[0].id, 13);
  t.equal((await json(`${v1.url}/products/999`)).status, 404);
  t.equal((await json(`${v1.url}/products?page=abc`)).status, 400);
  t.equal((await json(`${v1.url}/categories`)).body.categories.length, 4);
  t.equal(typeof catalogueHandler('v2'), 'function');
});

t.test('the traffic plan hits every demo route, on-sale products included', (t) => {
  const plan = trafficPlan(400);
  t.equal(plan.length, 400);
  t.same(trafficPlan(400), plan, 'the same mix every run');
  t.ok(plan.some((p) => /^\/products\/(4|8|12|16)$/.test(p)), 'single on-sale products');
  t.ok(plan.some((p) => /^\/products\?/.test(p)), 'list pages');
  t.ok(plan.some((p) => p === '/categories'), 'categories');
  t.end();
});

t.test('formatSummary: aligned columns, rates, top fields', (t) => {
  const text = formatSummary([
    { name: 'get-product', sample: 1, mirrored: 10, compared: 8, matches: 0, mismatches: 2, noise: 6, topFields: [{ field: '$.price', count: 2 }] },
    { name: 'categories', sample: 1, mirrored: 0, compared: 0, matches: 0, mismatches: 0, noise: 0, topFields: [] },
    { name: 'default', sample: 0.1, mirrored: 0, compared: 0, matches: 0, mismatches: 0, noise: 0, topFields: [] },
  ], DEMO_ROUTES);
  const rows = parseSummary(text);
  t.same(rows.get('get-product'), { route: 'get-product', mirrored: 10, compared: 8, rate: 25, noise: 6, fields: '$.price (2)' });
  t.equal(rows.get('categories')?.rate, null, 'no rate without comparisons');
  t.notOk(rows.has('default'), 'an idle route outside the demo is left out');
  t.end();
});

t.test('runDemo, in process: the price regression is found, requestId and generatedAt are noise', async (t) => {
  const { out, text } = capture();
  const code = await runDemo({ keep: false, requests: 160, out });
  const output = text();
  t.equal(code, 0, 'returns 0');
  const rows = parseSummary(output);
  t.same([...rows.keys()].sort(), ['categories', 'get-product', 'list-products'], `the summary has the three demo routes\n${output}`);

  const product = rows.get('get-product');
  t.ok(product !== undefined && product.compared > 0 && product.compared === product.mirrored, 'every mirrored product request was compared');
  t.ok(product !== undefined && product.rate !== null && product.rate > 0 && product.rate < 100, `get-product mismatch rate between 0 and 100%: ${product?.rate}`);
  t.match(product?.fields, /^\$\.price \(\d+\)$/, 'get-product: $.price is the only top field');
  t.ok(product !== undefined && product.noise > 0, 'products not on sale differ only by noise');

  const list = rows.get('list-products');
  t.ok(list !== undefined && list.rate !== null && list.rate > 0, 'list-products mismatches');
  t.match(list?.fields, /^\$\.items\[\*\]\.price \(\d+\)$/, 'list-products: $.items[*].price');

  const categories = rows.get('categories');
  t.ok(categories !== undefined && categories.compared > 0, 'categories compared');
  t.equal(categories?.rate, 0, 'categories: no mismatch at all');
  t.equal(categories?.noise, categories?.compared, 'categories: every comparison is noise (requestId, generatedAt)');

  for (const row of rows.values()) t.notMatch(row.fields, NOISY, `${row.route}: no noisy field among the mismatches`);
  t.match(output, /e\.g\. GET \/products\/\d+\n\s+body \$\.price changed: live \d+\.\d+, dark \d+\n/, 'an example divergence with a whole-unit dark price');
  t.match(output, /divergence page\s+http:\/\/127\.0\.0\.1:\d+\//, 'where to look');
  t.match(output, /traffic \[#+\] 160\/160 requests, 0 failed/, 'a progress line per quarter, no failures');
});

t.test('UMBRA_DEMO_REQUESTS sets the burst; a bad value is refused', async (t) => {
  const { out, text } = capture();
  t.equal(await runDemo({ keep: false, out, env: { UMBRA_DEMO_REQUESTS: '24' } }), 0);
  t.match(text(), /24 requests in [\d.]+ s through umbra/);
  const err = capture();
  t.equal(await runDemo({ keep: false, out, err: err.out, env: { UMBRA_DEMO_REQUESTS: 'lots' } }), 1);
  t.match(err.text(), /UMBRA_DEMO_REQUESTS must be a positive integer/);
});

t.test('runDemo with keep: serves until its stop signal is aborted, then returns 0', async (t) => {
  const { out, text } = capture();
  const stop = new AbortController();
  const run = runDemo({ keep: true, stop: stop.signal, requests: 8, out });
  const deadline = Date.now() + 20_000;
  while (!text().includes('Serving until Ctrl-C') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const admin = /divergence page\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(text())?.[1];
  t.ok(admin, `serving\n${text()}`);
  t.equal((await json(`${admin}/api/routes`)).status, 200, 'still serving after the summary');
  stop.abort();
  t.equal(await run, 0);
  t.match(text(), /aborted: stopping\n$/);
});

t.test('the real CLI: `umbra demo` and `umbra demo --keep`', (t) => {
  const stale = staleDist();
  if (stale.length > 0) {
    t.fail(`dist/ is older than src/ (${stale.slice(0, 3).join(', ')}...): run \`npm run build\` first (npm test does)`);
    t.end();
    return;
  }

  t.test('`umbra demo` exits 0 by itself after the burst', async (t) => {
    const r = await runUmbra(['demo'], { env: { UMBRA_DEMO_REQUESTS: '80' }, timeout: 30_000 });
    t.equal(r.code, 0, `exit 0\n${r.stderr}`);
    t.equal(r.stderr, '', 'nothing on stderr (logs at warn)');
    const rows = parseSummary(r.stdout);
    t.ok((rows.get('get-product')?.rate ?? 0) > 0, 'get-product mismatches');
    t.match(rows.get('get-product')?.fields, /\$\.price/);
    t.notMatch(r.stdout, /^\{"level"/m, 'no JSON log lines in the output');
  });

  t.test('`umbra demo --keep` serves the page and the API until SIGTERM', async (t) => {
    const p = spawnUmbra(['demo', '--keep'], { env: { UMBRA_DEMO_REQUESTS: '40' } });
    t.teardown(() => p.kill());
    const deadline = Date.now() + 30_000;
    while (!p.stdout().includes('Serving until Ctrl-C') && p.exit() === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const page = /divergence page\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(p.stdout());
    t.ok(page, `prints the page URL\n${p.stdout()}\n${p.stderr()}`);
    if (page === null) return;
    const admin = page[1] ?? '';
    const res = await fetch(`${admin}/`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/html/);
    t.match(await res.text(), /umbra/);
    const routes = await json(`${admin}/api/routes`);
    t.ok(routes.body.routes.some((r: { name: string; mismatches: number }) => r.name === 'get-product' && r.mismatches > 0));
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    t.equal(exit.code, 0, 'exit 0 on SIGTERM');
    t.match(p.stdout(), /SIGTERM: stopping/);
  });
  t.end();
});
