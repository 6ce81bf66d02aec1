// Comparison end to end: real live, dark and secondary servers behind umbra,
// checked through the metrics, the API and the logs (DESIGN §5, §6, §7).
import t, { type Test } from 'tap';
import { gzipSync } from 'node:zlib';
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, metricValue, request, startBackend, until, type Backend } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

type Answerer = (req: IncomingMessage, res: ServerResponse) => void;

async function trio(
  t: Test,
  liveFn: Answerer,
  darkFn: Answerer,
  extra = '',
  secondaryFn: Answerer | null = null,
): Promise<{ umbra: TestUmbra; live: Backend; dark: Backend }> {
  const live = await startBackend(liveFn);
  const dark = await startBackend(darkFn);
  const secondary = secondaryFn === null ? null : await startBackend(secondaryFn);
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }
dark: { url: "${dark.url}" }
${secondary === null ? '' : `secondary: { url: "${secondary.url}" }`}
mirror: { sample: 1.0 }
${extra}`,
    { level: 'info' },
  );
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close(), secondary?.close()]);
  });
  return { umbra, live, dark };
}

const sendJson = (body: unknown, headers: Record<string, string> = {}): Answerer => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

async function settled(umbra: TestUmbra, n: number): Promise<string> {
  return until(async () => {
    const text = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
    return metricValue(text, 'umbra_comparisons_total') >= n ? text : '';
  }, 15_000, `${n} comparisons`);
}

t.test('a changed field is a mismatch in metrics, the API and the log', async (t) => {
  const { umbra } = await trio(t, sendJson({ id: 7, price: 10.5, name: 'lamp' }), sendJson({ name: 'lamp', id: 7, price: 11 }), `
routes:
  - name: product
    match: { path: /products/:id }`);
  await request(`${umbra.proxyUrl}/products/7?ref=mail&token=s3cr3t`, {
    headers: { authorization: 'Bearer live-secret', cookie: 'sid=abc', 'x-user-id': 'u1' },
  });
  const m = await settled(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparisons_total', { route: 'product', result: 'mismatch' }), 1);
  t.equal(metricValue(m, 'umbra_mismatches_total', { route: 'product', part: 'body' }), 1);
  t.equal(metricValue(m, 'umbra_field_mismatches_total', { route: 'product', field: '$.price' }), 1);
  t.notMatch(m, /products\/7|s3cr3t/, 'no raw path or query in any label');

  const routes = await json(`${umbra.adminUrl}/api/routes`);
  const product = routes.body.routes.find((r: { name: string }) => r.name === 'product');
  t.match(product, { name: 'product', sample: 1, mirrored: 1, compared: 1, matches: 0, mismatches: 1, noise: 0, topFields: [{ field: '$.price', count: 1 }] });

  const div = await json(`${umbra.adminUrl}/api/divergences?route=product&limit=5`);
  t.equal(div.body.divergences.length, 1);
  const d = div.body.divergences[0];
  t.match(d, { route: 'product', method: 'GET', path: '/products/7', live: { status: 200 }, dark: { status: 200 } });
  t.equal(d.path, '/products/7?ref=mail&token=REDACTED', 'path with the query, secret-looking values redacted');
  t.same(d.differences, [{ part: 'body', field: '$.price', kind: 'changed', live: 10.5, dark: 11 }]);
  t.type(d.id, 'string');
  t.match(d.time, /^\d{4}-\d\d-\d\dT/);
  t.match(d.replay, /^for u in 'http:\/\/127\.0\.0\.1:\d+' 'http:\/\/127\.0\.0\.1:\d+'; do curl /, 'replay runs against both backends');
  t.match(d.replay, /'x-user-id: u1'/, 'replay keeps ordinary headers');
  t.notMatch(d.replay, /live-secret|sid=abc|s3cr3t/, 'replay holds no secrets');
  t.match(d.replay, /left out: authorization, cookie/);

  const line = umbra.logs.find((l) => l.msg === 'divergence');
  t.ok(line, 'one info line per mismatch');
  t.equal(line?.level, 'info');
  t.match(line, { route: 'product', fields: ['$.price'] });
  t.notMatch(JSON.stringify(umbra.logs), /live-secret|sid=abc|s3cr3t/, 'no secret in any log line');

  t.equal((await json(`${umbra.adminUrl}/api/divergences?route=nope`)).status, 404);
  t.equal((await json(`${umbra.adminUrl}/api/divergences?limit=zero`)).status, 400);
});

t.test('key order, dates and encodings do not make a mismatch', async (t) => {
  const body = { a: 1, b: [1, 2, 3], c: { d: 'x' } };
  const { umbra } = await trio(
    t,
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', date: 'Mon, 01 Jan 2024 00:00:00 GMT' });
      res.end(JSON.stringify(body));
    },
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip', date: 'Tue, 02 Jan 2024 00:00:00 GMT' });
      res.end(gzipSync(JSON.stringify({ c: { d: 'x' }, b: [1, 2, 3], a: 1.0 })));
    },
  );
  await request(`${umbra.proxyUrl}/x`);
  const m = await settled(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'match' }), 1);
});

t.test('text that differs only in an invalid byte sequence is a mismatch (lossy decoding read both as U+FFFD)', async (t) => {
  const body = (last: number): Buffer => Buffer.concat([Buffer.from('total: 3\n'), Buffer.of(last)]);
  const sendText = (b: Buffer): Answerer => (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(b);
  };
  const { umbra } = await trio(t, sendText(body(0xff)), sendText(body(0xfe)), `
routes:
  - name: report
    match: { path: /report }`);
  t.equal(body(0xff).toString('utf8'), body(0xfe).toString('utf8'), 'the same text when decoded lossily');
  const r = await request(`${umbra.proxyUrl}/report`);
  t.same(r.body, body(0xff), 'the client gets live bytes as sent');
  const m = await settled(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparisons_total', { route: 'report', result: 'mismatch' }), 1);
  t.equal(metricValue(m, 'umbra_mismatches_total', { route: 'report', part: 'body' }), 1);
  t.equal(metricValue(m, 'umbra_field_mismatches_total', { route: 'report', field: '$' }), 1);
  const d = (await json(`${umbra.adminUrl}/api/divergences?route=report`)).body.divergences[0];
  const summary = (b: Buffer): { bytes: number; sha256: string } => ({ bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
  t.same(d.differences, [{ part: 'body', field: '$', kind: 'changed', live: summary(body(0xff)), dark: summary(body(0xfe)) }]);
});

t.test('charsets and media types: the same text in two charsets, one media type spelt two ways', async (t) => {
  const answers: Record<string, [live: [string, Buffer], dark: [string, Buffer]]> = {
    // Same text, other charset: only the header differs.
    '/latin1': [
      ['text/plain; charset=iso-8859-1', Buffer.from('café', 'latin1')],
      ['text/plain; charset=utf-8', Buffer.from('café')],
    ],
    // Same media type spelt two ways, same bytes: a match.
    '/spelling': [
      ['Application/JSON; charset=UTF-8', Buffer.from('{"a":1}')],
      ['application/json;charset="utf8"', Buffer.from('{ "a": 1.0 }')],
    ],
  };
  const side = (i: 0 | 1): Answerer => (req, res) => {
    const [ct, b] = answers[req.url ?? '']?.[i] ?? ['text/plain', Buffer.from('?')];
    res.writeHead(200, { 'content-type': ct });
    res.end(b);
  };
  const { umbra } = await trio(t, side(0), side(1), `
routes:
  - name: latin1
    match: { path: /latin1 }
  - name: spelling
    match: { path: /spelling }`);
  await request(`${umbra.proxyUrl}/latin1`);
  await request(`${umbra.proxyUrl}/spelling`);
  const m = await settled(umbra, 2);
  t.equal(metricValue(m, 'umbra_comparisons_total', { route: 'spelling', result: 'match' }), 1);
  t.equal(metricValue(m, 'umbra_comparisons_total', { route: 'latin1', result: 'mismatch' }), 1);
  t.equal(metricValue(m, 'umbra_mismatches_total', { route: 'latin1', part: 'body' }), 0, 'the body reads the same');
  const d = (await json(`${umbra.adminUrl}/api/divergences?route=latin1`)).body.divergences[0];
  t.same(d.differences, [
    { part: 'header', field: 'header:content-type', kind: 'changed', live: 'text/plain; charset=iso-8859-1', dark: 'text/plain; charset=utf-8' },
  ]);
});

t.test('a status difference is reported as status', async (t) => {
  const { umbra } = await trio(t, sendJson({ ok: true }), (_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await request(`${umbra.proxyUrl}/x`);
  const m = await settled(umbra, 1);
  t.equal(metricValue(m, 'umbra_mismatches_total', { part: 'status' }), 1);
  const d = (await json(`${umbra.adminUrl}/api/divergences`)).body.divergences[0];
  t.match(d, { live: { status: 200 }, dark: { status: 404 } });
  t.match(d.differences, [{ part: 'status', field: 'status', kind: 'changed', live: 200, dark: 404 }]);
});

t.test('noise: fields that differ between two live answers are learned, real differences still count', async (t) => {
  const noisy = (price: number): Answerer => (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': randomUUID() });
    res.end(JSON.stringify({ requestId: randomUUID(), generatedAt: new Date(Date.now() + Math.random() * 1e6).toISOString(), price }));
  };
  let darkPrice = 5;
  const { umbra } = await trio(t, noisy(5), (req, res) => noisy(darkPrice)(req, res), '', noisy(5));
  for (let i = 0; i < 6; i++) await request(`${umbra.proxyUrl}/p/${i}`);
  let m = await settled(umbra, 6);
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'noise' }), 6, 'random ids and timestamps are noise, not mismatches');
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'mismatch' }), 0);
  darkPrice = 6;
  await request(`${umbra.proxyUrl}/p/real`);
  m = await settled(umbra, 7);
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'mismatch' }), 1, 'a real difference beside noise is a mismatch');
  const d = (await json(`${umbra.adminUrl}/api/divergences`)).body.divergences[0];
  t.same(
    d.differences.map((x: { field: string }) => x.field),
    ['$.price'],
    'only the real field is reported',
  );
  t.equal(metricValue(m, 'umbra_field_mismatches_total', { field: '$.requestId' }), 0, 'noise never reaches the field metric');
});

t.test('secrets are redacted in divergence samples and logs', async (t) => {
  const { umbra } = await trio(
    t,
    sendJson({ user: { name: 'ann', password: 'live-pw' } }, { 'x-api-key': 'key-live' }),
    sendJson({ user: { name: 'ann', password: 'dark-pw' } }, { 'x-api-key': 'key-dark' }),
    `redact: { headers: [x-api-key], fields: ["$..password"] }`,
  );
  await request(`${umbra.proxyUrl}/me`, { headers: { 'x-api-key': 'client-key' } });
  await settled(umbra, 1);
  const d = (await json(`${umbra.adminUrl}/api/divergences`)).body.divergences[0];
  const byField = Object.fromEntries(d.differences.map((x: { field: string }) => [x.field, x]));
  t.match(byField['$.user.password'], { live: '[REDACTED]', dark: '[REDACTED]' }, 'field path kept, values redacted');
  t.match(byField['header:x-api-key'], { live: '[REDACTED]', dark: '[REDACTED]' });
  const everything = JSON.stringify(d) + JSON.stringify(umbra.logs);
  t.notMatch(everything, /live-pw|dark-pw|key-live|key-dark|client-key/, 'no secret anywhere');
});

t.test('field labels are capped at 100 a route, the rest count as _other', async (t) => {
  let n = 0;
  const { umbra } = await trio(t, sendJson({}), (_req, res) => {
    const body: Record<string, number> = {};
    for (let i = 0; i < 30; i++) body[`f${n++}`] = i;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  for (let i = 0; i < 5; i++) await request(`${umbra.proxyUrl}/x/${i}`);
  const m = await settled(umbra, 5);
  const fields = new Set([...m.matchAll(/umbra_field_mismatches_total\{[^}]*field="([^"]+)"/g)].map((x) => x[1]));
  t.equal(fields.size, 101, '100 fields and _other');
  t.ok(fields.has('_other'));
  t.equal(metricValue(m, 'umbra_field_mismatches_total', { field: '_other' }), 50);
});

t.test('a gzip bomb from the dark side is a counted skip, not an outage', async (t) => {
  const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024, 0));
  const { umbra } = await trio(
    t,
    sendJson({ ok: true }),
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(bomb);
    },
    'limits: { maxDecodedBytes: 1MiB }',
  );
  t.ok(bomb.length < 64 * 1024, `the bomb is small on the wire (${bomb.length} bytes)`);
  const r = await request(`${umbra.proxyUrl}/x`);
  t.equal(r.body.toString(), '{"ok":true}', 'live unaffected');
  const m = await settled(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'skipped' }), 1);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'decode_too_large' }), 1);
});

t.test('a failed dark side gives a skipped comparison with its reason', async (t) => {
  const { umbra } = await trio(t, sendJson({ ok: true }), (_req, res) => res.socket?.destroy());
  await request(`${umbra.proxyUrl}/x`);
  const m = await settled(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'dark_reset' }), 1);
  t.equal(metricValue(m, 'umbra_shadow_errors_total', { target: 'dark', reason: 'reset' }), 1);
});

t.test('keyed, allowAdded and per-field tolerances from the config file, through the proxy', async (t) => {
  const live = { orders: [{ id: 'a', total: 10.0 }, { id: 'b', total: 20.0 }], user: { name: 'ann' } };
  let dark: unknown = { orders: [{ id: 'b', total: 20.004 }, { id: 'a', total: 10.0 }], user: { name: 'ann', nickname: 'an' } };
  const { umbra } = await trio(t, sendJson(live), (_req, res) => sendJson(dark)(_req, res), `
routes:
  - name: orders
    match: { prefix: /orders }
    compare:
      keyed: { "$.orders": id }
      allowAdded: ["$.user"]
      tolerances: { "$.orders[*].total": { absolute: 0.01 } }`);
  await request(`${umbra.proxyUrl}/orders`);
  let m = await settled(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparisons_total', { route: 'orders', result: 'match' }), 1, 'reordered, grown and within tolerance: a match');
  dark = { orders: [{ id: 'b', total: 21 }, { id: 'a', total: 10.0 }], user: { name: 'ann' }, extra: 1 };
  await request(`${umbra.proxyUrl}/orders`);
  m = await settled(umbra, 2);
  t.equal(metricValue(m, 'umbra_comparisons_total', { route: 'orders', result: 'mismatch' }), 1);
  const body = (await json(`${umbra.adminUrl}/api/divergences?route=orders`)).body as { divergences: { differences: { field: string; kind: string }[] }[] };
  const fields = body.divergences.flatMap((s) => s.differences.map((d) => `${d.field} ${d.kind}`));
  t.strictSame(fields.sort(), ['$.extra added', '$.orders[*].total changed']);
});

t.test('a divergence of a mirrored write says write: true, and its replay goes to dark only', async (t) => {
  const { umbra, dark } = await trio(t, sendJson({ items: 1 }), sendJson({ items: 2 }), `
routes:
  - name: cart
    match: { prefix: /cart }
    mirror: { methods: [GET, POST] }`);
  await request(`${umbra.proxyUrl}/cart`, { method: 'POST', body: '{"item":1}', headers: { 'content-type': 'application/json' } });
  await request(`${umbra.proxyUrl}/cart`);
  await settled(umbra, 2);
  const body = (await json(`${umbra.adminUrl}/api/divergences?route=cart`)).body as { divergences: { method: string; write: boolean; replay: string }[] };
  const post = body.divergences.find((d) => d.method === 'POST');
  const get = body.divergences.find((d) => d.method === 'GET');
  t.equal(post?.write, true);
  t.equal(get?.write, false);
  t.match(post?.replay, new RegExp(`^for u in '${dark.url.replace(/[.]/g, '\\.')}'; do curl`), 'the write replays against dark alone');
  t.match(post?.replay, /# a write: replayed against dark only/);
  t.match(get?.replay, /^for u in '[^']+' '[^']+'; do/, 'a read replays against both');
  const line = umbra.logs.find((l) => l.msg === 'divergence' && l.method === 'POST');
  t.equal(line?.write, true, 'the log line says so too');
});
