// The start-up advice on V8's young generation, checked for real: node in a memory
// cgroup of the shipped pod's limit (256 MiB) keeps a tiny young generation unless
// given --max-semi-space-size, and umbra, started the way a user would start it
// outside the image, says so in its log (and is quiet with the flag).
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Group {
  launcher: string[];
  remove(): void;
}
type Controller = { create(name: string, limitBytes: number): Group; reason?: undefined } | { reason: string };
// The memory cgroup helper benchmarks/pod-memory.js runs umbra in (plain JavaScript, imported by URL).
const pod = (await import(new URL('../../benchmarks/lib/pod.js', import.meta.url).href)) as { memoryController(): Controller };

const MiB = 1024 ** 2;
const LIMIT = 256 * MiB;
const BIN = fileURLToPath(new URL('../../bin/umbra.js', import.meta.url));
const real = pod.memoryController();
const skip = real.reason === undefined ? false : `no writable memory cgroup here (${real.reason})`;
/** A cgroup of LIMIT bytes; only called when `skip` is false. */
function create(name: string): Group {
  if (real.reason !== undefined) throw new Error(`no memory cgroup: ${real.reason}`);
  return real.create(name, LIMIT);
}

/** Runs node with `args` inside `group`; resolves with its stdout once it exits (or is stopped by `until`). */
function runIn(group: Group, args: string[], until?: (out: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const [sh = 'sh', ...prefix] = group.launcher;
    const child = spawn(sh, [...prefix, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      out += s;
      if (until?.(out) === true) child.kill('SIGTERM');
    });
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

// Allocates short-lived objects for a while, then prints the young generation's size.
const CHURN = `
const v8 = require('node:v8');
let keep = [];
for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 20000) keep = []; }
const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
console.log(JSON.stringify({ young: s.space_size }));
`;

void t.test('in a 256 MiB cgroup: V8 keeps about 2 MiB of young generation without the flag', { skip }, async (t) => {
  const group = create(`umbra-young-${process.pid}`);
  t.teardown(() => group.remove());
  const young = async (flags: string[]): Promise<number> => (JSON.parse(await runIn(group, [...flags, '-e', CHURN])) as { young: number }).young;
  const plain = await young([]);
  const sized = await young(['--max-semi-space-size=8']);
  t.ok(plain <= 4 * MiB, `V8's default: ${plain / MiB} MiB`);
  t.ok(sized >= 8 * MiB, `with --max-semi-space-size=8: ${sized / MiB} MiB`);
});

void t.test('umbra started in a 256 MiB cgroup warns without the flag, not with it', { skip }, async (t) => {
  const group = create(`umbra-young-app-${process.pid}`);
  t.teardown(() => group.remove());
  const started = (out: string): boolean => out.includes('"msg":"umbra started"');
  const logs = async (flags: string[]): Promise<Record<string, unknown>[]> => {
    const out = await runIn(group, [...flags, BIN, '--live', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], (o) => started(o) && o.includes('\n', o.indexOf('"msg":"umbra started"')));
    return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  const advice = (lines: Record<string, unknown>[]): Record<string, unknown>[] => lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('--max-semi-space-size'));
  const without = await logs([]);
  t.ok(without.some((l) => l.msg === 'umbra started'), 'umbra started');
  t.match(advice(without), [{ level: 'warn', memoryLimit: LIMIT, msg: /256 MiB memory limit/ }]);
  const withFlag = await logs(['--max-semi-space-size=8']);
  t.ok(withFlag.some((l) => l.msg === 'umbra started'), 'umbra started with the flag');
  t.same(advice(withFlag), [], 'no advice with the flag');
});
