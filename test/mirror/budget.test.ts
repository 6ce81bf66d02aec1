// The dark side truly bounded (DESIGN §2.2, §2.8): compression bombs, endless
// bodies, hung and slow dark backends, against real servers through umbra. Every
// byte held for shadow work shows in umbra_shadow_buffered_bytes and returns to
// 0 when the dark misbehaviour ends; a full budget drops and counts; live
// answers stay exactly what live sent. No timings are asserted.
import t, { type Test } from 'tap';
import zlib from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metricValue, request, sleep, startBackend, until, type Backend } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

type Answerer = (req: IncomingMessage, res: ServerResponse) => void;

const LIVE_BODY = JSON.stringify({ id: 7, name: 'lamp', tags: ['a', 'b'] });

function liveAnswer(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(LIVE_BODY);
}

/** `mirror` is the body of the mirror section, `extra` more top-level keys. */
async function pair(t: Test, dark: Answerer, mirror = 'sample: 1.0', extra = ''): Promise<{ umbra: TestUmbra; live: Backend; dark: Backend }> {
  const live = await startBackend(liveAnswer);
  const d = await startBackend(dark);
  t.teardown(() => Promise.all([live.close(), d.close()]));
  const umbra = await startTestUmbra(
    `live: { url: "${live.url}" }
dark: { url: "${d.url}", timeout: 1s }
mirror: { ${mirror} }
${extra}`,
    { level: 'warn' },
  );
  t.teardown(() => umbra.stop());
  return { umbra, live, dark: d };
}

async function metrics(umbra: TestUmbra): Promise<string> {
  return (await request(`${umbra.adminUrl}/metrics`)).body.toString();
}

/** Waits until `n` exchanges are settled (compared or skipped) and nothing is held any more. */
async function drained(umbra: TestUmbra, n: number): Promise<string> {
  return until(
    async () => {
      const m = await metrics(umbra);
      const done = metricValue(m, 'umbra_comparisons_total');
      return done >= n && metricValue(m, 'umbra_shadow_buffered_bytes') === 0 ? m : '';
    },
    20_000,
    `${n} settled exchanges and an empty budget`,
  );
}

const SPACES = Buffer.alloc(64 * 1024 * 1024, 0x20);
const GZIP_BOMB = zlib.gzipSync(SPACES, { level: 9 });
const DEFLATE_BOMB = zlib.deflateSync(SPACES, { level: 9 });
const BOMBS: { name: string; coding: string; body: Buffer; reason: string }[] = [
  { name: 'br', coding: 'br', body: zlib.brotliCompressSync(SPACES, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }), reason: 'decode_too_large' },
  { name: 'gzip', coding: 'gzip', body: GZIP_BOMB, reason: 'decode_too_large' },
  { name: 'deflate', coding: 'deflate', body: zlib.deflateSync(SPACES, { level: 9 }), reason: 'decode_too_large' },
  { name: 'gzip inside gzip', coding: 'gzip, gzip', body: zlib.gzipSync(GZIP_BOMB, { level: 9 }), reason: 'decode_too_large' },
  { name: 'three gzip layers', coding: 'gzip, gzip, gzip', body: zlib.gzipSync(zlib.gzipSync(GZIP_BOMB)), reason: 'decode_too_deep' },
];

t.test('compression bombs from the dark side: skipped with their reason, the budget back at 0, live untouched', async (t) => {
  let i = 0;
  const { umbra } = await pair(
    t,
    (_req, res) => {
      const bomb = BOMBS[i++ % BOMBS.length] as (typeof BOMBS)[number];
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': bomb.coding });
      res.end(bomb.body);
    },
    'sample: 1.0',
    'limits: { maxDecodedBytes: 2MiB }',
  );
  const rounds = 2;
  for (let r = 0; r < rounds; r++) {
    const answers = await Promise.all(BOMBS.map(() => request(`${umbra.proxyUrl}/item`)));
    for (const a of answers) {
      t.equal(a.status, 200);
      t.equal(a.body.toString(), LIVE_BODY, 'live answer byte for byte');
    }
  }
  const m = await drained(umbra, rounds * BOMBS.length);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'decode_too_large' }), rounds * 4, 'four bombs stop at maxDecodedBytes');
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'decode_too_deep' }), rounds, 'three layers are not decoded at all');
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'skipped' }), rounds * BOMBS.length);
  t.equal(metricValue(m, 'umbra_shadow_buffered_bytes'), 0, 'every byte given back');
  const budget = umbra.mirror?.budget;
  t.ok(budget !== undefined && budget.peak > 0 && budget.peak <= budget.max, `peak ${budget?.peak} within the budget`);
});

t.test('a bomb that meets a small budget is over_memory, never over the budget', async (t) => {
  // zlib deflate: no declared length, so the decoder runs until the budget stops it.
  const { umbra } = await pair(
    t,
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'deflate' });
      res.end(DEFLATE_BOMB);
    },
    'sample: 1.0, maxBufferedBytes: 1MiB',
    'limits: { maxDecodedBytes: 8MiB }',
  );
  const a = await request(`${umbra.proxyUrl}/item`);
  t.equal(a.body.toString(), LIVE_BODY);
  const m = await drained(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'over_memory' }), 1, 'the decoder stopped at the budget');
  t.ok((umbra.mirror?.budget.peak ?? Infinity) <= 1024 * 1024, 'never held more than the budget');
});

t.test('an endless dark body stops at maxBodyBytes, is never compared, and its bytes are given back', async (t) => {
  let closed = 0;
  const { umbra } = await pair(
    t,
    (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const timer = setInterval(() => res.write(chunk), 1);
      res.on('close', () => {
        clearInterval(timer);
        closed++;
      });
      req.resume();
    },
    'sample: 1.0, maxBodyBytes: 256KiB',
  );
  const answers = await Promise.all([1, 2, 3].map(() => request(`${umbra.proxyUrl}/stream`)));
  for (const a of answers) t.equal(a.body.toString(), LIVE_BODY);
  const m = await drained(umbra, 3);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'too_large' }), 3);
  t.equal(metricValue(m, 'umbra_shadow_errors_total', { target: 'dark', reason: 'too_large' }), 3);
  await until(() => closed === 3, 5000, 'umbra to hang up on the endless bodies');
  t.equal(metricValue(m, 'umbra_shadow_buffered_bytes'), 0);
});

t.test('hung and slow dark backends: bytes held while they wait, none after; a full budget drops and counts', async (t) => {
  const held: ServerResponse[] = [];
  const { umbra, dark } = await pair(
    t,
    (req, res) => {
      if (req.url?.startsWith('/slow')) setTimeout(() => liveAnswer(req, res), 300);
      else held.push(res); // hung: answered never (umbra's 1 s timeout ends it)
    },
    'sample: 1.0, methods: [POST], maxBufferedBytes: 150KiB',
  );
  const body = Buffer.alloc(60 * 1024, 0x62);
  // Two hung POSTs hold their request copies and live answers.
  for (let i = 0; i < 2; i++) {
    const a = await request(`${umbra.proxyUrl}/hang`, { method: 'POST', body });
    t.equal(a.body.toString(), LIVE_BODY);
  }
  const during = await metrics(umbra);
  const bytes = metricValue(during, 'umbra_shadow_buffered_bytes');
  t.ok(bytes >= 2 * body.length, `the hung exchanges' bytes are counted (${bytes})`);
  // A third and fourth do not fit the 150 KiB budget: dropped and counted, live still answered.
  for (let i = 0; i < 2; i++) {
    const a = await request(`${umbra.proxyUrl}/hang`, { method: 'POST', body });
    t.equal(a.status, 200);
    t.equal(a.body.toString(), LIVE_BODY, 'live answered while the budget is full');
  }
  const full = await metrics(umbra);
  t.equal(metricValue(full, 'umbra_mirror_decisions_total', { decision: 'over_memory' }), 2, 'over_memory counted');
  t.ok(metricValue(full, 'umbra_shadow_buffered_bytes') <= 150 * 1024, 'never over the budget');
  // Many slow darks at once, inside the budget's room once the hung ones time out.
  const m1 = await drained(umbra, 2);
  t.equal(metricValue(m1, 'umbra_comparison_skips_total', { reason: 'dark_timeout' }), 2);
  const slow = await Promise.all(Array.from({ length: 20 }, () => request(`${umbra.proxyUrl}/slow`, { method: 'POST', body: Buffer.from('x') })));
  for (const a of slow) t.equal(a.body.toString(), LIVE_BODY);
  const m2 = await drained(umbra, 22);
  t.equal(metricValue(m2, 'umbra_comparisons_total', { result: 'match' }), 20, 'the slow answers are compared');
  t.equal(metricValue(m2, 'umbra_shadow_buffered_bytes'), 0, 'nothing held once the dark side is done');
  t.ok(dark.seen.length >= 22);
  for (const r of held) r.destroy();
  await sleep(0);
});

t.test('a live answer over maxBodyBytes streams whole to the client and is never compared', async (t) => {
  const big = Buffer.alloc(300 * 1024, 0x6c);
  const live = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(big);
  });
  const dark = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(big);
  });
  t.teardown(() => Promise.all([live.close(), dark.close()]));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1.0, maxBodyBytes: 64KiB }`, { level: 'warn' });
  t.teardown(() => umbra.stop());
  const a = await request(`${umbra.proxyUrl}/file`);
  t.ok(a.body.equals(big), 'the whole live answer, byte for byte');
  const m = await drained(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'too_large' }), 1);
  t.equal(metricValue(m, 'umbra_shadow_buffered_bytes'), 0);
});

t.test('a dark answer whose chunks fit the budget but whose joined copy does not: dark_over_memory', async (t) => {
  const part = Buffer.alloc(40 * 1024, 0x64);
  const { umbra } = await pair(
    t,
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(part);
      setTimeout(() => res.end(part), 20);
    },
    'sample: 1.0, maxBufferedBytes: 100KiB',
  );
  const a = await request(`${umbra.proxyUrl}/x`);
  t.equal(a.body.toString(), LIVE_BODY);
  const m = await drained(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'dark_over_memory' }), 1, '80 KiB read, 80 more to join: over 100 KiB');
  t.ok((umbra.mirror?.budget.peak ?? Infinity) <= 100 * 1024);
});

t.test('a live answer cut off after the shadow was sent: skipped live_reset, nothing held', async (t) => {
  const live = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    res.write('{"partial":');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  const dark = await startBackend(liveAnswer);
  t.teardown(() => Promise.all([live.close(), dark.close()]));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1.0 }`, { level: 'warn' });
  t.teardown(() => umbra.stop());
  await request(`${umbra.proxyUrl}/x`).catch(() => null);
  const m = await drained(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'live_reset' }), 1);
  t.equal(metricValue(m, 'umbra_shadow_buffered_bytes'), 0);
});

t.test('a dark answer that declares a length over maxBodyBytes is not read at all', async (t) => {
  const { umbra } = await pair(
    t,
    (_req, res) => {
      // Declares 300 KiB, sends 1 KiB, then holds: reading on would wait for the dark timeout.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(300 * 1024) });
      res.write(Buffer.alloc(1024, 0x20));
    },
    'sample: 1.0, maxBodyBytes: 64KiB',
  );
  const a = await request(`${umbra.proxyUrl}/x`);
  t.equal(a.body.toString(), LIVE_BODY);
  const m = await drained(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'too_large' }), 1, 'skipped at the head, not at the timeout');
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'dark_timeout' }), 0);
});

t.test('a chunked live answer that grows past maxBodyBytes streams whole and is not compared', async (t) => {
  const part = Buffer.alloc(48 * 1024, 0x6c);
  const live = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(part);
    setTimeout(() => res.end(part), 10);
  });
  const dark = await startBackend(liveAnswer);
  t.teardown(() => Promise.all([live.close(), dark.close()]));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }\ndark: { url: "${dark.url}" }\nmirror: { sample: 1.0, maxBodyBytes: 64KiB }`, { level: 'warn' });
  t.teardown(() => umbra.stop());
  const a = await request(`${umbra.proxyUrl}/file`);
  t.ok(a.body.equals(Buffer.concat([part, part])), 'the whole live answer');
  const m = await drained(umbra, 1);
  t.equal(metricValue(m, 'umbra_comparison_skips_total', { reason: 'too_large' }), 1);
  t.equal(metricValue(m, 'umbra_shadow_buffered_bytes'), 0);
});
