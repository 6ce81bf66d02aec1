// What /metrics shows from the first scrape (DESIGN §6): both reload series at 0,
// so the first failed reload is an increase an alert can see; and event-loop lag
// measured at 1 ms resolution, so an idle process reads well under 10 ms.
import t from 'tap';
import { request, sleep, startBackend } from '../helpers/net.js';
import { startTestUmbra } from '../helpers/umbra.js';

t.test('reload series exist at 0 before any reload; event-loop lag resolves below 10 ms', async (t) => {
  const live = await startBackend((_req, res) => res.end('ok'));
  const umbra = await startTestUmbra(`live: { url: "${live.url}" }`, { level: 'warn' });
  t.teardown(async () => {
    await umbra.stop();
    await live.close();
  });
  // Let the lag histogram fill with idle samples.
  await sleep(300);
  const text = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.match(text, /^umbra_config_reloads_total\{result="success"\} 0$/m);
  t.match(text, /^umbra_config_reloads_total\{result="failure"\} 0$/m);
  const min = Number(/^nodejs_eventloop_lag_min_seconds (\S+)$/m.exec(text)?.[1]);
  t.ok(Number.isFinite(min), 'nodejs_eventloop_lag_min_seconds is exported');
  t.ok(min < 0.005, `an idle loop's smallest lag reads ${(min * 1000).toFixed(2)} ms, under the 10 ms a 10 ms resolution cannot go below`);
});
