// The divergence page in a real browser, as operators use it: the fleet from the
// store, ramps and their gates, failing darks, pauses, the kill switch, owners
// and expiry dates. The page's differences view is in page.test.ts.
import t, { type Test } from 'tap';
import { mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Locator, Page } from 'playwright-core';
import { json, request, startBackend, until } from '../helpers/net.js';
import { ARTIFACTS, DARK_ITEM, LIVE_ITEM, item, launch, open, routeRow, umbraFor, waitForText } from '../helpers/page.js';
import { pgProxy, testDatabase } from '../helpers/pg.js';
import { startTestUmbra } from '../helpers/umbra.js';

t.test('with a store, the page shows the fleet, and says so when the database does not answer', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const db = await testDatabase(t);
  const proxy = await pgProxy(t);
  const live = await startBackend(item(LIVE_ITEM));
  const dark = await startBackend(item(DARK_ITEM));
  const FAST = { flushMs: 50, summaryMs: 100, warnEveryMs: 200, connectTimeoutMs: 500, statementTimeoutMs: 1_000, apiTimeoutMs: 1_000, backoffMinMs: 50, backoffMaxMs: 300 };
  const config = (pod: string): string =>
    ['service: shop', `instance: ${pod}`, `live: { url: "${live.url}" }`, `dark: { url: "${dark.url}" }`, 'routes:', '  - name: get-item', '    match: { path: /items/:id }', '    mirror: { sample: 1.0 }', `store: { url: "postgres://postgres@127.0.0.1:${proxy.port}/${db.name}" }`].join('\n');
  const a = await umbraFor(t, config('pod-a'), [live, dark], FAST);
  const b = await umbraFor(t, config('pod-b'), [], FAST);
  await request(`${a.proxyUrl}/items/1`);
  await request(`${b.proxyUrl}/items/2`);
  await request(`${b.proxyUrl}/items/3`);
  await until(async () => (await json(`${a.adminUrl}/api/divergences`)).body.divergences?.length === 3, 10_000, 'three records in the store');
  await until(async () => (await json(`${a.adminUrl}/api/routes`)).body.routes[0]?.instances === 2, 10_000, 'both pods in the route rows');

  const page = await open(t, browser);
  await page.goto(`${a.adminUrl}/`);
  await waitForText(page.locator('#scope'), /^Fleet · 2 pods$/);
  const row = routeRow(page, 'get-item');
  await waitForText(row, /get-item\s+shop\s+2\s+100%\s+3\s+3\s+100\.0%/);
  t.ok(await page.locator('#routes th.fleet-only').isVisible(), 'a Pods column');
  await page.locator('#samples tbody tr').nth(2).waitFor();
  const pods = await page.locator('#samples tbody td:nth-child(2) .small').allInnerTexts();
  t.same([...pods].sort(), ['pod-a', 'pod-b', 'pod-b'], 'each sample says which pod saw it');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}divergence-page-fleet.png`, fullPage: true });

  proxy.cut();
  await waitForText(page.locator('#store-banner'), /^Fleet view unavailable \(unavailable: .+\): showing this instance only\.$/, 10_000);
  t.ok(await page.locator('#scope').isHidden(), 'no fleet chip');
  await waitForText(row, /get-item\s+100%\s+1\s+1\s+100\.0%/);
  t.notMatch(await page.locator('body').innerText(), /postgres:\/\/postgres:/, 'no credentials on the page');
});

t.test('a gRPC divergence: the gRPC status by name beside the HTTP status, and the grpc-status trailer difference', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const { startGrpcServer, catalogClient, pb } = await import('../helpers/grpc.js');
  const live = await startGrpcServer({ GetItem: (_c, cb) => cb(null, pb({ 1: 'LMP-1', 2: 1250 })), ListItems: (c) => c.end() });
  const dark = await startGrpcServer({ GetItem: (_c, cb) => cb({ code: 5, details: 'no such item' }), ListItems: (c) => c.end() });
  const u = await startTestUmbra(
    [`live: { url: "${live.url}", protocol: h2c }`, `dark: { url: "${dark.url}", protocol: h2c }`, 'routes:', '  - name: get-item', '    match: { grpc: shop.v1.Catalog/GetItem }', '    mirror: { sample: 1.0 }'].join('\n'),
    { level: 'info' },
  );
  t.teardown(async () => {
    await u.stop();
    await Promise.all([live.close(), dark.close()]);
  });
  const client = catalogClient(u.proxyUrl);
  t.teardown(() => client.close());
  t.equal((await client.getItem(pb({ 1: 'LMP-1' }))).error, null, 'the client gets live\'s answer');
  await until(async () => (await json(`${u.adminUrl}/api/divergences`)).body.divergences.length === 1, 10_000, 'the divergence');

  const page = await open(t, browser);
  await page.goto(`${u.adminUrl}/`);
  const chips = page.locator('#samples tbody tr').first().locator('.status-chip');
  await chips.first().waitFor();
  t.match(await chips.nth(0).innerText(), /^live 200 · OK · [\d.]+ ms$/);
  t.match(await chips.nth(1).innerText(), /^dark 200 · NOT_FOUND · [\d.]+ ms$/);
  t.match(await chips.nth(1).getAttribute('class'), /diff-dark/, 'a different gRPC status is highlighted');
  t.match(await page.locator('#detail-summary').innerText(), /live answered 200 · OK · .* dark 200 · NOT_FOUND/);
  const status = page.locator('#differences tbody', { has: page.locator('code', { hasText: 'trailer:grpc-status' }) });
  t.equal(await status.count(), 1, 'the grpc-status trailer difference is listed');
  t.match(await status.innerText(), /trailer:grpc-status\s+changed\s+"0"\s+"5"/, 'live 0, dark 5');
  t.equal(await status.getByRole('button', { name: 'Copy ignore rule' }).count(), 0, 'no ignore rule for grpc-status: it is always compared');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}divergence-page-grpc.png`, fullPage: true });
});

// --- release: verdicts, ramps, pauses, owners and expiry (DESIGN §12) ---------

/** Answers the path it was asked: live and dark alike. */
const echo = (req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ path: req.url }));
};

/**
 * Requests through umbra one after another, as production traffic comes (a ramp
 * judges what comes in), until the returned stop() or teardown. A failed request
 * ends the loop: whatever waits on the traffic then times out and says what it missed.
 */
function steadyTraffic(t: Test, proxyUrl: string, paths: readonly string[]): () => Promise<void> {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      try {
        await request(`${proxyUrl}${paths[n++ % paths.length] ?? '/'}`);
      } catch {
        return;
      }
    }
  })();
  const stop = async (): Promise<void> => {
    running = false;
    await loop;
  };
  t.teardown(stop);
  return stop;
}

const releaseEntry = (page: Page, name: string): Locator => page.locator(`#release-routes li[data-route="${name}"]`);

/** Red, green and blue of a computed colour. */
async function rgb(locator: Locator, property: 'color' | 'backgroundColor'): Promise<number[]> {
  const text = await locator.evaluate((el, p) => (globalThis as any).getComputedStyle(el)[p] as string, property);
  return (text.match(/\d+/g) ?? []).slice(0, 3).map(Number);
}

/** Every element the locator finds lies within [0, width] horizontally. */
async function withinWidth(t: Test, locator: Locator, width: number, what: string): Promise<void> {
  const boxes = await locator.evaluateAll((els) =>
    els.map((e) => {
      const b = e.getBoundingClientRect();
      return { left: Math.round(b.left), right: Math.round(b.right) };
    }),
  );
  t.ok(boxes.length > 0 && boxes.every((b) => b.left >= 0 && b.right <= width), `${what}: ${boxes.length} within the ${width} px viewport (${JSON.stringify(boxes)})`);
}

t.test('a ramp that climbs to 100% shows complete, with its pass verdict and its moves; one under way shows its hold', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const live = await startBackend(echo);
  const dark = await startBackend(echo);
  const u = await umbraFor(
    t,
    [
      `live: { url: "${live.url}" }`,
      `dark: { url: "${dark.url}", maxInFlight: 512 }`,
      'gate: { minComparisons: 20, maxMismatchRate: 0.2, latencyFloor: 5s }',
      'routes:',
      '  - name: get-item',
      '    match: { path: /items/:id }',
      '    owner: team-shop',
      '    ramp: { steps: [0.25, 0.5, 1.0], hold: 200ms }',
      '  - name: search',
      '    match: { path: /search }',
      '    ramp: { steps: [0.5, 1.0], hold: 1h }',
    ].join('\n'),
    [live, dark],
  );
  const stop = steadyTraffic(t, u.proxyUrl, ['/items/1', '/search']);
  const getItem = u.mirror?.runtime('get-item');
  const search = u.mirror?.runtime('search');
  await until(() => getItem?.ramp?.complete === true && search?.ramp?.status().passingSince != null, 30_000, 'get-item to reach 1.0 and search to pass at its first step');
  await stop();

  const page = await open(t, browser);
  await page.goto(`${u.adminUrl}/`);
  const item = releaseEntry(page, 'get-item');
  await waitForText(item, /complete/);
  t.equal(await page.locator('#release-routes > li').count(), 2, 'one entry per route with a ramp; the idle default route has none');

  t.equal(await item.locator('.ramp-step').innerText(), 'ramp 3/3 · 100%', 'the last step, no next one');
  t.equal(await item.locator('.phase').innerText(), 'complete');
  t.equal(await item.locator('.release-head .verdict').innerText(), 'pass');
  t.equal(await item.locator('.owner').innerText(), 'owner team-shop');
  t.same(await item.locator('.ramp-history .move').allInnerTexts(), ['0.5 → 1 (pass)', '0.25 → 0.5 (pass)', 'started at 0.25'], 'the moves, newest first');
  for (const time of await item.locator('.ramp-history time').allInnerTexts()) t.match(time, /^\d{2}:\d{2}:\d{2}$/, 'each move has its time');
  t.match(await item.locator('.why li').first().innerText(), /^mismatch rate 0% \(\d+ of \d+\): at most [\d.]+% with 95% confidence, within maxMismatchRate 20%$/, 'why it passes, in words');
  t.match(await item.locator('.ramp-gate').innerText(), /^at its last step since \d{2}:\d{2}:\d{2}$/);

  const row = routeRow(page, 'get-item');
  t.equal(await row.locator('.verdict').innerText(), 'pass', 'the route row carries the verdict chip');
  t.match(await row.locator('.verdict').getAttribute('title'), /^Release verdict over the last 15m: pass\n.*maxMismatchRate 20%/, 'its reasons as the tooltip');
  t.match(await row.innerText(), /get-item\s+100%/, 'the sample in force is the ramp\'s');
  const [r, g, b] = await rgb(row.locator('.verdict'), 'color');
  t.ok((g ?? 0) > (r ?? 0) && (g ?? 0) > (b ?? 0), `pass is green (rgb ${r}, ${g}, ${b})`);

  const under = releaseEntry(page, 'search');
  t.equal(await under.locator('.ramp-step').innerText(), 'ramp 1/2 · 50% → next 100%');
  t.equal(await under.locator('.phase').innerText(), 'ramping');
  t.match(await under.locator('.ramp-gate').innerText(), /^gate passing for [\d.]+ (ms|s|min \d+ s|min) of the 1 h hold$/, 'how long the gate has passed against the hold');
  t.equal(await under.locator('.hold-bar').count(), 1, 'with a bar');
  t.same(await under.locator('.ramp-history .move').allInnerTexts(), ['started at 0.5']);
  t.equal(await under.locator('.owner').count(), 0, 'no owner set, none shown');

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}release-ramp.png`, fullPage: true });
});

t.test('a failing dark: fail with its reason, the ramp paused by its gate; a person\'s pause; the mirror\'s kill switch; 420 px', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const live = await startBackend(echo);
  // Dark adds a field to every item: every comparison of get-item mismatches; search is the same.
  const dark = await startBackend((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, ...(req.url?.startsWith('/items/') ? { badge: 'new' } : {}) }));
  });
  const u = await umbraFor(
    t,
    [
      `live: { url: "${live.url}" }`,
      `dark: { url: "${dark.url}", maxInFlight: 512 }`,
      'gate: { minComparisons: 20, maxMismatchRate: 0.2, latencyFloor: 5s }',
      'routes:',
      '  - name: get-item',
      '    match: { path: /items/:id }',
      '    owner: team-shop',
      '    ramp: { steps: [0.5, 1.0], hold: 200ms, onFail: pause }',
      '  - name: search',
      '    match: { path: /search }',
      '    ramp: { steps: [0.5, 1.0], hold: 1h }',
    ].join('\n'),
    [live, dark],
  );
  const stop = steadyTraffic(t, u.proxyUrl, ['/items/1', '/search']);
  await until(
    () => u.mirror?.runtime('get-item')?.paused === true && u.mirror.runtime('search')?.ramp?.status().passingSince != null,
    30_000,
    'get-item to pause on its failing gate and search to pass',
  );
  await stop();
  // A person pauses search, whose gate has not failed.
  const paused = await json(`${u.adminUrl}/api/routes/search/pause`, { method: 'POST' });
  t.equal(paused.status, 200);

  const page = await open(t, browser);
  await page.goto(`${u.adminUrl}/`);
  const item = releaseEntry(page, 'get-item');
  await waitForText(item, /paused by its gate/);

  const row = routeRow(page, 'get-item');
  t.equal(await row.locator('.verdict').innerText(), 'fail');
  t.equal(await row.locator('.paused-flag').innerText(), 'paused', 'the row says the route is paused');
  t.match(await row.getAttribute('class'), /\bpaused\b/);
  const [r, g] = await rgb(row.locator('.verdict'), 'color');
  t.ok((r ?? 0) > (g ?? 0), `fail is red (rgb ${r}, ${g})`);

  t.equal(await item.locator('.release-head .verdict').innerText(), 'fail');
  t.match(await item.locator('.why li').first().innerText(), /^mismatch rate 100% \(\d+ of \d+\) is above maxMismatchRate 20%: at least [\d.]+% with 95% confidence$/, 'the failing bound first');
  t.equal(await item.locator('.phase').innerText(), 'paused by its gate');
  t.equal(await item.locator('.ramp-step').innerText(), 'ramp 1/2 · 50% → next 100%', 'still at its first step');
  t.match(await item.locator('.ramp-gate').innerText(), /POST \/api\/routes\/get-item\/resume/, 'how to go on');
  t.same(await item.locator('.ramp-history .move').allInnerTexts(), ['paused (fail)', 'started at 0.5'], 'newest first');

  const other = releaseEntry(page, 'search');
  t.equal(await other.locator('.phase').innerText(), 'paused by a person', 'a person\'s pause is told apart from the gate\'s');
  t.equal(await other.locator('.release-head .verdict').innerText(), 'pass');
  t.equal(await routeRow(page, 'search').locator('.paused-flag').innerText(), 'paused');
  t.ok(await page.locator('#paused-banner').isHidden(), 'the mirror as a whole is not paused');

  // The kill switch: a banner while the whole mirror is paused, gone after resume.
  t.equal((await json(`${u.adminUrl}/api/mirror/pause`, { method: 'POST' })).status, 200);
  await page.locator('#paused-banner').waitFor({ state: 'visible' });
  t.match(await page.locator('#paused-banner').innerText(), /^Mirroring is paused/);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}release-fail.png`, fullPage: true });

  // Narrow screen: the chips, the reasons, the ramp and its moves stay on screen.
  await page.setViewportSize({ width: 420, height: 900 });
  await withinWidth(t, page.locator('#routes .route-head .verdict, #routes .route-head .flag'), 420, 'verdict and paused chips in the route rows');
  await withinWidth(t, page.locator('#release-routes > li, #release-routes .verdict, #release-routes .flag, #release-routes .why li, #release-routes .ramp-history li, #release-routes .ramp-gate'), 420, 'release entries, reasons and moves');
  await withinWidth(t, page.locator('#paused-banner'), 420, 'the paused banner');
  t.ok((await page.evaluate<number>('document.documentElement.scrollWidth')) <= 420, 'the page itself does not scroll sideways');
  await page.screenshot({ path: `${ARTIFACTS}release-fail-narrow.png`, fullPage: true });

  t.equal((await json(`${u.adminUrl}/api/mirror/resume`, { method: 'POST' })).status, 200);
  await page.locator('#paused-banner').waitFor({ state: 'hidden' });
  t.pass('the banner goes when the mirror resumes');
});

t.test('owner and expiry: an expired dark launch is called out, one expiring within 7 days gets a note, a later one neither', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const live = await startBackend(echo);
  const dark = await startBackend(echo);
  const day = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  const soon = day(3);
  const later = day(30);
  const u = await umbraFor(
    t,
    [
      `live: { url: "${live.url}" }`,
      `dark: { url: "${dark.url}" }`,
      'routes:',
      '  - name: get-item',
      '    match: { path: /items/:id }',
      '    owner: team-shop',
      '    expires: 2020-01-01',
      '  - name: search',
      '    match: { path: /search }',
      '    owner: team-search',
      `    expires: ${soon}`,
      '  - name: health',
      '    match: { path: /health }',
      `    expires: ${later}`,
    ].join('\n'),
    [live, dark],
  );
  // health has no ramp: only a person pauses it.
  t.equal((await json(`${u.adminUrl}/api/routes/health/pause`, { method: 'POST' })).status, 200);
  const page = await open(t, browser);
  await page.goto(`${u.adminUrl}/`);
  const expired = page.locator('#lifecycle .expired-note');
  await expired.waitFor();
  t.equal(await expired.innerText(), 'Dark launch get-item expired on 2020-01-01 (owner team-shop): release it or remove the route.');
  t.equal(await page.locator('#lifecycle .expiring-note').innerText(), `Dark launch search expires on ${soon}, in 3 days (owner team-search).`, 'the softer note');
  t.equal(await page.locator('#lifecycle p').count(), 2, 'nothing for a route that expires in 30 days');
  t.not(await rgb(expired, 'color'), await rgb(page.locator('#lifecycle .expiring-note'), 'color'), 'the expired banner is drawn apart from the note');

  const row = routeRow(page, 'get-item');
  t.match(await row.getAttribute('class'), /\bexpired\b/);
  t.equal(await row.locator('.expired-flag').innerText(), 'expired');
  t.not(await rgb(row.locator('td').first(), 'backgroundColor'), await rgb(routeRow(page, 'search').locator('td').first(), 'backgroundColor'), 'the expired row is tinted');
  t.equal(await routeRow(page, 'search').locator('.flag').count(), 0, 'a route neither expired nor paused carries no flag');

  t.equal(await releaseEntry(page, 'get-item').locator('.owner').innerText(), 'owner team-shop');
  t.equal(await releaseEntry(page, 'get-item').locator('.expired-flag').innerText(), 'expired 2020-01-01');
  t.equal(await releaseEntry(page, 'search').locator('.soon-flag').innerText(), `expires ${soon} · in 3 d`);
  t.equal(await releaseEntry(page, 'health').locator('.expires').innerText(), `expires ${later}`);
  t.equal(await releaseEntry(page, 'health').locator('.owner').count(), 0);
  t.equal(await releaseEntry(page, 'health').locator('.ramp-gate').innerText(), 'mirroring paused by a person; POST /api/routes/health/resume resumes it', 'a paused route without a ramp');
  t.equal(await routeRow(page, 'health').locator('.paused-flag').innerText(), 'paused');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}release-lifecycle.png`, fullPage: true });

  await page.setViewportSize({ width: 420, height: 900 });
  await withinWidth(t, page.locator('#lifecycle p'), 420, 'the expiry banners');
  await withinWidth(t, page.locator('#routes .route-head .verdict, #routes .route-head .flag'), 420, 'the route rows\' chips');
  await withinWidth(t, page.locator('#release-routes .release-head > *'), 420, 'owner and expiry in the release entries');
  t.ok((await page.evaluate<number>('document.documentElement.scrollWidth')) <= 420, 'the page itself does not scroll sideways');
  await page.screenshot({ path: `${ARTIFACTS}release-lifecycle-narrow.png`, fullPage: true });
});
