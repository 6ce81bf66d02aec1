// mirror.orderBy / maxQueuedPerKey and the capture section through real files
// and the loader: defaults, inheritance by routes, and problems with their line.
import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

const BASE = ['live:', '  url: http://127.0.0.1:3000', 'dark:', '  url: http://127.0.0.1:3001'];

function loadFile(t: Test, lines: readonly string[]): { config?: Config; problems: string[] } {
  const file = join(t.testdir({ 'umbra.yaml': lines.join('\n') + '\n' }), 'umbra.yaml');
  try {
    return { config: loadConfigFile(file, {}, { containerLimit: null }), problems: [] };
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.message.split('\n').map((l) => l.slice(file.length)) };
    throw err;
  }
}

void t.test('orderBy: off by default, 16 queued per key', (t) => {
  const { config, problems } = loadFile(t, BASE);
  t.strictSame(problems, []);
  t.equal(config?.mirror.orderBy, null);
  t.equal(config?.mirror.maxQueuedPerKey, 16);
  t.equal(config?.capture, null);
  t.end();
});

void t.test('orderBy: every key kind; a top-level path:PARAM orders only the routes that have it', (t) => {
  const { config, problems } = loadFile(t, [
    ...BASE,
    'mirror:',
    '  orderBy: path:id',
    '  maxQueuedPerKey: 4',
    'routes:',
    '  - { name: add-item, match: { path: /carts/:id/items, methods: [POST] } }',
    '  - { name: get-cart, match: { path: /carts/:id } }',
    '  - { name: other, match: { path: /users/:user } }',
    '  - { name: by-header, match: { prefix: /h/ }, mirror: { orderBy: header:X-Cart, maxQueuedPerKey: 0 } }',
    '  - { name: by-cookie, match: { prefix: /c/ }, mirror: { orderBy: cookie:cart } }',
    '  - { name: by-query, match: { prefix: /q/ }, mirror: { orderBy: query:cart } }',
    '  - { name: unordered, match: { path: /u/:id }, mirror: { orderBy: null } }',
  ]);
  t.strictSame(problems, []);
  const routes = Object.fromEntries((config?.routes ?? []).map((r) => [r.name, r.mirror]));
  t.strictSame(routes['add-item']?.orderBy, { kind: 'path', name: 'id' });
  t.strictSame(routes['get-cart']?.orderBy, { kind: 'path', name: 'id' });
  t.equal(routes.other?.orderBy, null, 'no :id in its pattern: not ordered');
  t.strictSame(routes['by-header']?.orderBy, { kind: 'header', name: 'x-cart' });
  t.equal(routes['by-header']?.maxQueuedPerKey, 0);
  t.strictSame(routes['by-cookie']?.orderBy, { kind: 'cookie', name: 'cart' });
  t.strictSame(routes['by-query']?.orderBy, { kind: 'query', name: 'cart' });
  t.equal(routes.unordered?.orderBy, null);
  t.equal(routes.default?.orderBy, null, 'the default route has no path parameters');
  t.equal(routes['get-cart']?.maxQueuedPerKey, 4);
  t.end();
});

void t.test('orderBy: bad values name the key, the line and the fix', (t) => {
  const { problems } = loadFile(t, [
    ...BASE,
    'mirror:',
    '  orderBy: body:id',
    '  maxQueuedPerKey: -1',
    'routes:',
    '  - name: add-item',
    '    match: { path: /carts/:cart/items }',
    '    mirror: { orderBy: path:id }',
    '  - name: p',
    '    match: { prefix: /p/ }',
    '    mirror: { orderBy: "path:a-b" }',
  ]);
  t.strictSame(problems, [
    ':6: mirror.orderBy: expected header:NAME, cookie:NAME, query:NAME or path:PARAM',
    ':7: mirror.maxQueuedPerKey: expected a whole number from 0 to 10000',
    ":11: routes[0].mirror.orderBy: path:id is not a parameter of this route's match (its parameters: path:cart)",
    ':14: routes[1].mirror.orderBy: "a-b" is not a path parameter name (as in /carts/:id, give path:id)',
  ]);
  t.end();
});

void t.test('capture: defaults, sizes and route names', (t) => {
  const { config, problems } = loadFile(t, [
    ...BASE,
    'capture:',
    '  dir: /tmp/umbra-capture',
    'routes:',
    '  - { name: get-user, match: { path: /users/:id } }',
  ]);
  t.strictSame(problems, []);
  t.strictSame(config?.capture, {
    dir: '/tmp/umbra-capture',
    sample: 0.01,
    routes: null,
    maxBodyBytes: 1024 ** 2,
    maxFileBytes: 64 * 1024 ** 2,
    maxTotalBytes: 1024 ** 3,
    gzip: false,
  });
  const set = loadFile(t, [
    ...BASE,
    'capture: { dir: cap, sample: 1, routes: [get-user, default], maxBodyBytes: 64KiB, maxFileBytes: 1MiB, maxTotalBytes: 4MiB, gzip: true }',
    'routes:',
    '  - { name: get-user, match: { path: /users/:id } }',
  ]);
  t.strictSame(set.problems, []);
  t.strictSame(set.config?.capture, { dir: 'cap', sample: 1, routes: ['get-user', 'default'], maxBodyBytes: 65536, maxFileBytes: 1024 ** 2, maxTotalBytes: 4 * 1024 ** 2, gzip: true });
  t.end();
});

void t.test('capture: problems', (t) => {
  const { problems } = loadFile(t, [
    ...BASE,
    'capture:',
    '  sample: 2',
    '  routes: [nope]',
    '  maxFileBytes: 8MiB',
    '  maxTotalBytes: 1MiB',
    '  gzip: maybe',
    '  colour: red',
  ]);
  t.ok(problems.some((p) => /^:5: capture.dir: required/.test(p)), problems.join('\n'));
  t.ok(problems.some((p) => /capture.sample: expected a number from 0 to 1/.test(p)));
  t.ok(problems.some((p) => /capture.routes\[0\]: "nope" is not a route \(routes: default\)/.test(p)));
  t.ok(problems.some((p) => /capture.maxTotalBytes: capture.maxTotalBytes must be at least capture.maxFileBytes/.test(p)));
  t.ok(problems.some((p) => /capture.gzip: expected true or false/.test(p)));
  t.ok(problems.some((p) => /capture.colour/.test(p)));
  t.end();
});

void t.test('store: url required, defaults, an empty url is no store, a bad url never echoed', (t) => {
  const on = loadFile(t, [...BASE, 'store:', '  url: postgres://umbra:s3cret@db:5432/umbra']);
  t.strictSame(on.problems, []);
  t.strictSame(on.config?.store, { url: 'postgres://umbra:s3cret@db:5432/umbra', retention: 7 * 24 * 3600 * 1000, maxQueued: 10_000 });
  const set = loadFile(t, [...BASE, 'store: { url: "postgresql://db/umbra", retention: 1d, maxQueued: 50 }']);
  t.strictSame(set.config?.store, { url: 'postgresql://db/umbra', retention: 24 * 3600 * 1000, maxQueued: 50 });
  t.equal(loadFile(t, [...BASE, 'store:', '  url:']).config?.store, null, 'an empty url (an unset variable) is no store');
  t.equal(loadFile(t, [...BASE, 'store: { url: "" }']).config?.store, null);
  t.equal(loadFile(t, BASE).config?.store, null, 'in memory by default');
  const bad = loadFile(t, [...BASE, 'store:', '  url: mysql://root:hunter2@db/x', '  maxQueued: 0', '  colour: red']);
  t.ok(bad.problems.some((p) => /store\.url: expected a URL like postgres:/.test(p)), bad.problems.join('\n'));
  t.notMatch(bad.problems.join('\n'), /hunter2/, 'the password is never repeated');
  t.ok(bad.problems.some((p) => /store\.maxQueued: expected a whole number from 1 to 1000000/.test(p)));
  t.ok(bad.problems.some((p) => /store\.colour/.test(p)));
  t.ok(loadFile(t, [...BASE, 'store: { retention: 1d }']).problems.some((p) => /store\.url: required/.test(p)));
  t.end();
});
