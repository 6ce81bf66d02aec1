// The benchmark's round scheduler (benchmarks/lib/measure.js), driven with plain
// fake configurations: which order each round measures them in, and that every
// configuration is stopped.
import t from 'tap';

interface Ctx {
  rounds: number;
  warmupSec: number;
  quietBudget: { leftMs: number; perRunMs: number };
  log: (s: string) => void;
}
interface Config {
  key: string;
  start: () => Promise<{ pid: number; stop: () => Promise<void> }>;
}
type Interleave = (
  ctx: Ctx,
  configs: Config[],
  opts: { warmUp: (h: unknown) => Promise<void>; measureOnce: (h: { key: string }, round: number) => Promise<{ result: string; line: string }>; alternate?: boolean },
) => Promise<Record<string, string[]>>;

const { interleave } = (await import(new URL('../../benchmarks/lib/measure.js', import.meta.url).href)) as { interleave: Interleave };

async function order(alternate: boolean | undefined): Promise<{ seen: string[]; stopped: string[]; rounds: Record<string, string[]> }> {
  const seen: string[] = [];
  const stopped: string[] = [];
  const configs = ['a', 'b', 'c'].map((key) => ({
    key,
    start: async () => ({ key, pid: process.pid, stop: async () => void stopped.push(key) }),
  }));
  // No time to wait for a quieter machine: each round still samples the load once (0.5 s).
  const ctx: Ctx = { rounds: 3, warmupSec: 0, quietBudget: { leftMs: 0, perRunMs: 0 }, log: () => {} };
  const rounds = await interleave(ctx, configs, {
    warmUp: async () => {},
    measureOnce: async (h, round) => {
      seen.push(`${round}${h.key}`);
      return { result: `${round}${h.key}`, line: '' };
    },
    ...(alternate === undefined ? {} : { alternate }),
  });
  return { seen, stopped, rounds };
}

void t.test('rounds run the configurations in order, every second one reversed with alternate', async (t) => {
  const plain = await order(undefined);
  t.strictSame(plain.seen, ['1a', '1b', '1c', '2a', '2b', '2c', '3a', '3b', '3c']);
  const alt = await order(true);
  t.strictSame(alt.seen, ['1a', '1b', '1c', '2c', '2b', '2a', '3a', '3b', '3c']);
  // Results stay filed by configuration and round, whatever the order.
  t.strictSame(alt.rounds, { a: ['1a', '2a', '3a'], b: ['1b', '2b', '3b'], c: ['1c', '2c', '3c'] });
  t.strictSame(alt.stopped, ['a', 'b', 'c']);
});
