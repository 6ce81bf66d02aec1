// SIGHUP re-reads the config file in the real process (DESIGN §2: a bad config
// on hot reload is rejected and the previous one stays in force).
import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricValue, request, startBackend, until } from '../helpers/net.js';
import { startUmbraProcess } from '../helpers/spawn.js';

t.test('SIGHUP applies a valid config and rejects a bad one', async (t) => {
  const a = await startBackend((_q, res) => res.end('from-a'));
  const b = await startBackend((_q, res) => res.end('from-b'));
  const dir = mkdtempSync(join(tmpdir(), 'umbra-hup-'));
  const file = join(dir, 'umbra.yaml');
  const text = (url: string, extra = ''): string =>
    `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nlive: { url: "${url}" }\n${extra}\n`;
  writeFileSync(file, text(a.url));
  const umbra = await startUmbraProcess(['--config', file]);
  t.teardown(async () => {
    await umbra.kill();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.equal((await request(`${umbra.listen}/`)).body.toString(), 'from-a');
  writeFileSync(file, text(b.url));
  umbra.child.kill('SIGHUP');
  await until(async () => (await request(`${umbra.listen}/`)).body.toString() === 'from-b', 5000, 'the reload');
  writeFileSync(file, text(a.url, 'unknownKey: 1'));
  umbra.child.kill('SIGHUP');
  await umbra.waitForLog('config reload rejected; the previous config stays in force');
  t.equal((await request(`${umbra.listen}/`)).body.toString(), 'from-b', 'the previous config stays');
  const m = (await request(`${umbra.admin}/metrics`)).body.toString();
  t.equal(metricValue(m, 'umbra_config_reloads_total', { result: 'failure' }), 1);
  t.ok(metricValue(m, 'umbra_config_reloads_total', { result: 'success' }) >= 1);
  t.equal(umbra.exit(), null, 'still running');
});
