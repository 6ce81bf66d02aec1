// Shared by the divergence page's browser tests (test/admin/page*.test.ts): a
// real umbra with real live and dark backends, and Debian's chromium through
// playwright-core.
import type { Test } from 'tap';
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import type { AdminRequest } from '../../src/admin/server.js';
import { startUmbra, type Umbra } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import { createLogger } from '../../src/observe/log.js';
import { json, request, startBackend, type Backend } from './net.js';
import { startTestUmbra, type TestUmbra } from './umbra.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
export const TOKEN = 'page-test-token-0451';

export const get = (path: string, method = 'GET'): AdminRequest => ({ method, path, query: new URLSearchParams(), body: undefined, who: 'test' });

// The live and dark versions of a small item API: dark rounds the price, renames
// one character of the label and adds a field.
export const LIVE_ITEM = { sku: 'LMP-1', label: 'desk-lamp-classic-0001', price: 12.5, stock: 3 };
export const DARK_ITEM = { sku: 'LMP-1', label: 'desk-lamp-classic-0007', price: 13, stock: 3, badge: 'new' };

/** Answers `body` (JSON text as it stands, or an object to serialise). */
export function item(body: object | string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const text = req.url === '/health' ? '{"ok":true}' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  };
}

export interface Setup {
  umbra: Umbra;
  live: Backend;
  dark: Backend;
  /** Admin API call, with the token when one is set. */
  api(path: string): Promise<any>;
}

export async function setup(t: Test, token: string, liveBody: object | string = LIVE_ITEM, darkBody: object | string = DARK_ITEM): Promise<Setup> {
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

export async function traffic(s: Setup, paths: readonly string[], expectCompared: number): Promise<void> {
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

export async function launch(t: Test): Promise<Browser | null> {
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
export async function open(t: Test, browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 820 }, colorScheme: 'light' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  page.on('pageerror', (err) => t.fail(`script error on the page: ${err.message}`));
  return page;
}

/** Polls a locator's visible text until it matches (auto-refresh is every 3 s). */
export async function waitForText(locator: Locator, re: RegExp, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  let text = '';
  while (Date.now() < deadline) {
    text = await locator.innerText();
    if (re.test(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${String(re)} in: ${text}`);
}

export const routeRow = (page: Page, name: string) => page.locator('#routes tbody tr', { has: page.getByRole('button', { name, exact: true }) });

/** An umbra from a config body (listen/admin added), stopped with its backends in teardown. */
export async function umbraFor(t: Test, yaml: string, backends: Backend[], storeTiming?: object): Promise<TestUmbra> {
  const u = await startTestUmbra(yaml, { level: 'info', ...(storeTiming !== undefined ? { storeTiming } : {}) });
  t.teardown(async () => {
    await u.stop();
    await Promise.all(backends.map((b) => b.close()));
  });
  return u;
}
