// The start-up line says what the shadow memory budget is and where it came from.
import t from 'tap';
import { startTestUmbra } from './helpers/umbra.js';

const MiB = 1024 ** 2;
const LIVE = 'live: { url: "http://127.0.0.1:1" }';
const DARK = 'dark: { url: "http://127.0.0.1:2" }';

async function startedLine(yaml: string, containerLimit: number | null): Promise<Record<string, unknown> | undefined> {
  const umbra = await startTestUmbra(yaml, { level: 'info', containerLimit });
  await umbra.stop();
  return umbra.logs.find((l) => l.msg === 'umbra started');
}

void t.test('"umbra started" carries maxBufferedBytes and where it came from', async (t) => {
  t.match(await startedLine(`${LIVE}\n${DARK}`, 256 * MiB), { level: 'info', dark: 'http://127.0.0.1:2', maxBufferedBytes: 64 * MiB, maxBufferedBytesFrom: 'cgroup' });
  t.match(await startedLine(`${LIVE}\n${DARK}`, null), { maxBufferedBytes: 64 * MiB, maxBufferedBytesFrom: 'default' });
  t.match(await startedLine(`${LIVE}\n${DARK}\nmirror: { maxBufferedBytes: 8MiB }`, 256 * MiB), { maxBufferedBytes: 8 * MiB, maxBufferedBytesFrom: 'config' });
});

void t.test('without a dark backend the line leaves the budget out', async (t) => {
  const line = await startedLine(LIVE, 256 * MiB);
  t.match(line, { dark: null });
  t.notOk(line !== undefined && 'maxBufferedBytes' in line, 'no maxBufferedBytes');
  t.notOk(line !== undefined && 'maxBufferedBytesFrom' in line, 'no maxBufferedBytesFrom');
});

void t.test('under a small memory limit without a young generation size, a warning at start', async (t) => {
  const advice = async (runtime: { containerLimit: number | null; nodeFlags: string[] }): Promise<Record<string, unknown>[]> => {
    const umbra = await startTestUmbra(LIVE, { level: 'info', runtime });
    await umbra.stop();
    return umbra.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('--max-semi-space-size'));
  };
  const lines = await advice({ containerLimit: 256 * MiB, nodeFlags: [] });
  t.equal(lines.length, 1, 'said once');
  t.match(lines[0], { level: 'warn', memoryLimit: 256 * MiB, msg: /256 MiB memory limit.*node --max-semi-space-size=8/ });
  t.same(await advice({ containerLimit: 256 * MiB, nodeFlags: ['--max-semi-space-size=8'] }), [], 'not with the flag');
  t.same(await advice({ containerLimit: 2048 * MiB, nodeFlags: [] }), [], 'not under a large limit');
  t.same(await advice({ containerLimit: null, nodeFlags: [] }), [], 'not without a limit');
});
