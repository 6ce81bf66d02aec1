// Hot reload against a real umbra: a valid file change is swapped in, an invalid
// one is rejected and counted, a Kubernetes-style symlink swap is seen, and a
// reload under load loses no request.
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync, symlinkSync, renameSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfigFile } from '../../src/config/load.js';
import { startReloader } from '../../src/config/reloader.js';
import { startUmbra } from '../../src/app.js';
import { createLogger } from '../../src/observe/log.js';
import { metricValue, request, startBackend, until, type Backend } from '../helpers/net.js';

function configText(live: string, extra = ''): string {
  return `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nlive: { url: "${live}" }\n${extra}\n`;
}

async function backends(t: Test): Promise<[Backend, Backend]> {
  const a = await startBackend((_q, res) => res.end('from-a'));
  const b = await startBackend((_q, res) => res.end('from-b'));
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  return [a, b];
}

async function start(t: Test, file: string, watchFile = true) {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      for (const l of c.toString().split('\n')) if (l !== '') logs.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const config = loadConfigFile(file, {});
  const log = createLogger('info', [], sink);
  const umbra = await startUmbra(config, { log });
  const reloader = startReloader({ file, env: {}, target: umbra, log, metrics: umbra.metrics, debounceMs: 50, watch: watchFile });
  t.teardown(async () => {
    reloader.close();
    await umbra.stop();
  });
  return { umbra, reloader, logs };
}

const body = async (url: string): Promise<string> => (await request(url)).body.toString();

t.test('a valid change is applied; an invalid one is rejected and the old config stays', async (t) => {
  const [a, b] = await backends(t);
  const dir = mkdtempSync(join(tmpdir(), 'umbra-reload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'umbra.yaml');
  writeFileSync(file, configText(a.url));
  const { umbra, logs } = await start(t, file);
  t.equal(await body(`${umbra.proxyUrl}/`), 'from-a');

  writeFileSync(file, configText(b.url));
  await until(async () => (await body(`${umbra.proxyUrl}/`)) === 'from-b', 5000, 'the new live backend');
  t.pass('the file change took effect');

  writeFileSync(file, configText(a.url, 'dark: { timeout: soon }'));
  const m = await until(async () => {
    const text = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
    return metricValue(text, 'umbra_config_reloads_total', { result: 'failure' }) === 1 ? text : '';
  }, 5000, 'the failure to be counted');
  t.equal(metricValue(m, 'umbra_config_reloads_total', { result: 'success' }), 1);
  t.equal(await body(`${umbra.proxyUrl}/`), 'from-b', 'the previous config stays in force');
  const rejected = logs.find((l) => l.msg === 'config reload rejected; the previous config stays in force');
  t.match(rejected, { level: 'error', problems: [/umbra\.yaml:4: dark\.(url|timeout)/] }, 'the log names file, line and key');
});

t.test('a Kubernetes ConfigMap symlink swap is picked up', async (t) => {
  const [a, b] = await backends(t);
  const dir = mkdtempSync(join(tmpdir(), 'umbra-cm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // kubelet's layout: umbra.yaml -> ..data/umbra.yaml, ..data -> ..<timestamp>/
  mkdirSync(join(dir, '..v1'));
  writeFileSync(join(dir, '..v1', 'umbra.yaml'), configText(a.url));
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync('..data/umbra.yaml', join(dir, 'umbra.yaml'));
  const { umbra } = await start(t, join(dir, 'umbra.yaml'));
  t.equal(await body(`${umbra.proxyUrl}/`), 'from-a');
  mkdirSync(join(dir, '..v2'));
  writeFileSync(join(dir, '..v2', 'umbra.yaml'), configText(b.url));
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  await until(async () => (await body(`${umbra.proxyUrl}/`)) === 'from-b', 5000, 'the swapped config');
  t.pass('the symlink swap took effect');
});

t.test('reloading under load loses no request', async (t) => {
  const [a, b] = await backends(t);
  const dir = mkdtempSync(join(tmpdir(), 'umbra-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'umbra.yaml');
  writeFileSync(file, configText(a.url));
  const { umbra, reloader } = await start(t, file, false);
  let stop = false;
  const results: string[] = [];
  const failures: string[] = [];
  const client = async (): Promise<void> => {
    while (!stop) {
      try {
        const r = await request(`${umbra.proxyUrl}/`);
        if (r.status === 200) results.push(r.body.toString());
        else failures.push(String(r.status));
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const clients = Array.from({ length: 8 }, () => client());
  for (let i = 0; i < 10; i++) {
    writeFileSync(file, configText(i % 2 === 0 ? b.url : a.url, `# reload ${i}`));
    t.equal(await reloader.reload('SIGHUP'), true, `reload ${i} applied`);
    const seen = results.length + failures.length;
    await until(() => results.length + failures.length >= seen + 20, 5000, 'requests between reloads');
  }
  stop = true;
  await Promise.all(clients);
  t.same(failures, [], 'no request failed');
  t.ok(results.length > 50, `requests kept flowing (${results.length})`);
  t.ok(results.includes('from-a') && results.includes('from-b'), 'both configs served');
  const m = (await request(`${umbra.adminUrl}/metrics`)).body.toString();
  t.equal(metricValue(m, 'umbra_config_reloads_total', { result: 'success' }), 10);
});

t.test('a reload applies every limit it can and names the keys that need a restart', async (t) => {
  const [a] = await backends(t);
  const dir = mkdtempSync(join(tmpdir(), 'umbra-reload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'umbra.yaml');
  writeFileSync(file, configText(a.url, 'limits: { maxHeaderCount: 100, samplesPerRoute: 50, compareQueue: 32 }'));
  const { umbra, reloader, logs } = await start(t, file, false);
  const headers = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-h${i}`, 'v']));
  t.equal((await request(`${umbra.proxyUrl}/`, { headers })).status, 200, '21 fields pass the default cap');

  writeFileSync(file, configText(a.url, 'limits: { maxHeaderCount: 10, samplesPerRoute: 3, compareQueue: 0 }\nredact: { headers: [x-api-key] }'));
  t.equal(await reloader.reload('SIGHUP'), true);
  t.equal((await request(`${umbra.proxyUrl}/`, { headers })).status, 431, 'the lower header cap applies on reload');
  t.equal(umbra.config.limits.samplesPerRoute, 3);
  const line = logs.find((l) => l.msg === 'config reloaded');
  t.strictSame(line?.needsRestart, ['redact.headers (log lines)'], 'only what a reload cannot apply is named');
});
