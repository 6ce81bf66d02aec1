// `umbra replay` as a user runs it (`node bin/umbra.js replay ...`, the compiled
// dist/): exit status 0 / 1 / 2 (DESIGN §3, §10), the table on stdout,
// messages on stderr. The engine's behaviour in detail is run.test.ts.
//
// bin/umbra.js runs dist/: `npm test` builds first; alone: `npm run build && npx tap test/replay/cli.test.ts`.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { refusedPort, startBackend, type Handler } from '../helpers/net.js';
import { runUmbra, staleDist } from '../helpers/spawn.js';
import { writeCapture } from '../helpers/capture-lines.js';

const json: Handler = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ path: req.url, v: req.url === '/b' ? 2 : 1 }));
};

t.test('dist/ is built from the current src/ (else: npm run build)', async (t) => {
  t.same(staleDist(), []);
});

t.test('exit status', async (t) => {
  const b = await startBackend(json);
  t.teardown(() => b.close());
  const dir = t.testdir({});
  const same = writeCapture(path.join(dir, 'same.jsonl'), [{ path: '/a', live: { path: '/a', v: 1 } }, 'garbage', { path: '/c', live: { path: '/c', v: 1 } }]);
  const differs = writeCapture(path.join(dir, 'differs.jsonl.gz'), [{ path: '/a', live: { path: '/a', v: 1 } }, { path: '/b', live: { path: '/b', v: 1 } }]);

  t.test('0: the target answers as recorded (a corrupt line is reported, not fatal)', async (t) => {
    const r = await runUmbra(['replay', same, '--target', b.url]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^default\s+2\s+2\s+2\s+0\s+0\s+0$/m);
    t.match(r.stdout, /PASS/);
    t.match(r.stderr, `${same}:2: not JSON`);
  });

  t.test('1: a mismatch over --max-mismatch-rate; the report names the field', async (t) => {
    const report = path.join(dir, 'report.json');
    const r = await runUmbra(['replay', differs, '--target', b.url, '--report', report]);
    t.equal(r.code, 1, r.stderr);
    t.match(r.stdout, /\$\.v \(1\)/);
    t.match(r.stdout, /FAIL: mismatch rate 50% \(1 of 2 compared\) > 0%/);
    const rep = JSON.parse(readFileSync(report, 'utf8'));
    t.equal(rep.divergences[0].differences[0].field, '$.v');
    t.equal((await runUmbra(['replay', differs, '--target', b.url, '--max-mismatch-rate', '0.5'])).code, 0, 'at the rate: 0');
  });

  t.test('1: an unreachable target (errors, nothing compared)', async (t) => {
    const r = await runUmbra(['replay', same, '--target', `http://127.0.0.1:${await refusedPort()}`, '--timeout', '2s']);
    t.equal(r.code, 1, r.stderr);
    t.match(r.stdout, /^default\s+2\s+0\s+0\s+0\s+0\s+2$/m);
    t.match(r.stdout, /FAIL: nothing was compared/);
  });

  t.test('2: no --target', async (t) => {
    const r = await runUmbra(['replay', same]);
    t.equal(r.code, 2);
    t.match(r.stderr, /^umbra replay: replay needs --target URL/);
    t.match(r.stderr, /Usage:\n {2}umbra replay FILE\|DIR\.\.\. --target URL \[options\]/);
    t.equal(r.stdout, '');
  });

  t.test('2: a missing file or directory, named, before anything is sent', async (t) => {
    const before = b.seen.length;
    const missing = path.join(dir, 'nope.jsonl');
    const r = await runUmbra(['replay', same, missing, '--target', b.url]);
    t.equal(r.code, 2);
    t.equal(r.stderr, `umbra replay: ${missing}: no such file or directory\n`);
    t.equal(b.seen.length, before, 'nothing was sent');
    const empty = t.testdir({});
    const e = await runUmbra(['replay', empty, '--target', b.url]);
    t.equal(e.code, 2);
    t.match(e.stderr, `${empty}: no capture files`);
  });

  t.test('2: bad flags, a bad config, a report that cannot be written', async (t) => {
    const unknown = await runUmbra(['replay', same, '--target', b.url, '--bogus']);
    t.equal(unknown.code, 2);
    t.match(unknown.stderr, /--bogus/);
    const rate = await runUmbra(['replay', same, '--target', b.url, '--rate', 'fast']);
    t.equal(rate.code, 2);
    t.match(rate.stderr, /--rate must be a number/);
    const cfgDir = t.testdir({ 'bad.yaml': 'live: { url: http://x }\nmirror: { bogus: 1 }\n' });
    const cfg = await runUmbra(['replay', same, '--target', b.url, '--config', path.join(cfgDir, 'bad.yaml')]);
    t.equal(cfg.code, 2);
    t.match(cfg.stderr, /bad\.yaml:2: mirror\.bogus/);
    const report = await runUmbra(['replay', same, '--target', b.url, '--report', path.join(dir, 'no', 'such', 'dir', 'r.json')]);
    t.equal(report.code, 2);
    t.match(report.stderr, /--report .*r\.json: cannot write it/);
  });
});

t.test('help', async (t) => {
  const r = await runUmbra(['replay', '--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /--max-mismatch-rate R/);
  t.match(r.stdout, /--timeout DURATION .*default 30s/);
  const top = await runUmbra(['--help']);
  t.match(top.stdout, /umbra replay FILE\|DIR\.\.\. --target URL \[options\]/);
});
