// Measuring a set of configurations in rounds. All of a scenario's configurations are
// started first; each gets a short warm-up; then every round measures each of them
// once, in the same order. measureRounds() does that with closed-loop load (wrk or
// autocannon, as fast as the proxy goes) and reports, per configuration, the round
// with the highest throughput ("best of N") with the spread over rounds; scenarios
// that measure something else (cpu.js: a fixed request rate) call interleave().
//
// Why rounds: the machine is shared, and other people's work comes and goes. A single
// long measurement per configuration lets a burst of foreign load land on one of them
// and skew a ratio; interleaved rounds spread such bursts over all configurations, and
// the best round is the one least disturbed (foreign load only ever lowers throughput).

import { runLoad } from './load.js';
import { observe, waitQuiet } from './procs.js';

/**
 * Starts every configuration, warms each up with `warmUp(handle)`, then runs
 * `ctx.rounds` rounds of `measureOnce(handle, round)` over all of them in order, and
 * stops them all (also on an error). With `alternate`, every second round runs them
 * in reverse order (A B, B A, A B, ...): a slow spell of the machine that starts
 * within a round then falls as often on one configuration as on the other.
 * `measureOnce` returns { result, line }: `line` is logged after the key. Handles are { pid, stop(), ... } as `start()` builds them.
 * Returns { [key]: [the result of every round] }.
 */
export async function interleave(ctx, configs, { warmUp, measureOnce, alternate = false }) {
  const handles = new Map();
  const rounds = Object.fromEntries(configs.map((c) => [c.key, []]));
  try {
    for (const c of configs) {
      ctx.log(`  start ${c.key}`);
      handles.set(c.key, await c.start());
    }
    for (const c of configs) {
      ctx.log(`  warm-up ${ctx.warmupSec}s ${c.key}`);
      await warmUp(handles.get(c.key));
    }
    for (let round = 1; round <= ctx.rounds; round++) {
      // Give a burst of foreign load a moment to pass, within a budget for the suite.
      const quiet = await waitQuiet({ maxWaitMs: Math.min(ctx.quietBudget.perRunMs, ctx.quietBudget.leftMs) });
      ctx.quietBudget.leftMs = Math.max(0, ctx.quietBudget.leftMs - quiet.waitedMs);
      if (quiet.waitedMs > 600) ctx.log(`  waited ${(quiet.waitedMs / 1000).toFixed(1)}s for a quieter machine (other load ${quiet.otherCores?.toFixed(2)} cores)`);
      for (const c of alternate && round % 2 === 0 ? [...configs].reverse() : configs) {
        const { result, line } = await measureOnce(handles.get(c.key), round);
        rounds[c.key].push(result);
        ctx.log(`  round ${round} ${c.key}: ${line}`);
      }
    }
  } finally {
    for (const h of handles.values()) await h.stop();
  }
  return rounds;
}

/**
 * `configs`: [{ key, start: async () => handle }] where handle is
 *   { url, pid, stop(), beforeRun?(), afterRun?(before) }.
 * `load(url, seconds)` drives one warm-up or round and resolves with at least
 * { rps, p50Ms, p99Ms, errors, timeouts, non2xx }; by default runLoad() (wrk or
 * autocannon) with `connections`. The h2 and grpc scenarios pass h2load or their
 * gRPC client. `alternate` reverses the order of every second round (see interleave()).
 * Returns { [key]: { ...bestRound, rounds: [every round] } }.
 */
export async function measureRounds(ctx, configs, { connections = 32, load, alternate = false } = {}) {
  const drive = load ?? ((url, seconds) => runLoad({ url, connections, seconds, tool: ctx.tool }));
  const all = await interleave(ctx, configs, {
    alternate,
    warmUp: (h) => drive(h.url, ctx.warmupSec),
    measureOnce: async (h, round) => {
      const before = h.beforeRun ? await h.beforeRun() : undefined;
      const obs = await observe(h.pid, () => drive(h.url, ctx.seconds));
      const after = h.afterRun ? await h.afterRun(before) : undefined;
      const r = {
        round,
        ...obs.result,
        cpuPercent: obs.cpuPercent,
        benchCores: obs.benchCores,
        otherCores: obs.otherCores,
        rssPeakBytes: obs.rssPeakDuringRun,
        rssHwmBytes: obs.rssHwm,
        extra: after,
      };
      return {
        result: r,
        line:
          `${Math.round(r.rps)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
          `failed ${r.errors + r.timeouts + r.non2xx}, other load ${r.otherCores?.toFixed(2)} cores`,
      };
    },
  });
  const results = {};
  for (const c of configs) {
    const rounds = all[c.key];
    const best = rounds.reduce((a, b) => (b.rps > a.rps ? b : a));
    const rps = rounds.map((x) => x.rps);
    // Peak memory is over the whole life of the process, i.e. the last reading.
    const last = rounds[rounds.length - 1];
    results[c.key] = {
      ...best,
      rssHwmBytes: last.rssHwmBytes,
      failedAllRounds: rounds.reduce((n, x) => n + x.errors + x.timeouts + x.non2xx, 0),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      rounds,
    };
  }
  return results;
}
