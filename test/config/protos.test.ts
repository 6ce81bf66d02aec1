// compare.protos through real files, the loader and `umbra check` (DESIGN §4):
// paths relative to the config file, a route's list extending the top-level
// one, and a .proto that does not load named with its file and line.
import t from 'tap';
import type { Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile, parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { compileRules } from '../../src/compare/index.js';
import { runUmbra } from '../helpers/spawn.js';

const FIXTURES = fileURLToPath(new URL('../compare/fixtures/proto/', import.meta.url));
const SHOP = readFileSync(join(FIXTURES, 'shop/v1/shop.proto'), 'utf8');
const COMMON = readFileSync(join(FIXTURES, 'shop/v1/common.proto'), 'utf8');
const LEGACY = readFileSync(join(FIXTURES, 'legacy.proto'), 'utf8');
const LIVE = ['live:', '  url: http://127.0.0.1:3000'];

/** A directory with umbra.yaml and `files`, loaded. */
function loadDir(t: Test, lines: readonly string[], files: Record<string, string> = {}): { dir: string; file: string; config?: Config; problems: string[] } {
  const tree: Record<string, unknown> = { 'umbra.yaml': lines.join('\n') + '\n' };
  for (const [name, text] of Object.entries(files)) {
    // testdir wants nested objects for directories.
    const parts = name.split('/');
    let at = tree;
    for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[parts.at(-1) as string] = text;
  }
  const dir = t.testdir(tree as never);
  const file = join(dir, 'umbra.yaml');
  try {
    return { dir, file, config: loadConfigFile(file, {}, { containerLimit: null }), problems: [] };
  } catch (err) {
    if (err instanceof ConfigError) return { dir, file, problems: err.message.split('\n') };
    throw err;
  }
}

const PROTO_FILES = { 'proto/shop/v1/shop.proto': SHOP, 'proto/shop/v1/common.proto': COMMON, 'proto/legacy.proto': LEGACY };

void t.test('relative to the config file; imports found from the root of the proto tree', (t) => {
  const { dir, config, problems } = loadDir(t, [...LIVE, 'compare:', '  protos: [proto/shop/v1/shop.proto]'], PROTO_FILES);
  t.strictSame(problems, []);
  const protos = config?.compare.protos;
  t.strictSame(protos?.files, [join(dir, 'proto/shop/v1/shop.proto')]);
  t.ok(JSON.stringify(protos?.descriptors).includes('"Money"'), 'the imported file is in the descriptors');
  t.ok(JSON.stringify(protos?.descriptors).includes('"Timestamp"'), 'and the well-known types');
  t.ok(Object.isFrozen(protos?.descriptors), 'frozen with the rest');
  // The descriptors are plain data: they survive a structured clone (the way to a worker).
  t.same(structuredClone(protos), protos);
  t.strictSame(config?.routes.at(-1)?.compare.protos, protos, 'the default route has them');
  // The engine builds its types from them, frozen as they are.
  const rules = compileRules(config?.compare ?? ({} as never), { maxDecodedBytes: 1 << 20 });
  t.ok(rules.messageReader('/shop.v1.Shop/GetItem'));
  t.equal(rules.messageReader('/shop.v1.Shop/Nope'), null);
  t.end();
});

void t.test("a route's list extends the top-level one; a route without one shares it", (t) => {
  const { dir, config, problems } = loadDir(
    t,
    [
      ...LIVE,
      'compare:',
      '  protos: [proto/shop/v1/shop.proto]',
      'routes:',
      '  - name: legacy',
      '    match: { prefix: /legacy.Orders/ }',
      '    compare:',
      '      protos: [proto/legacy.proto, ./proto/shop/v1/shop.proto]',
      '  - name: shop',
      '    match: { prefix: /shop.v1.Shop/ }',
    ],
    PROTO_FILES,
  );
  t.strictSame(problems, []);
  const [legacy, shop, fallback] = config?.routes ?? [];
  t.strictSame(legacy?.compare.protos?.files, [join(dir, 'proto/shop/v1/shop.proto'), join(dir, 'proto/legacy.proto')], 'top-level first, each file once');
  const rules = compileRules(legacy?.compare ?? ({} as never), { maxDecodedBytes: 1 << 20 });
  t.ok(rules.messageReader('/legacy.Orders/Get'), "the route's own file");
  t.ok(rules.messageReader('/shop.v1.Shop/GetItem'), 'and the top-level one');
  t.equal(shop?.compare.protos, config?.compare.protos, 'a route that lists none shares the top-level set');
  t.equal(fallback?.compare.protos, config?.compare.protos);
  const topRules = compileRules(config?.compare ?? ({} as never), { maxDecodedBytes: 1 << 20 });
  t.equal(topRules.messageReader('/legacy.Orders/Get'), null, 'the top level does not see the route file');
  t.end();
});

void t.test('absent or empty: no protos key at all', (t) => {
  t.equal(loadDir(t, [...LIVE]).config?.compare.protos, undefined);
  t.equal(loadDir(t, [...LIVE, 'compare:', '  protos: []']).config?.compare.protos, undefined);
  t.equal(loadDir(t, [...LIVE, 'compare:', '  protos:']).config?.compare.protos, undefined);
  t.end();
});

void t.test('a .proto that does not load is a config problem with the .proto file and line', (t) => {
  const bad = ['syntax = "proto3";', 'package bad;', 'message A {', '  string a = 1;', '  int32 b = ;', '}', ''].join('\n');
  const { file, problems } = loadDir(
    t,
    [
      ...LIVE, // 1-2
      'compare:', // 3
      '  protos:', // 4
      '    - proto/shop/v1/shop.proto', // 5
      '    - proto/bad.proto', // 6
      '    - proto/none.proto', // 7
      '    - ""', // 8
      '    - { file: x }', // 9
    ],
    { ...PROTO_FILES, 'proto/bad.proto': bad },
  );
  t.strictSame(problems, [
    `${file}:7: compare.protos[2]: proto/none.proto: no such file`,
    `${file}:8: compare.protos[3]: expected the path of a .proto file`,
    `${file}:9: compare.protos[4]: expected the path of a .proto file`,
  ], 'missing files first: nothing is parsed while one is missing');
  const parsed = loadDir(t, [...LIVE, 'compare:', '  protos:', '    - proto/shop/v1/shop.proto', '    - proto/bad.proto'], { ...PROTO_FILES, 'proto/bad.proto': bad });
  t.strictSame(parsed.problems, [`${parsed.file}:6: compare.protos[1]: proto/bad.proto:5: illegal id ';'`]);

  const importing = ['syntax = "proto3";', 'import "nowhere/x.proto";', 'message A { int32 a = 1; }', ''].join('\n');
  const imp = loadDir(t, [...LIVE, 'compare:', '  protos: [proto/imp.proto]'], { 'proto/imp.proto': importing });
  t.match(imp.problems, [new RegExp(`^${imp.file.replace(/[.]/g, '\\.')}:4: compare\\.protos: an import was not found: proto/nowhere/x\\.proto$`)]);

  const unresolved = ['syntax = "proto3";', 'message A { Missing m = 1; }', ''].join('\n');
  const unres = loadDir(t, [...LIVE, 'compare:', '  protos: [proto/u.proto]'], { 'proto/u.proto': unresolved });
  t.strictSame(unres.problems, [`${unres.file}:4: compare.protos: no such Type or Enum 'Missing' in Type .A`]);

  const dup = loadDir(t, [...LIVE, 'compare:', '  protos: [proto/legacy.proto, proto/again.proto]'], { 'proto/legacy.proto': LEGACY, 'proto/again.proto': LEGACY });
  t.match(dup.problems, [/^.*:4: compare\.protos: duplicate name 'Order' in Namespace \.legacy$/]);
  t.end();
});

void t.test('a problem in the top-level files is reported once, not again for each route', (t) => {
  const bad = 'syntax = "proto3";\nmessage A { int32 b = ; }\n';
  const { file, problems } = loadDir(
    t,
    [
      ...LIVE,
      'compare:',
      '  protos: [proto/bad.proto]', // 4
      'routes:',
      '  - name: a',
      '    match: { prefix: /a }',
      '    compare: { protos: [proto/legacy.proto] }', // 8
      '  - name: b',
      '    match: { prefix: /b }',
      '    compare: { protos: [proto/nothere.proto] }', // 11
      '', // 12
    ],
    { 'proto/bad.proto': bad, 'proto/legacy.proto': LEGACY },
  );
  t.strictSame(problems, [`${file}:4: compare.protos[0]: proto/bad.proto:2: illegal id ';'`, `${file}:11: routes[1].compare.protos[0]: proto/nothere.proto: no such file`]);
  t.end();
});

void t.test('hot reload reads the files again through the normal config path', (t) => {
  const { dir, file, config } = loadDir(t, [...LIVE, 'compare:', '  protos: [proto/legacy.proto]'], { 'proto/legacy.proto': LEGACY });
  t.ok(JSON.stringify(config?.compare.protos?.descriptors).includes('"qty"'));
  writeFileSync(join(dir, 'proto/legacy.proto'), LEGACY.replace('qty', 'quantity'));
  const again = parseConfigText(readFileSync(file, 'utf8'), file, {}, { containerLimit: null });
  t.ok(JSON.stringify(again.compare.protos?.descriptors).includes('"quantity"'), 'the changed .proto is read');
  writeFileSync(join(dir, 'proto/legacy.proto'), 'syntax = "proto2";\nmessage {\n');
  t.throws(() => parseConfigText(readFileSync(file, 'utf8'), file, {}, { containerLimit: null }), ConfigError, 'a broken one is rejected (the previous config stays)');
  t.end();
});

void t.test('umbra check reports a bad .proto and exits 2', async (t) => {
  const { file } = loadDir(t, [...LIVE, 'compare:', '  protos: [proto/bad.proto]'], { 'proto/bad.proto': 'syntax = "proto3";\nmessage A {\n  int32 b = ;\n}\n' });
  const r = await runUmbra(['check', '--config', file]);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, `${file}:4: compare.protos[0]: proto/bad.proto:3: illegal id ';'`);
  const ok = loadDir(t, [...LIVE, 'compare:', '  protos: [proto/legacy.proto]'], { 'proto/legacy.proto': LEGACY });
  const good = await runUmbra(['check', '--config', ok.file]);
  t.equal(good.code, 0, good.stderr);
});
