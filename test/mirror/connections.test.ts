// umbra_shadow_connections_total against real loopback servers: every connection
// umbra opens to a shadow target, and every one that closes, is counted per
// target. A dark that closes after each answer shows one connection per shadow
// request; a secondary that keeps them open shows one in all.
import t from 'tap';
import { metricValue, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';

const BODY = '{"n":1}';

async function metrics(umbra: TestUmbra): Promise<string> {
  return (await request(`${umbra.adminUrl}/metrics`)).body.toString();
}

const conns = (text: string, target: string, event: string): number => metricValue(text, 'umbra_shadow_connections_total', { target, event });

/** Metrics once no shadow request is under way. */
async function settled(umbra: TestUmbra): Promise<string> {
  return until(
    async () => {
      const text = await metrics(umbra);
      return metricValue(text, 'umbra_shadow_in_flight', { target: 'dark' }) === 0 && metricValue(text, 'umbra_shadow_in_flight', { target: 'secondary' }) === 0 ? text : '';
    },
    5000,
    'shadow work to settle',
  );
}

t.test('connections to dark and secondary are counted as they open and close', async (t) => {
  const json = (close: boolean) =>
    startBackend((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) });
      res.end(BODY);
    });
  const live = await json(false);
  const dark = await json(true);
  const secondary = await json(false);
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }
dark: { url: "${dark.url}" }
secondary: { url: "${secondary.url}" }
mirror: { sample: 1.0 }`);
  t.teardown(async () => {
    await umbra.stop();
    await Promise.all([live.close(), dark.close(), secondary.close()]);
  });

  const before = await metrics(umbra);
  for (const target of ['dark', 'secondary']) for (const event of ['opened', 'closed']) t.equal(conns(before, target, event), 0, `${target} ${event}: the series exists from the start, at 0`);

  const n = 5;
  for (let i = 0; i < n; i++) {
    const r = await request(`${umbra.proxyUrl}/item/${i}`);
    t.equal(r.body.toString(), BODY, `live answer ${i} untouched`);
    // One shadow request at a time, so that each finds the connection the last one left.
    await settled(umbra);
  }
  const m = await until(async () => {
    const text = await metrics(umbra);
    return conns(text, 'dark', 'closed') === n ? text : '';
  }, 5000, 'dark to close its connections');
  t.equal(metricValue(m, 'umbra_comparisons_total', { result: 'match' }), n, 'every shadow request was answered and compared');
  t.equal(conns(m, 'dark', 'opened'), n, 'a dark answering `connection: close`: a new connection for each shadow request');
  t.equal(conns(m, 'dark', 'closed'), n, '... and each one closed');
  t.equal(conns(m, 'secondary', 'opened'), 1, 'a secondary keeping its connection: one for all of them');
  t.equal(conns(m, 'secondary', 'closed'), 0, '... still open');
});
