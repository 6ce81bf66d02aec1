// The divergence page in a real browser (Debian's chromium through
// playwright-core) against a real umbra with real live and dark backends. The
// fleet, ramps, failing darks and expiry are in page-ops.test.ts.
import t from 'tap';
import { existsSync, mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createPageHandler, pageDirCandidates } from '../../src/admin/page.js';
import { parseConfigText } from '../../src/config/load.js';
import { refusedPort, json, request, startBackend, until } from '../helpers/net.js';
import { ARTIFACTS, LIVE_ITEM, TOKEN, get, item, launch, open, routeRow, setup, traffic, umbraFor, waitForText } from '../helpers/page.js';

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

t.test('a dark that fails every request is called out on the page, not shown as calm', async (t) => {
  const browser = await launch(t);
  if (browser === null) return;
  const live = await startBackend(item(LIVE_ITEM));
  const u = await umbraFor(t, [`live: { url: "${live.url}" }`, `dark: { url: "http://127.0.0.1:${await refusedPort()}" }`, 'routes:', '  - name: get-item', '    match: { path: /items/:id }', '    mirror: { sample: 1.0 }'].join('\n'), [live]);
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

  // The window: both calls ask for it. Choosing one starts afresh: the newest
  // sample is selected again and its differences drawn anew, which clears a
  // copy's status line; the ones on show are marked to know when that is done
  // (on a loaded machine the routes can be redrawn well before the samples).
  await page.evaluate("for (const b of document.getElementById('differences').tBodies) b.dataset.stale = '1'");
  const asked = Promise.all([
    page.waitForRequest((r) => r.url().includes('/api/routes?since=15m')),
    page.waitForRequest((r) => r.url().includes('/api/divergences?') && r.url().includes('since=15m')),
  ]);
  await page.getByLabel('Window').selectOption('15m');
  await asked;
  await waitForText(row, /100%\s+5\s+5\s+100\.0%/);
  await page.locator('#differences tbody[data-stale]').first().waitFor({ state: 'detached' });

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
