// The composition root: parse the command line, load the config, start umbra,
// wire signals. Exit status: 0 success, 1 runtime failure, 2 usage or config error
// (and 3 for `gate`: still inconclusive).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startUmbra } from './app.js';
import { configFromFlags, loadConfigFile } from './config/load.js';
import { startReloader } from './config/reloader.js';
import type { Config } from './config/types.js';
import { ConfigError, ReplayFileError, UsageError } from './errors.js';
import { GATE_FLAGS, GATE_USAGE, gateOptions, type GateOptions } from './gate/options.js';
import { REPLAY_FLAGS, replayOptions } from './replay/options.js';

export const USAGE = `umbra - a sidecar reverse proxy for shadow traffic and dark launches

Usage:
  umbra [serve] --config FILE          run the proxy (UMBRA_CONFIG also works)
  umbra --live URL --dark URL [--sample 0.1] [--listen :8080] [--admin 127.0.0.1:9901]
  umbra check --config FILE            validate a config file; exit 0 or 2
  umbra demo [--grpc] [--keep]         self-contained demo, HTTP or (--grpc) gRPC (see README)
  umbra replay FILE|DIR... --target URL [options]
                                       captured traffic against a target (umbra replay --help)
  umbra gate --admin URL [--route NAME] [--wait 30m] [options]
                                       wait for a release verdict (umbra gate --help)
  umbra --help | --version

Exit status: 0 success, 1 runtime failure (replay, gate: the verdict failed), 2 usage or
configuration error, 3 (gate) still inconclusive when the wait ended.
`;

export const REPLAY_USAGE = `umbra replay - send captured requests to a target and compare its answers
with the recorded live answers (docs/replay.md)

Usage:
  umbra replay FILE|DIR... --target URL [options]

  FILE is a capture file (.jsonl or .jsonl.gz); DIR means every *.jsonl and
  *.jsonl.gz file in it, in name order.

Options:
  --target URL              where to send the requests (required)
  --config FILE             routes and comparison rules, as in serving (default:
                            the built-in rules, one route "default")
  --concurrency N           requests under way at once (default 8)
  --rate N                  requests started per second, 0 = no cap (default 0)
  --ordered                 one at a time, in recorded order (file order, then
                            line order): for writes replayed onto a restored snapshot
  --header "name: value"    add or replace a header on every request (repeatable):
                            credentials that capture redacted
  --secondary URL           noise baseline: GET, HEAD and OPTIONS also go there;
                            fields where it differs from the recorded answer are noise
  --max-mismatch-rate R     the share of compared exchanges allowed to mismatch,
                            0 to 1 (default 0)
  --timeout DURATION        per request, connect to last byte (default 30s)
  --report FILE             write a JSON report {summary, routes, divergences}

Exit status: 0 when at least one exchange was compared and mismatches/compared
<= R; 1 above it, when nothing could be compared, or when interrupted; 2 on bad
usage, a bad config, or input that cannot be read. Target errors are reported
and are not part of the rate; corrupt lines are reported (FILE:LINE: reason),
skipped and counted, and do not change the exit status by themselves.
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  live: { type: 'string' },
  dark: { type: 'string' },
  sample: { type: 'string' },
  listen: { type: 'string' },
  admin: { type: 'string' },
  keep: { type: 'boolean' },
  grpc: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

type Parsed = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;

/** The config for `serve`: from --config / UMBRA_CONFIG, or from flags. */
export function resolveConfig(values: Parsed['values'], env: NodeJS.ProcessEnv): Config {
  const file = values.config ?? env.UMBRA_CONFIG;
  if (file !== undefined && file !== '') {
    if (values.live !== undefined || values.dark !== undefined) {
      throw new UsageError('give either --config or --live/--dark, not both');
    }
    return loadConfigFile(file, env);
  }
  if (values.live === undefined) throw new UsageError('no configuration: give --config FILE or --live URL');
  return configFromFlags({
    live: values.live,
    ...(values.dark !== undefined ? { dark: values.dark } : {}),
    ...(values.sample !== undefined ? { sample: values.sample } : {}),
    ...(values.listen !== undefined ? { listen: values.listen } : {}),
    ...(values.admin !== undefined ? { admin: values.admin } : {}),
  });
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  // replay has flags of its own: parsed apart, so the proxy's stay strict.
  if (argv[0] === 'replay') return replay(argv.slice(1), env);
  if (argv[0] === 'gate') return gate(argv.slice(1), env);
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`umbra: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version === true) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  if (positionals.length > 1 || !['serve', 'check', 'demo'].includes(command)) {
    process.stderr.write(`umbra: unknown command "${positionals.join(' ')}"\n\n${USAGE}`);
    return 2;
  }
  try {
    if (command === 'check') {
      const file = values.config ?? env.UMBRA_CONFIG;
      if (file === undefined || file === '') throw new UsageError('check needs --config FILE');
      loadConfigFile(file, env);
      process.stdout.write(`${file}: ok\n`);
      return 0;
    }
    if (command === 'demo') {
      if (values.grpc === true) {
        const demo = (await import('./demo/grpc-run.js')) as { runGrpcDemo: (o: { keep: boolean }) => Promise<number> };
        return await demo.runGrpcDemo({ keep: values.keep === true });
      }
      const demo = (await import('./demo/run.js')) as { runDemo: (o: { keep: boolean }) => Promise<number> };
      return await demo.runDemo({ keep: values.keep === true });
    }
    const file = values.config ?? env.UMBRA_CONFIG;
    return await serve(resolveConfig(values, env), file !== undefined && file !== '' && values.live === undefined ? file : null, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`umbra: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

async function replay(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const abort = new AbortController();
  const onInterrupt = (): void => abort.abort();
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: REPLAY_FLAGS, allowPositionals: true, strict: true });
    if (values.help === true) {
      process.stdout.write(REPLAY_USAGE);
      return 0;
    }
    const opts = replayOptions(values, positionals);
    // Ctrl-C stops reading; what is under way ends and is reported. A second one kills.
    process.once('SIGINT', onInterrupt);
    // Loaded on use, as the demo is: serving never pays for it.
    const { runReplay } = await import('./replay/run.js');
    const { code } = await runReplay(opts, { stdout: process.stdout, stderr: process.stderr, env, signal: abort.signal });
    return code;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof ReplayFileError) {
      process.stderr.write(`umbra replay: ${err.message}\n`);
      return 2;
    }
    const code = (err as { code?: unknown }).code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`umbra replay: ${(err as Error).message}\n\n${REPLAY_USAGE}`);
      return 2;
    }
    throw err;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

async function gate(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let opts: GateOptions;
  try {
    const { values } = parseArgs({ args: [...argv], options: GATE_FLAGS, allowPositionals: false, strict: true });
    if (values.help === true) {
      process.stdout.write(GATE_USAGE);
      return 0;
    }
    opts = gateOptions(values, env);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`umbra gate: ${(err as Error).message}\n\n${GATE_USAGE}`);
      return 2;
    }
    throw err;
  }
  // Loaded on use, as replay is: serving never pays for it.
  const { runGate } = await import('./gate/run.js');
  return runGate(opts, { stdout: process.stdout, stderr: process.stderr });
}

async function serve(config: Config, file: string | null, env: NodeJS.ProcessEnv): Promise<number> {
  let umbra;
  try {
    umbra = await startUmbra(config);
  } catch (err) {
    process.stderr.write(`umbra: could not start: ${(err as Error).message}\n`);
    return 1;
  }
  const u = umbra;
  const reloader = file === null ? null : startReloader({ file, env, target: u, log: u.log, metrics: u.metrics });
  const onHup = (): void => {
    if (reloader === null) {
      u.log.warn('SIGHUP ignored: started from flags, there is no config file to re-read');
      return;
    }
    reloader.reload('SIGHUP').catch((err: unknown) => u.log.error({ err }, 'config reload crashed'));
  };
  process.on('SIGHUP', onHup);
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      u.log.info({ signal }, 'shutting down');
      reloader?.close();
      process.off('SIGHUP', onHup);
      u.stop().then(
        () => {
          u.log.flush();
          resolve(0);
        },
        (err: unknown) => {
          u.log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
