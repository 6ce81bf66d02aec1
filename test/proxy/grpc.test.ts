// gRPC through umbra (DESIGN §13) with @grpc/grpc-js on both ends: unary calls
// pass through with status, message and trailing metadata intact, are mirrored
// to dark and compared; server streaming is forwarded untouched; deadlines hold
// on both sides.
import t, { type Test } from 'tap';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { json, metricValue, until } from '../helpers/net.js';
import { catalogClient, pb, startGrpcServer, type GrpcServer, type Handlers } from '../helpers/grpc.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

/** v1 (live) and v2 (dark) of the catalogue: v2 rounds prices; item 404 does not exist. */
function catalogue(version: 1 | 2, opts: { darkDelayMs?: number } = {}): Handlers {
  return {
    GetItem(call, cb) {
      const id = call.request.subarray(2).toString('utf8');
      const answer = (): void => {
        if (id === '404') return cb({ code: grpc.status.NOT_FOUND, details: `no item ${id}` });
        const md = new grpc.Metadata();
        md.set('x-catalog-version', `v${version}`);
        call.sendMetadata(new grpc.Metadata());
        cb(null, pb({ 1: id, 2: version === 1 ? 1250 : 1300 }), md);
      };
      if (opts.darkDelayMs !== undefined) setTimeout(answer, opts.darkDelayMs);
      else answer();
    },
    ListItems(call) {
      for (let i = 0; i < 3; i++) call.write(pb({ 1: `item-${i}`, 2: i }));
      call.end();
    },
  };
}

async function setup(t: Test, darkOpts: { darkDelayMs?: number } = {}): Promise<{ live: GrpcServer; dark: GrpcServer; u: TestUmbra }> {
  const live = await startGrpcServer(catalogue(1));
  const dark = await startGrpcServer(catalogue(2, darkOpts));
  const u = await startTestUmbra(
    [
      `live: { url: "${live.url}", protocol: h2c }`,
      `dark: { url: "${dark.url}", protocol: h2c, timeout: 3s }`,
      'routes:',
      '  - name: get-item',
      '    match: { grpc: shop.v1.Catalog/GetItem }',
      '    mirror: { sample: 1.0 }',
      '  - name: catalog',
      '    match: { grpc: shop.v1.Catalog/* }',
      '    mirror: { sample: 1.0 }',
    ].join('\n'),
    { level: 'info' },
  );
  t.teardown(async () => {
    await u.stop();
    await Promise.all([live.close(), dark.close()]);
  });
  return { live, dark, u };
}

const metrics = async (u: TestUmbra): Promise<string> => u.metrics.registry.metrics();

t.test('a unary call: live\'s answer, status and trailing metadata come back; dark gets a copy; the pair is compared', async (t) => {
  const { dark, u } = await setup(t);
  const client = catalogClient(u.proxyUrl);
  t.teardown(() => client.close());
  const r = await client.getItem(pb({ 1: 'LMP-1' }));
  t.equal(r.error, null);
  t.same(r.value, pb({ 1: 'LMP-1', 2: 1250 }), 'live\'s message, byte for byte');
  t.same(r.trailers?.get('x-catalog-version'), ['v1'], 'live\'s trailing metadata');
  await until(() => dark.calls.length === 1, 5_000, 'the dark copy');
  const sample = await until(async () => (await json(`${u.adminUrl}/api/divergences`)).body.divergences[0], 10_000, 'a divergence');
  t.match(sample, { route: 'get-item', method: 'POST', path: '/shop.v1.Catalog/GetItem', live: { status: 200, grpc: 0, grpcCode: 'OK' }, dark: { status: 200, grpc: 0, grpcCode: 'OK' } });
  t.same(
    sample.differences.map((d: { part: string; field: string; kind: string; live: unknown; dark: unknown }) => [d.part, d.field, d.kind, d.live, d.dark]),
    [
      ['trailer', 'trailer:x-catalog-version', 'changed', 'v1', 'v2'],
      ['body', '$["2"]', 'changed', 1250, 1300],
    ],
    'custom trailing metadata compared like a header, and the message by field number: only the price (field 2) differs',
  );
  const m = await metrics(u);
  t.equal(metricValue(m, 'umbra_mirror_decisions_total', { route: 'get-item', decision: 'mirrored' }), 1);
  t.equal(metricValue(m, 'umbra_grpc_responses_total', { route: 'get-item', code: 'OK' }), 1, 'the live gRPC status, by name');
  t.equal(metricValue(m, 'umbra_requests_total', { route: 'get-item', method: 'POST', code: '200' }), 1, 'code stays the HTTP status');
});

t.test('an error: status and message pass through; a trailers-only answer is compared too', async (t) => {
  const { dark, u } = await setup(t);
  const client = catalogClient(u.proxyUrl);
  t.teardown(() => client.close());
  const r = await client.getItem(pb({ 1: '404' }));
  t.equal(r.error?.code, grpc.status.NOT_FOUND);
  t.equal(r.error?.details, 'no item 404', 'grpc-message intact');
  await until(() => dark.calls.length === 1, 5_000, 'the dark copy');
  const m = await until(async () => {
    const text = await metrics(u);
    return metricValue(text, 'umbra_comparisons_total', { route: 'get-item', result: 'match' }) === 1 ? text : null;
  }, 10_000, 'compared') as string;
  t.equal(metricValue(m, 'umbra_grpc_responses_total', { route: 'get-item', code: 'NOT_FOUND' }), 1);
});

t.test('server streaming: forwarded whole; its dark copy is never compared', async (t) => {
  const { u } = await setup(t);
  const client = catalogClient(u.proxyUrl);
  t.teardown(() => client.close());
  const r = await client.listItems(pb({ 1: 'all' }));
  t.equal(r.error, null);
  t.same(r.values, [0, 1, 2].map((i) => pb({ 1: `item-${i}`, 2: i })), 'every message, in order');
  const m = await until(async () => {
    const text = await metrics(u);
    return metricValue(text, 'umbra_comparison_skips_total', { route: 'catalog', reason: 'streaming' }) === 1 ? text : null;
  }, 10_000, 'the streaming skip') as string;
  t.equal(metricValue(m, 'umbra_comparisons_total', { route: 'catalog', result: 'mismatch' }), 0);
});

t.test('deadlines: the client\'s grpc-timeout ends the dark copy too, long before dark.timeout', async (t) => {
  const { u } = await setup(t, { darkDelayMs: 1500 });
  const client = catalogClient(u.proxyUrl);
  t.teardown(() => client.close());
  const started = Date.now();
  const r = await client.getItem(pb({ 1: 'LMP-2' }), { deadlineMs: 400 });
  t.equal(r.error, null, 'live answers in time');
  const m = await until(async () => {
    const text = await metrics(u);
    return metricValue(text, 'umbra_shadow_errors_total', { route: 'get-item', target: 'dark', reason: 'timeout' }) === 1 ? text : null;
  }, 5_000, 'the dark timeout') as string;
  t.ok(Date.now() - started < 1400, `the dark copy timed out at the client's deadline, not at dark.timeout (3 s) or dark's answer (1.5 s): ${Date.now() - started} ms`);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { route: 'get-item', reason: 'dark_timeout' }), 1);
});

t.test('clients that give up: deadlines shorter than live, cancelled POST streams; umbra stays up and answers', async (t) => {
  const slow = await startGrpcServer({ GetItem: (_c, cb) => setTimeout(() => cb(null, pb({ 1: 'late' })), 200), ListItems: (c) => c.end() });
  const dark = await startGrpcServer(catalogue(2));
  const u = await startTestUmbra(
    [`live: { url: "${slow.url}", protocol: h2c }`, `dark: { url: "${dark.url}", protocol: h2c }`, 'routes:', '  - name: get-item', '    match: { grpc: shop.v1.Catalog/GetItem }', '    mirror: { sample: 1.0 }'].join('\n'),
    { level: 'info' },
  );
  t.teardown(async () => {
    await u.stop();
    await Promise.all([slow.close(), dark.close()]);
  });
  const client = catalogClient(u.proxyUrl);
  t.teardown(() => client.close());
  // (undici destroys a body whose client left before it was sent: that must not be an unhandled 'error'.)
  const results = await Promise.all(Array.from({ length: 40 }, () => client.getItem(pb({ 1: 'x' }), { deadlineMs: 50 })));
  t.ok(results.every((r) => r.error?.code === grpc.status.DEADLINE_EXCEEDED), 'every call ran out of time at the client');

  // Raw HTTP/2 POSTs cancelled once their body is sent, and while it is being sent.
  const http2 = await import('node:http2');
  for (let round = 0; round < 3; round++) {
    const session = http2.connect(u.proxyUrl);
    session.on('error', () => undefined);
    for (let i = 0; i < 15; i++) {
      const s = session.request({ ':method': 'POST', ':path': '/shop.v1.Catalog/GetItem', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      s.on('error', () => undefined);
      s.write(Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x01, 0x61]));
      if (i % 2 === 0) s.end();
      setTimeout(() => s.close(http2.constants.NGHTTP2_CANCEL), 5 + i);
    }
    await new Promise((r) => setTimeout(r, 60));
    session.destroy();
  }
  const started = Date.now();
  const r = await client.getItem(pb({ 1: 'after' }), { deadlineMs: 3000 });
  t.equal(r.error, null, 'a call afterwards is answered');
  t.ok(Date.now() - started < 2000, `promptly (${Date.now() - started} ms): the process is not stuck`);
  const health = await fetch(`${u.adminUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
  t.equal(health.status, 200, 'the admin listener answers');
  t.ok(metricValue(await metrics(u), 'umbra_live_errors_total', { route: 'get-item', reason: 'client_abort' }) >= 40, 'the abandoned calls are counted as client aborts');
});

t.test('with compare.protos, a call the .proto declares streaming is never sent to dark (decision streaming)', async (t) => {
  const live = await startGrpcServer(catalogue(1));
  const dark = await startGrpcServer(catalogue(2));
  const proto = fileURLToPath(new URL('../../config/demo/catalog.proto', import.meta.url));
  const u = await startTestUmbra(
    [`live: { url: "${live.url}", protocol: h2c }`, `dark: { url: "${dark.url}", protocol: h2c }`, `compare: { protos: ["${proto}"] }`, 'routes:', '  - name: catalog', '    match: { grpc: shop.v1.Catalog/* }', '    mirror: { sample: 1.0 }'].join('\n'),
    { level: 'info' },
  );
  t.teardown(async () => {
    await u.stop();
    await Promise.all([live.close(), dark.close()]);
  });
  const client = catalogClient(u.proxyUrl);
  t.teardown(() => client.close());
  const r = await client.listItems(pb({ 1: 'all' }));
  t.equal(r.values.length, 3, 'the stream is forwarded whole');
  t.equal(metricValue(await metrics(u), 'umbra_mirror_decisions_total', { route: 'catalog', decision: 'streaming' }), 1, 'decision streaming');
  await client.getItem(pb({ 1: 'LMP-1' }));
  await until(() => dark.calls.length === 1, 5_000, 'the unary call\'s copy');
  t.same(dark.calls, ['GetItem'], 'dark never saw ListItems');
});
