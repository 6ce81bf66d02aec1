// /api/divergences on a real umbra with real live and dark backends: exact big
// numbers in the JSON text, every example of a list difference, markers where a
// value was cut, and ?field= (DESIGN §7).
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

type Answerer = (req: IncomingMessage, res: ServerResponse) => void;

/** Answers with JSON text exactly as given (big numbers stay as written). */
const text = (body: (path: string) => string): Answerer => (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body(req.url ?? '/'));
};

async function pair(t: Test, live: Answerer, dark: Answerer, extra = ''): Promise<TestUmbra> {
  const l = await startBackend(live);
  const d = await startBackend(dark);
  const umbra = await startTestUmbra(`live: { url: "${l.url}" }\ndark: { url: "${d.url}" }\nmirror: { sample: 1.0 }\n${extra}`, { level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([l.close(), d.close()]);
  });
  return umbra;
}

async function divergences(umbra: TestUmbra, n: number, query = ''): Promise<string> {
  return until(async () => {
    const body = (await request(`${umbra.adminUrl}/api/divergences${query}`)).body.toString();
    return (JSON.parse(body) as { divergences: unknown[] }).divergences.length >= n ? body : '';
  }, 15_000, `${n} divergences`);
}

t.test('an exact big integer is written digit for digit in /api/divergences', async (t) => {
  const umbra = await pair(
    t,
    text(() => '{"id":12345678901234567890123,"total":12.5,"ids":[1,99999999999999999999]}'),
    text(() => '{"id":12345678901234567890124,"total":12.5,"ids":[1,99999999999999999998]}'),
  );
  await request(`${umbra.proxyUrl}/orders/1`);
  const body = await divergences(umbra, 1);
  t.match(body, /"field":"\$\.id","kind":"changed","live":12345678901234567890123,"dark":12345678901234567890124/, 'a JSON number, not a string, not rounded');
  t.match(body, /"field":"\$\.ids\[\*\]","kind":"changed","live":99999999999999999999,"dark":99999999999999999998/);
  t.notMatch(body, /1\.2345678901234568e\+22|"12345678901234567890123"/);
  t.doesNotThrow(() => JSON.parse(body), 'still valid JSON');
  const line = umbra.logs.find((l) => l['msg'] === 'divergence') as { differences: { field: string; live: unknown }[] } | undefined;
  t.equal(typeof line?.differences.find((d) => d.field === '$.id')?.live, 'number', 'the divergence log line has it as a number too');
});

t.test('a list difference shows every example; a long value its marker; ?field= lists a field\'s samples', async (t) => {
  const umbra = await pair(
    t,
    text((path) => JSON.stringify(path.startsWith('/rare') ? { note: 'a' } : { items: [1, 2, 3].map((p) => ({ price: p })), blob: 'x'.repeat(1000) })),
    text((path) => JSON.stringify(path.startsWith('/rare') ? { note: 'b' } : { items: [1, 2, 3].map((p) => ({ price: p * 10 })), blob: 'y'.repeat(1000) })),
    'limits: { samplesPerRoute: 2 }',
  );
  await request(`${umbra.proxyUrl}/rare`);
  await divergences(umbra, 1);
  for (let i = 0; i < 6; i++) await request(`${umbra.proxyUrl}/items/${i}`);
  await divergences(umbra, 3);
  const all = (await json(`${umbra.adminUrl}/api/divergences`)).body.divergences as { path: string; differences: Record<string, unknown>[] }[];
  t.equal(all.length, 3 + 1, 'the route ring (2), the 3rd newest kept by its fields\' rings, and the rare one');
  const price = all[0]?.differences.find((d) => d['field'] === '$.items[*].price');
  t.strictSame(price, {
    part: 'body',
    field: '$.items[*].price',
    kind: 'changed',
    live: 1,
    dark: 10,
    count: 3,
    examples: [
      { live: 1, dark: 10 },
      { live: 2, dark: 20 },
      { live: 3, dark: 30 },
    ],
  });
  const blob = all[0]?.differences.find((d) => d['field'] === '$.blob');
  t.strictSame(blob?.['live'], { '…': { string: 1000, head: 'x'.repeat(200) } }, 'a long string: its head and a marker with its length');

  const rare = (await json(`${umbra.adminUrl}/api/divergences?field=${encodeURIComponent('$.note')}`)).body.divergences as { path: string }[];
  t.strictSame(rare.map((d) => d.path), ['/rare'], '?field= finds the rare field\'s sample, kept beside the frequent ones');
  t.equal((await json(`${umbra.adminUrl}/api/divergences?route=default&field=${encodeURIComponent('$.blob')}&limit=1`)).body.divergences.length, 1, 'with route and limit');
  t.strictSame((await json(`${umbra.adminUrl}/api/divergences?field=${encodeURIComponent('$.nope')}`)).body.divergences, [], 'a field that never diverged: none');
});

t.test('/api/routes: dark failures and skips by reason, learned noisy fields, since=', async (t) => {
  let n = 0;
  const l = await startBackend((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requestId: `live-${n++}`, price: 1 }));
  });
  const s = await startBackend((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requestId: `secondary-${n++}`, price: 1 }));
  });
  const d = await startBackend((req, res) => {
    if (req.url === '/boom') return void req.socket.destroy();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requestId: `dark-${n++}`, price: 2 }));
  });
  const umbra = await startTestUmbra(`live: { url: "${l.url}" }\ndark: { url: "${d.url}" }\nsecondary: { url: "${s.url}" }\nmirror: { sample: 1.0 }`, { level: 'info' });
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([l.close(), s.close(), d.close()]);
  });
  for (let i = 0; i < 5; i++) await request(`${umbra.proxyUrl}/items/${i}`);
  for (let i = 0; i < 2; i++) await request(`${umbra.proxyUrl}/boom`);
  const route = await until(async () => {
    const r = (await json(`${umbra.adminUrl}/api/routes`)).body.routes[0];
    return r.compared + r.skipped === 7 ? r : null;
  }, 10_000, 'every exchange compared or skipped');
  t.same(route.errorsBy, { reset: 2 }, 'dark failures by reason');
  t.equal(route.errors, 2);
  t.same(route.skippedBy, { dark_reset: 2 }, 'the comparisons they cost, by reason');
  t.same(route.noisy, ['$.requestId'], 'the field live and secondary disagree on is learned as noisy');
  t.equal(route.mismatches, 5, '$.price still mismatches');
  t.same(route.topFields, [{ field: '$.price', count: 5 }]);

  const windowed = await json(`${umbra.adminUrl}/api/routes?since=5m`);
  t.equal(windowed.status, 200);
  t.match(windowed.body, { since: /Z$/, routes: [{ mirrored: 7, errors: 2, mismatches: 5, errorsBy: { reset: 2 } }] }, 'a window that holds everything');
  const future = new Date(Date.now() + 120_000).toISOString();
  t.match((await json(`${umbra.adminUrl}/api/routes?since=${future}`)).body.routes[0], { mirrored: 0, errors: 0, errorsBy: {}, topFields: [] }, 'a window after it all is empty');
  const tooOld = await json(`${umbra.adminUrl}/api/routes?since=2026-01-01T00:00:00Z`);
  t.equal(tooOld.status, 400);
  t.match(tooOld.body.error, /at most 6h/);
});
