// The ramp on a real umbra with real backends (DESIGN §12): with short holds it
// climbs from its first step to 100% while the gate passes, every move an audit
// line; a failing gate pauses the route (and `umbra gate` says fail); a person's
// resume and PUT win. The log of the climb is printed as the test's comments.
import t, { type Test } from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, metricValue, request, startBackend, until } from '../helpers/net.js';
import { startTestUmbra, type TestUmbra } from '../helpers/umbra.js';
import { runGate } from '../../src/gate/run.js';

type Answerer = (req: IncomingMessage, res: ServerResponse) => void;

const same: Answerer = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ path: req.url }));
};

async function setup(t: Test, dark: Answerer, rampYaml: string, gateYaml: string): Promise<TestUmbra> {
  const l = await startBackend(same);
  const d = await startBackend(dark);
  const umbra = await startTestUmbra(
    `live: { url: "${l.url}" }\ndark: { url: "${d.url}", maxInFlight: 512 }\n${gateYaml}\nroutes:\n  - name: items\n    match: { prefix: /items }\n    owner: team-shop\n    ramp: ${rampYaml}\n`,
    { level: 'info' },
  );
  // Traffic all along, as in production: the ramp judges what comes in.
  let running = true;
  let n = 0;
  const traffic = (async () => {
    while (running) await request(`${umbra.proxyUrl}/items/${n++}`);
  })();
  t.teardown(async () => {
    running = false;
    await traffic;
    await umbra.stop();
    await Promise.all([l.close(), d.close()]);
  });
  return umbra;
}

const rampLines = (umbra: TestUmbra): Record<string, unknown>[] => umbra.logs.filter((l) => typeof l['action'] === 'string' && (l['action']).startsWith('ramp'));

t.test('with a passing gate the ramp climbs from its first step to 100%', async (t) => {
  const umbra = await setup(t, same, '{ steps: [0.1, 0.25, 0.5, 1.0], hold: 300ms }', 'gate: { minComparisons: 30, maxMismatchRate: 0.1, latencyFloor: 5s }');
  t.equal(umbra.mirror?.runtime('items')?.sample, 0.1, 'it starts at the first step, not at mirror.sample');
  await until(() => umbra.mirror?.runtime('items')?.sample === 1, 30_000, 'the ramp to reach 1.0');
  const lines = rampLines(umbra);
  for (const l of lines) t.comment(`${String(l['time'])} ${String(l['msg'])} (${String(l['action'])}, verdict ${typeof l['verdict'] === 'string' ? l['verdict'] : '-'})`);
  t.same(
    lines.map((l) => [l['action'], l['old'], l['new']]),
    [
      ['ramp start', null, 0.1],
      ['ramp step', 0.1, 0.25],
      ['ramp step', 0.25, 0.5],
      ['ramp step', 0.5, 1],
    ],
    'start, then one step at a time',
  );
  for (const l of lines) {
    t.equal(l['audit'], true);
    t.equal(l['who'], 'ramp');
    t.type(l['when'], 'string');
  }
  const steps = lines.filter((l) => l['action'] === 'ramp step');
  for (const l of steps) t.equal(l['verdict'], 'pass', 'each step on a passing gate');
  const times = lines.map((l) => Date.parse(String(l['when'])));
  for (let i = 2; i < times.length; i++) t.ok((times[i] as number) - (times[i - 1] as number) >= 290, `step ${i} came at least a hold after the one before`);

  const view = (await json(`${umbra.adminUrl}/api/routes`)).body.routes[0];
  t.equal(view.sample, 1);
  t.equal(view.owner, 'team-shop');
  t.equal(view.ramp.step, 3);
  t.equal(view.ramp.complete, true);
  t.equal(view.ramp.phase, 'ramping');
  t.same(view.ramp.steps, [0.1, 0.25, 0.5, 1]);
  const metrics = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(metrics, 'umbra_sample_ratio', { route: 'items' }), 1);

  // `umbra gate` against this umbra: pass, exit 0.
  const out: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => undefined } };
  const code = await runGate({ admin: umbra.adminUrl, route: 'items', window: null, token: null, wait: null, interval: 1000, json: false }, io);
  t.equal(code, 0, out.join(''));
  t.match(out.join(''), /pass/);
});

t.test('a failing gate pauses the route; resume goes on from that step; a PUT stops the ramp', async (t) => {
  let bad = false;
  const dark: Answerer = (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, ...(bad ? { price: 2 } : {}) }));
  };
  const umbra = await setup(t, dark, '{ steps: [0.5, 1.0], hold: 60s, onFail: pause }', 'gate: { minComparisons: 20, maxMismatchRate: 0.05, latencyFloor: 5s }');
  const rt = umbra.mirror?.runtime('items');
  await until(() => (rt?.stats.compared ?? 0) >= 5, 10_000, 'some comparisons');
  bad = true;
  await until(() => rt?.paused === true, 30_000, 'the route to pause');
  const pause = rampLines(umbra).find((l) => l['action'] === 'ramp pause');
  t.ok(pause, 'an audit line for the pause');
  t.equal(pause?.['verdict'], 'fail');
  t.match(String((pause?.['reasons'] as string[])[0]), /mismatch rate .* is above maxMismatchRate 5%/);
  t.equal(rt?.sample, 0.5, 'the dial stays at its step');
  const before = rt?.stats.mirrored ?? 0;
  const paused = rt?.stats.counts.total.dropped.paused ?? 0;
  await until(() => (rt?.stats.counts.total.dropped.paused ?? 0) > paused + 10, 10_000, 'requests not mirrored (paused)');
  t.equal(rt?.stats.mirrored, before, 'nothing more is mirrored');
  const view = (await json(`${umbra.adminUrl}/api/routes`)).body.routes[0];
  t.equal(view.paused, true);
  t.equal(view.pausedBy, 'ramp', 'paused by its gate');
  t.equal(view.ramp.phase, 'paused');
  t.equal(view.verdict, 'fail');

  // A pipeline's gate says fail: exit 1, at once.
  const code = await runGate({ admin: umbra.adminUrl, route: 'items', window: null, token: null, wait: 5000, interval: 200, json: false }, { stdout: { write: () => undefined }, stderr: { write: () => undefined } });
  t.equal(code, 1);

  // A person resumes the route: mirroring goes on, the ramp from the same step.
  const resumed = await json(`${umbra.adminUrl}/api/routes/items/resume`, { method: 'POST' });
  t.same(resumed.body, { route: 'items', paused: false });
  t.equal(rt?.paused, false);
  t.equal(rt?.pausedBy, null);
  t.equal(rt?.ramp?.phase, 'ramping');
  const audit = umbra.logs.find((l) => l['action'] === 'resume route');
  t.equal(audit?.['old'], 'paused');
  t.equal(audit?.['new'], 'running');
  // The person wins: a PUT stops the ramp.
  const put = await json(`${umbra.adminUrl}/api/routes/items/sample`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"sample":0.2}' });
  t.equal(put.body.ramp, 'stopped');
  t.equal(rt?.ramp?.phase, 'stopped');
  t.equal(umbra.logs.find((l) => l['action'] === 'set sample')?.['ramp'], 'stopped');
  // The window still fails (the mismatches are in it), but a stopped ramp no longer pauses.
  await new Promise((r) => setTimeout(r, 300));
  t.equal(rt?.paused, false, 'a stopped ramp does not pause again');
  t.equal(rt?.sample, 0.2);
});

t.test('onFail hold: the ramp stays at its step and says so once', async (t) => {
  const bad: Answerer = (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: `${req.url ?? ''}x` }));
  };
  const umbra = await setup(t, bad, '{ steps: [0.5, 1.0], hold: 100ms, onFail: hold }', 'gate: { minComparisons: 20, maxMismatchRate: 0.05, latencyFloor: 5s }');
  await until(() => rampLines(umbra).some((l) => l['action'] === 'ramp hold'), 20_000, 'a hold line');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(rampLines(umbra).filter((l) => l['action'] === 'ramp hold').length, 1, 'once while it keeps failing');
  const rt = umbra.mirror?.runtime('items');
  t.equal(rt?.paused, false, 'still mirroring');
  t.equal(rt?.sample, 0.5, 'at its step');
});

t.test('a reload that keeps the ramp keeps its step; changing it starts over', async (t) => {
  const umbra = await setup(t, same, '{ steps: [0.2, 0.4, 1.0], hold: 200ms }', 'gate: { minComparisons: 20, maxMismatchRate: 0.2, latencyFloor: 5s }');
  await until(() => (umbra.mirror?.runtime('items')?.sample ?? 0) >= 0.4, 20_000, 'the second step');
  const { parseConfigText } = await import('../../src/config/load.js');
  const text = (ramp: string): string =>
    `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nlive: { url: "${umbra.config.live.url}" }\ndark: { url: "${umbra.config.dark?.url ?? ''}" }\ngate: { minComparisons: 20000 }\nroutes:\n  - name: items\n    match: { prefix: /items }\n    ramp: ${ramp}\n`;
  const before = umbra.mirror?.runtime('items')?.sample;
  await umbra.reload(parseConfigText(text('{ steps: [0.2, 0.4, 1.0], hold: 200ms }'), 'r.yaml', {}, { containerLimit: null }));
  t.equal(umbra.mirror?.runtime('items')?.sample, before, 'same ramp: same step');
  await umbra.reload(parseConfigText(text('{ steps: [0.3, 1.0], hold: 1h }'), 'r.yaml', {}, { containerLimit: null }));
  t.equal(umbra.mirror?.runtime('items')?.sample, 0.3, 'a changed ramp starts at its first step');
  t.equal(rampLines(umbra).filter((l) => l['action'] === 'ramp start').length, 2, 'and says so');
});
