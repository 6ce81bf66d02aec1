// The real command line (`node bin/umbra.js ...`) as a user runs it: usage and
// exit status (DESIGN §3), config errors with their lines (guarantee 5), a
// config-less start from flags, and a graceful drain on SIGTERM (guarantee 6).
//
// bin/umbra.js runs the compiled dist/, so dist must be fresh: `npm test` builds
// first; to run this file alone: `npm run build && npx tap test/cli`.
import t, { type Test } from 'tap';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { request, sleep, startBackend, until } from '../helpers/net.js';
import { ROOT, runUmbra, startUmbraProcess, staleDist, type UmbraProcess } from '../helpers/spawn.js';

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

const dir = mkdtempSync(path.join(tmpdir(), 'umbra-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a config file into the test's tmp dir and returns its path. */
function configFile(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Kills the process in teardown if the test did not end it. */
function owned<P extends UmbraProcess>(t: Test, p: P): P {
  t.teardown(() => p.kill());
  return p;
}

/** Resolves true when a TCP connection to `url`'s port is refused. */
function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function readyz(admin: string): Promise<number> {
  try {
    return (await request(`${admin}/readyz`)).status;
  } catch {
    return 0;
  }
}

t.test('dist/ is built from the current src/ (else: npm run build)', (t) => {
  t.same(staleDist(), [], 'no src/ file is newer than its dist/ output');
  t.end();
});

t.test('usage', (t) => {
  t.test('--help exits 0 and prints usage', async (t) => {
    const r = await runUmbra(['--help']);
    t.equal(r.code, 0);
    t.match(r.stdout, /Usage:/);
    t.match(r.stdout, /umbra check --config FILE/);
    t.match(r.stdout, /--live URL --dark URL/);
    t.equal(r.stderr, '');
  });

  t.test("--version prints package.json's version", async (t) => {
    const r = await runUmbra(['--version']);
    t.equal(r.code, 0);
    t.equal(r.stdout.trim(), pkg.version);
  });

  t.test('an unknown flag exits 2 with a message', async (t) => {
    const r = await runUmbra(['--bogus']);
    t.equal(r.code, 2);
    t.match(r.stderr, /--bogus/);
    t.match(r.stderr, /Usage:/);
    t.equal(r.stdout, '', 'nothing on stdout');
  });

  t.test('an unknown command exits 2', async (t) => {
    const r = await runUmbra(['frobnicate']);
    t.equal(r.code, 2);
    t.match(r.stderr, /unknown command "frobnicate"/);
  });

  t.test('no config at all exits 2', async (t) => {
    const r = await runUmbra([]);
    t.equal(r.code, 2);
    t.match(r.stderr, /--config/);
  });

  t.test('a bad flag value exits 2 and names the flag', async (t) => {
    const r = await runUmbra(['--live', 'http://127.0.0.1:1', '--sample', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    t.equal(r.code, 2);
    t.match(r.stderr, /--sample/);
  });
  t.end();
});

const BAD = [
  'listen: 127.0.0.1:0', //            1
  'live:', //                          2
  '  url: http://127.0.0.1:3000', //   3
  '  timout: 5s', //                   4  typo'd key
  'dark:', //                          5
  '  url: http://127.0.0.1:3001', //   6
  '  timeout: 5 seconds', //           7  bad duration
  '',
].join('\n');

t.test('check', (t) => {
  t.test('the example config is valid', async (t) => {
    const r = await runUmbra(['check', '--config', 'config/umbra.yaml']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /config\/umbra\.yaml: ok/);
  });

  t.test('a bad config exits 2 and names file:LINE: key.path for each problem', async (t) => {
    const file = configFile('bad.yaml', BAD);
    const r = await runUmbra(['check', '--config', file]);
    t.equal(r.code, 2);
    t.match(r.stderr, `${file}:4: live.timout:`);
    t.match(r.stderr, /did you mean "timeout"/);
    t.match(r.stderr, `${file}:7: dark.timeout:`);
    t.equal(r.stdout, '');
  });

  t.test('a config that still names live.engine exits 2: undici now forwards everything', async (t) => {
    const file = configFile('engine.yaml', 'listen: 127.0.0.1:0\nlive:\n  url: http://127.0.0.1:3000\n  engine: http-proxy\n');
    const r = await runUmbra(['check', '--config', file]);
    t.equal(r.code, 2);
    t.match(r.stderr, `${file}:4: live.engine: was removed in 0.2.0: undici now forwards every request`);
  });

  t.test('a YAML syntax error exits 2 with its line', async (t) => {
    const file = configFile('syntax.yaml', ['listen: 127.0.0.1:0', 'live:', '  url: http://127.0.0.1:3000', ' timeout: 5s', 'log:', '  level: info', ''].join('\n'));
    const r = await runUmbra(['check', '--config', file]);
    t.equal(r.code, 2);
    t.match(r.stderr, `${file}:4: `);
    t.match(r.stderr, /YAML/);
  });

  t.test('a missing file exits 2', async (t) => {
    const file = path.join(dir, 'nope.yaml');
    const r = await runUmbra(['check', '--config', file]);
    t.equal(r.code, 2);
    t.match(r.stderr, file);
    t.match(r.stderr, /no such file/);
  });

  t.test('a ${VAR} without default that is unset is an error; set, it is fine', async (t) => {
    const file = configFile('env.yaml', 'listen: 127.0.0.1:0\nlive:\n  url: ${UMBRA_TEST_LIVE}\n');
    const unset = await runUmbra(['check', '--config', file]);
    t.equal(unset.code, 2);
    t.match(unset.stderr, `${file}:3:`);
    t.match(unset.stderr, /UMBRA_TEST_LIVE/);
    const set = await runUmbra(['check', '--config', file], { env: { UMBRA_TEST_LIVE: 'http://127.0.0.1:3000' } });
    t.equal(set.code, 0, set.stderr);
  });
  t.end();
});

t.test('serve with a bad config exits 2 with the line', async (t) => {
  const file = configFile('bad-serve.yaml', BAD);
  for (const [name, args, env] of [
    ['serve --config', ['serve', '--config', file], {}],
    ['--config (serve implied)', ['--config', file], {}],
    ['UMBRA_CONFIG', [], { UMBRA_CONFIG: file }],
  ] as const) {
    const r = await runUmbra(args, { env });
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, `${file}:4: live.timout:`, `${name}: first problem`);
    t.match(r.stderr, `${file}:7: dark.timeout:`, `${name}: second problem`);
    t.notMatch(r.stdout, /umbra started/, `${name}: never started`);
  }
});

t.test('UMBRA_CONFIG works as --config', async (t) => {
  const live = await startBackend((_req, res) => res.end('from env config'));
  t.teardown(() => live.close());
  const file = configFile('env-serve.yaml', `listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nlive:\n  url: ${live.url}\n`);
  const u = owned(t, await startUmbraProcess([], { env: { UMBRA_CONFIG: file } }));
  const r = await request(`${u.listen}/x`);
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'from env config');
  u.child.kill('SIGTERM');
  t.equal((await u.exited).code, 0);
});

t.test('a config-less start from flags proxies, is ready, and exits 0 on SIGTERM', async (t) => {
  const live = await startBackend((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-from': 'live' });
    res.end(JSON.stringify({ side: 'live', url: req.url }));
  });
  const dark = await startBackend((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ side: 'dark', url: req.url }));
  });
  t.teardown(async () => {
    await live.close();
    await dark.close();
  });
  const u = owned(
    t,
    await startUmbraProcess(['--live', live.url, '--dark', dark.url, '--sample', '1', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']),
  );
  t.match(u.listen, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(u.admin, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.not(u.listen, u.admin);

  const r = await request(`${u.listen}/users/7?x=1`);
  t.equal(r.status, 200);
  t.equal(r.headers['x-from'], 'live');
  t.same(JSON.parse(r.body.toString()), { side: 'live', url: '/users/7?x=1' }, 'the live answer, untouched');
  t.equal(live.seen.length, 1);
  t.equal((await request(`${u.admin}/healthz`)).status, 200);
  t.equal((await request(`${u.admin}/readyz`)).status, 200);

  u.child.kill('SIGTERM');
  const exit = await u.exited;
  t.equal(exit.code, 0, 'exit 0');
  t.equal(exit.signal, null);
  t.ok(u.logs.some((l) => l.msg === 'stopped'), 'logged "stopped"');
});

t.test('graceful drain on SIGTERM (guarantee 6)', async (t) => {
  const body = 'first half|' + 'x'.repeat(64 * 1024) + '|second half';
  // Live sends the first part at once and the rest only when the test releases it
  // (after its checks, and at least 800 ms later): a slow answer under way at SIGTERM.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const live = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.write(body.slice(0, 11));
    void released.then(() => res.end(body.slice(11)));
  });
  t.teardown(() => live.close());
  const file = configFile('drain.yaml', `listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nlive:\n  url: ${live.url}\nlimits:\n  drainTimeout: 10s\n`);
  const u = owned(t, await startUmbraProcess(['--config', file]));

  const inFlight = request(`${u.listen}/slow`);
  await until(() => live.seen.length === 1, 5000, 'the request to reach live');
  const slow = sleep(800);
  u.child.kill('SIGTERM');

  // The admin listener stays up while draining and says "not ready".
  await until(async () => (await readyz(u.admin)) === 503, 2000, '/readyz 503');
  t.pass('/readyz turned 503 while draining');
  t.equal((await request(`${u.admin}/healthz`)).status, 200, '/healthz still 200 while draining');
  await until(() => refused(u.listen), 2000, 'the proxy port to refuse connections');
  t.pass('a new connection to the proxy port is refused');
  t.equal(u.exit(), null, 'still running while the request is in flight');
  await slow;
  t.equal(u.exit(), null, 'still running 800 ms later');
  release();

  const r = await inFlight;
  t.equal(r.status, 200, 'the in-flight request completes with 200');
  t.equal(r.body.toString(), body, 'with the full body');
  const exit = await u.exited;
  t.equal(exit.code, 0, 'exit 0');
  t.ok(u.logs.some((l) => l.msg === 'draining'), 'logged "draining"');
});

t.test('drainTimeout bounds the drain when live never answers', async (t) => {
  const hung = await startBackend(() => {
    /* never answers */
  });
  t.teardown(() => hung.close());
  const file = configFile(
    'drain-timeout.yaml',
    `listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nlive:\n  url: ${hung.url}\n  timeout: 60s\nlimits:\n  drainTimeout: 300ms\n`,
  );
  const u = owned(t, await startUmbraProcess(['--config', file]));
  const inFlight = request(`${u.listen}/hang`).then(
    (r) => r.status,
    (err: Error) => err.message,
  );
  await until(() => hung.seen.length === 1, 5000, 'the request to reach live');
  const sent = Date.now();
  u.child.kill('SIGTERM');
  const exit = await Promise.race([u.exited, sleep(5000).then(() => null)]);
  t.not(exit, null, 'exited within 5 s of SIGTERM');
  t.equal(exit?.code, 0, 'exit 0');
  t.ok(Date.now() - sent >= 250, 'waited for the drain timeout first');
  t.ok(u.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('drain timeout')), 'logged the drain timeout');
  await inFlight; // the client's request ended one way or another
});

t.test('a port already in use exits 1 with a clear message', async (t) => {
  const blocker = net.createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  for (const [name, args] of [
    ['proxy port', ['--live', 'http://127.0.0.1:1', '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0']],
    ['admin port', ['--live', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${port}`]],
  ] as const) {
    const r = await runUmbra(args);
    t.equal(r.code, 1, `${name}: exit 1`);
    t.match(r.stderr, /address already in use/, `${name}: says why`);
    t.match(r.stderr, `127.0.0.1:${port}`, `${name}: names the address`);
  }
});
