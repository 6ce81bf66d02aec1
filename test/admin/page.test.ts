// The divergence page in a real browser (Debian's chromium through
// playwright-core) against a real umbra with real live and dark backends.
import t, { type Test } from 'tap';
import { existsSync, mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { createPageHandler, pageDirCandidates } from '../../src/admin/page.js';
import type { AdminRequest } from '../../src/admin/server.js';
import { startUmbra, type Umbra } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import { createLogger } from '../../src/observe/log.js';
import { closedPort, json, request, startBackend, until, type Backend } from '../helpers/net.js';
import { pgProxy, testDatabase } from '../helpers/pg.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const TOKEN = 'page-test-token-0451';

const get = (path: string, method = 'GET'): AdminRequest => ({ method, path, query: new URLSearchParams(), body: undefined, who: 'test' });

t.test('createPageHandler serves the three files with their content types, and nothing else', async (t) => {
  const handler = createPageHandler();
  const html = await handler(get('/'));
  t.equal(html?.status, 200);
  t.match(html?.contentType, /^text\/html; charset=utf-8$/);
  t.match(html?.text, /<script src="page\/app\.js" defer><\/script>/);
  t.match((await handler(get('/page/app.js')))?.contentType, /^text\/javascript/);
  t.match((await handler(get('/page/style.css')))?.contentType, /^text\/css/);
  t.equal((await handler(get('/', 'HEAD')))?.status, 200, 'HEAD too');
  t.equal((await handler(get('/', 'POST')))?.status, 405);
  t.equal(await handler(get('/api/routes')), null, 'API paths are left to the API');
  t.equal(await handler(get('/page/other.js')), null);
  t.ok(pageDirCandidates().some((d) => existsSync(`${d}index.html`)), 'the files are found from src/');
});

// The live and dark versions of a small item API: dark rounds the price, renames
// one character of the label and adds a field.
const LIVE_ITEM = { sku: 'LMP-1', label: 'desk-lamp-classic-0001', price: 12.5, stock: 3 };
const DARK_ITEM = { sku: 'LMP-1', label: 'desk-lamp-classic-0007', price: 13, stock: 3, badge: 'new' };

/** Answers `body` (JSON text as it stands, or an object to serialise). */
function item(body: object | string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const text = req.url === '/health' ? '{"ok":true}' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  };
}

interface Setup {
  umbra: Umbra;
  live: Backend;
  dark: Backend;
  /** Admin API call, with the token when one is set. */
  api(path: string): Promise<any>;
}

async function setup(t: Test, token: string, liveBody: object | string = LIVE_ITEM, darkBody: object | string = DARK_ITEM): Promise<Setup> {
  const live = await startBackend(item(liveBody));
  const dark = await startBackend(item(darkBody));
  const config = parseConfigText(
    [
      'listen: 127.0.0.1:0',
      'admin:',
      '  listen: 127.0.0.1:0',
      `  token: "${token}"`,
      `live: { url: "${live.url}" }`,
      `dark: { url: "${dark.url}" }`,
      'routes:',
      '  - name: get-item',
      '    match: { path: /items/:id }',
      '    mirror: { sample: 1.0 }',
      '  - name: health',
      '    match: { path: /health }',
      '    mirror: { sample: 1.0 }',
      'log: { level: silent }',
    ].join('\n'),
    'page-test.yaml',
    {},
  );
  // startUmbra registers the page handler itself.
  const umbra = await startUmbra(config, { log: createLogger('silent') });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
    await dark.close();
  });
  const headers = token === '' ? {} : { authorization: `Bearer ${token}` };
  return { umbra, live, dark, api: async (path) => (await json(`${umbra.adminUrl}${path}`, { headers })).body };
}

async function traffic(s: Setup, paths: readonly string[], expectCompared: number): Promise<void> {
  for (const p of paths) await request(`${s.umbra.proxyUrl}${p}`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const body = await s.api('/api/routes');
    const compared = (body.routes as Array<{ compared: number }>).reduce((n, r) => n + r.compared, 0);
    if (compared >= expectCompared) return;
    if (Date.now() > deadline) throw new Error(`only ${compared} of ${expectCompared} comparisons done: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function launch(t: Test): Promise<Browser | null> {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: this browser test needs Debian's chromium package (apt-get update && apt-get install -y chromium)`);
    return null;
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  return browser;
}

/** A page that fails the test on any script error. */
async function open(t: Test, browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 820 }, colorScheme: 'light' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  page.on('pageerror', (err) => t.fail(`script error on the page: ${err.message}`));
  return page;
}

/** Polls a locator's visible text until it matches (auto-refresh is every 3 s). */
async function waitForText(locator: Locator, re: RegExp, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  let text = '';
  while (Date.now() < deadline) {
    text = await locator.innerText();
    if (re.test(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${String(re)} in: ${text}`);
}

const routeRow = (page: Page, name: string) => page.locator('#routes tbody tr', { has: page.getByRole('button', { name, exact: true }) });

t.test('the divergence page: routes, samples, live and dark side by side, replay', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const s = await setup(t, '');
  await traffic(s, ['/items/1', '/items/2', '/items/3', '/items/4', '/health', '/health'], 6);

  const page = await open(t, browser);
  await page.goto(`${s.umbra.adminUrl}/`);
  await routeRow(page, 'get-item').getByText('$.price').waitFor();

  const row = routeRow(page, 'get-item');
  t.match(await row.innerText(), /100%\s+4\s+4\s+100\.0%\s+0\s/, 'sample, mirrored, compared, mismatch rate, noise');
  t.match(await row.locator('.fields').innerText(), /\$\.badge\s+4/);
  t.match(await row.locator('.fields').innerText(), /\$\.price\s+4/);
  t.match(await routeRow(page, 'health').innerText(), /0\.0%/, 'a matching route shows 0%');
  t.equal(await page.locator('#samples tbody tr').count(), 4, 'one sample per divergent request; matches are not samples');

  // The newest sample is shown at once; choose another one.
  const second = page.locator('#samples tbody tr').nth(1);
  const secondPath = (await second.locator('button').innerText()).replace(/^GET\s+/, '');
  await second.locator('button').click();
  t.equal(await second.getAttribute('aria-current'), 'true', 'the chosen row is marked current');
  t.equal(await page.locator('#detail-title').innerText(), `Differences · GET ${secondPath}`);

  const diff = (field: string) => page.locator('#differences tbody tr', { has: page.locator('code', { hasText: field }) });
  const price = diff('$.price');
  t.same(await price.locator('td').allInnerTexts(), ['body', '$.price\nCopy ignore rule', 'changed', '12.5', '13'], 'price: live and dark side by side');
  t.equal(await price.locator('td.diff-live mark').innerText(), '12.5', 'the live value is highlighted');
  t.equal(await price.locator('td.diff-dark mark').innerText(), '13', 'the dark value is highlighted');
  const bg = await price.locator('td.diff-dark').evaluate((el) => (globalThis as any).getComputedStyle(el).backgroundColor as string);
  t.not(bg, 'rgba(0, 0, 0, 0)', 'the dark cell has a highlight background');

  const label = diff('$.label');
  t.equal(await label.locator('td.diff-live mark').innerText(), '1', 'in a long string only the changed part is marked');
  t.equal(await label.locator('td.diff-dark mark').innerText(), '7');
  t.match(await label.locator('td.diff-live').innerText(), /^"desk-lamp-classic-0001"$/);

  const badge = diff('$.badge');
  t.same(await badge.locator('td').allInnerTexts(), ['body', '$.badge\nCopy ignore rule', 'added', 'absent in live', '"new"']);

  t.ok(await page.locator('#replay').isVisible(), 'the replay command is shown');
  const command = await page.locator('#replay-command').innerText();
  t.match(command, /curl/);
  t.match(command, new RegExp(secondPath.replace(/\//g, '\\/')));
  await page.getByRole('button', { name: 'Copy command' }).click();
  await page.getByText('Copied.').waitFor();
  t.equal(await page.evaluate('navigator.clipboard.readText()'), command, 'copied to the clipboard');

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}divergence-page.png`, fullPage: true });

  // Choosing a route lists only its samples.
  await page.getByRole('button', { name: 'health', exact: true }).click();
  await page.locator('#samples-empty').waitFor({ state: 'visible' });
  t.equal(await page.locator('#samples tbody tr').count(), 0, 'no samples for the matching route');
  await page.getByRole('button', { name: 'health', exact: true }).click();
  await page.locator('#samples tbody tr').nth(3).waitFor();

  // Auto-refresh picks up new traffic without a reload...
  await traffic(s, ['/items/5', '/items/6'], 8);
  await waitForText(row, /100%\s+6\s+6\s+100\.0%/);
  // ...and stops while paused.
  await page.getByRole('button', { name: 'Pause auto-refresh' }).click();
  t.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'true');
  t.match(await page.locator('#status').innerText(), /^Paused/);
  let apiCalls = 0;
  page.on('request', (r) => {
    if (r.url().includes('/api/')) apiCalls++;
  });
  await traffic(s, ['/items/7'], 9);
  await page.waitForTimeout(3600);
  t.equal(apiCalls, 0, 'no API calls while paused');
  t.equal(await page.locator('#samples tbody tr').count(), 6, 'the list stays as it was');
  await page.getByRole('button', { name: 'Resume auto-refresh' }).click();
  await page.locator('#samples tbody tr').nth(6).waitFor();
  t.ok(apiCalls > 0, 'resuming reads the API at once');
});

t.test('every example of a list difference, big integers exact, cut values with a marker', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const tags = Array.from({ length: 300 }, (_, i) => `tag-${i}`);
  const body = (id: string, prices: number[], note: string, order: string[]) =>
    `{"id":${id},"items":${JSON.stringify(prices.map((price) => ({ price })))},"note":${JSON.stringify(note)},"tags":${JSON.stringify(order)}}`;
  const s = await setup(
    t,
    '',
    body('12345678901234567890123', [1, 2, 3, 4], 'n'.repeat(1000), tags),
    body('12345678901234567890124', [1, 20, 30, 40], 'm'.repeat(1000), [...tags].reverse()),
  );
  await traffic(s, ['/items/1'], 1);
  const page = await open(t, browser);
  await page.goto(`${s.umbra.adminUrl}/`);
  const group = (field: string) => page.locator('#differences tbody', { has: page.locator('code', { hasText: field }) });
  await group('$.items[*].price').waitFor();

  const prices = group('$.items[*].price');
  t.equal(await prices.locator('tr').count(), 3, 'one row per example');
  t.same(await prices.locator('td.diff-live').allInnerTexts(), ['2', '3', '4'], 'every live value');
  t.same(await prices.locator('td.diff-dark').allInnerTexts(), ['20', '30', '40'], 'every dark value');
  t.equal(await prices.locator('.count').innerText(), '×3', 'and how often it was found');

  const id = group('$.id');
  t.equal(await id.locator('td.diff-live').innerText(), '12345678901234567890123', 'a big integer, exact (JSON.parse would show 1.2345678901234568e+22)');
  t.equal(await id.locator('td.diff-dark').innerText(), '12345678901234567890124');

  const note = group('$.note').locator('td.diff-live');
  t.match(await note.innerText(), /^"n{200}⋯ string of 1,?000 characters$/, 'a long string: its head, then the marker');
  const marker = note.locator('.cut');
  t.equal(await marker.count(), 1);
  const style = await marker.evaluate((el) => {
    const cs = (globalThis as any).getComputedStyle(el);
    return { fontStyle: cs.fontStyle as string, border: cs.borderTopStyle as string };
  });
  t.same(style, { fontStyle: 'italic', border: 'dashed' }, 'the marker is drawn apart from data');

  const order = group('$.tags');
  t.equal(await order.locator('td:nth-child(3)').innerText(), 'order');
  const live = await order.locator('td.diff-live').innerText();
  t.match(live, /^\["tag-0", "tag-1", .*"tag-\d+", ⋯ \d+ more items\]$/, 'a long array: its first elements, then the marker');
  t.equal(await order.locator('td.diff-live .cut').count(), 1);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}divergence-page-examples.png`, fullPage: true });
});

t.test('with admin.token set, the page asks for the token, then works', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const s = await setup(t, TOKEN);
  await traffic(s, ['/items/1', '/items/2'], 2);
  const page = await open(t, browser);

  // The page's files carry no data and load without the token; every API call needs it.
  await page.goto(`${s.umbra.adminUrl}/`);
  const input = page.getByLabel('Token');
  await input.waitFor();
  t.ok(await page.locator('#token-form').isVisible(), 'a token form is shown');
  t.equal(await page.locator('#routes tbody tr').count(), 0, 'no data without the token');

  await input.fill('wrong-token');
  await page.getByRole('button', { name: 'Use token' }).click();
  await page.getByText('That token was refused').waitFor();

  await input.fill(TOKEN);
  await page.getByRole('button', { name: 'Use token' }).click();
  await routeRow(page, 'get-item').getByText('$.price').waitFor();
  t.notOk(await page.locator('#token-form').isVisible(), 'the form is gone');
  t.equal(await page.locator('#samples tbody tr').count(), 2);

  // Kept for this tab: a reload does not ask again.
  await page.reload();
  await routeRow(page, 'get-item').getByText('$.price').waitFor();
  t.notOk(await page.locator('#token-form').isVisible(), 'not asked again after a reload');
});

t.test(
  'with admin.token set, the admin server serves the page files without the token',
  async (t) => {
    const s = await setup(t, TOKEN);
    for (const path of ['/', '/page/app.js', '/page/style.css']) {
      const r = await request(`${s.umbra.adminUrl}${path}`);
      t.equal(r.status, 200, `GET ${path} without the token`);
    }
    t.equal((await request(`${s.umbra.adminUrl}/api/routes`)).status, 401, 'the API still needs it');
  },
);

/** An umbra from a config body (listen/admin added), stopped with its backends in teardown. */
async function umbraFor(t: Test, yaml: string, backends: Backend[], storeTiming?: object): Promise<TestUmbra> {
  const u = await startTestUmbra(yaml, { level: 'info', ...(storeTiming !== undefined ? { storeTiming } : {}) });
  t.teardown(async () => {
    await u.stop();
    await Promise.all(backends.map((b) => b.close()));
  });
  return u;
}

t.test('a dark that fails every request is called out on the page, not shown as calm', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const live = await startBackend(item(LIVE_ITEM));
  const u = await umbraFor(t, [`live: { url: "${live.url}" }`, `dark: { url: "http://127.0.0.1:${await closedPort()}" }`, 'routes:', '  - name: get-item', '    match: { path: /items/:id }', '    mirror: { sample: 1.0 }'].join('\n'), [live]);
  for (let i = 0; i < 3; i++) t.equal((await request(`${u.proxyUrl}/items/${i}`)).status, 200, 'live answers');
  await until(async () => (await json(`${u.adminUrl}/api/routes`)).body.routes[0].skipped === 3, 10_000, 'three skips');

  const page = await open(t, browser);
  await page.goto(`${u.adminUrl}/`);
  const alert = page.locator('#alerts .alert');
  await alert.waitFor();
  t.match(await alert.innerText(), /^Dark is failing on get-item: 3 of 3 shadow requests failed \(connect 3\); 0 compared\.$/, 'a banner says so in words');
  const row = routeRow(page, 'get-item');
  t.match(await row.getAttribute('class'), /failing/, 'the row is marked');
  t.match(await row.locator('td.errors').innerText(), /^3 100\.0%\s+connect 3$/, 'dark errors: count, share of mirrored, by reason');
  t.match(await row.locator('td.skipped').innerText(), /^3\s+dark connect 3$/, 'skipped, by reason');
  t.match(await row.locator('td.dropped').innerText(), /^0$/, 'nothing dropped');
  t.equal(await row.locator('td.bad').first().innerText(), '0', 'compared 0 out of 3 mirrored is shown as bad');
  const color = await row.locator('td.errors').evaluate((el) => (globalThis as any).getComputedStyle(el).color as string);
  t.not(color, await page.locator('h2').first().evaluate((el) => (globalThis as any).getComputedStyle(el).color as string), 'errors are not in the text colour');
  t.ok(await page.locator('#samples-empty').isVisible(), 'no samples: nothing was compared');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}divergence-page-failing-dark.png`, fullPage: true });

  // Narrow screen: the header controls and every sample's status stay in view.
  await page.setViewportSize({ width: 420, height: 800 });
  const status = await page.locator('#status').boundingBox();
  t.ok(status !== null && status.x >= 0 && status.x + status.width <= 420, `the status is within the viewport (${JSON.stringify(status)})`);
});

t.test('learned noise, the window control, and a copied ignore rule that loads', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  let n = 0;
  const answer = (price: number) => (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-build': price === 13 ? 'v2' : 'v1' });
    res.end(JSON.stringify({ requestId: `r-${n++}`, price }));
  };
  const live = await startBackend(answer(12.5));
  const secondary = await startBackend(answer(12.5));
  const dark = await startBackend(answer(13));
  const routes = ['routes:', '  - name: get-item', '    match: { path: /items/:id }', '    mirror: { sample: 1.0 }'];
  const u = await umbraFor(t, [`live: { url: "${live.url}" }`, `dark: { url: "${dark.url}" }`, `secondary: { url: "${secondary.url}" }`, ...routes].join('\n'), [live, secondary, dark]);
  for (let i = 0; i < 5; i++) await request(`${u.proxyUrl}/items/${i}`);
  await until(async () => (await json(`${u.adminUrl}/api/routes`)).body.routes[0].compared === 5, 10_000, 'five comparisons');

  const page = await open(t, browser);
  await page.goto(`${u.adminUrl}/`);
  const row = routeRow(page, 'get-item');
  await row.locator('td.noisy code').waitFor();
  t.equal(await row.locator('td.noisy').innerText(), '$.requestId', 'the learned noisy field is listed');

  // The window: both calls ask for it.
  const asked = Promise.all([
    page.waitForRequest((r) => r.url().includes('/api/routes?since=15m')),
    page.waitForRequest((r) => r.url().includes('/api/divergences?') && r.url().includes('since=15m')),
  ]);
  await page.getByLabel('Window').selectOption('15m');
  await asked;
  await waitForText(row, /100%\s+5\s+5\s+100\.0%/);

  // Copy the ignore rule of $.price and of the header, and check each loads as config.
  const price = page.locator('#differences tbody', { has: page.locator('code', { hasText: '$.price' }) });
  await price.waitFor();
  await price.getByRole('button', { name: 'Copy ignore rule' }).click();
  await waitForText(page.locator('#rule-status'), /under the route get-item/);
  const rule = await page.evaluate<string>('navigator.clipboard.readText()');
  t.equal(rule, "compare: { ignore: ['$.price'] }", 'the YAML line');
  const header = page.locator('#differences tbody', { has: page.locator('code', { hasText: 'x-build' }) });
  await header.getByRole('button', { name: 'Copy ignore rule' }).click();
  await waitForText(page.locator('#rule-status'), /ignoreHeaders/);
  const headerRule = await page.evaluate<string>('navigator.clipboard.readText()');
  t.equal(headerRule, "compare: { ignoreHeaders: ['x-build'] }");
  const base = ['listen: 127.0.0.1:0', `live: { url: "${live.url}" }`, `dark: { url: "${dark.url}" }`, ...routes];
  for (const r of [rule, headerRule]) {
    const config = parseConfigText([...base, `    ${r}`].join('\n'), 'with-rule.yaml', {});
    t.ok(config.routes[0]?.compare, `${r} loads under the route`);
  }
  const withRule = parseConfigText([...base, `    ${rule}`].join('\n'), 'with-rule.yaml', {});
  t.ok(withRule.routes[0]?.compare.ignore.some((f) => String(f) === '$.price' || JSON.stringify(f).includes('price')), 'and it ignores $.price');
  t.equal(await page.locator('#differences tbody', { has: page.locator('td', { hasText: /^status$/ }) }).getByRole('button').count(), 0, 'no rule is offered for a status');
});

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
