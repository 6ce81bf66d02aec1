// The composition root: parse the command line, load the config, start umbra,
// wire signals. Exit status: 0 success, 1 runtime failure, 2 usage or config error.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startUmbra } from './app.js';
import { configFromFlags, loadConfigFile } from './config/load.js';
import { startReloader } from './config/reloader.js';
import type { Config } from './config/types.js';
import { ConfigError, UsageError } from './errors.js';

export const USAGE = `umbra - a sidecar reverse proxy for shadow traffic and dark launches

Usage:
  umbra [serve] --config FILE          run the proxy (UMBRA_CONFIG also works)
  umbra --live URL --dark URL [--sample 0.1] [--listen :8080] [--admin 127.0.0.1:9901]
  umbra check --config FILE            validate a config file; exit 0 or 2
  umbra demo [--keep]                  self-contained demo (see README)
  umbra --help | --version

Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  live: { type: 'string' },
  dark: { type: 'string' },
  sample: { type: 'string' },
  listen: { type: 'string' },
  admin: { type: 'string' },
  keep: { type: 'boolean' },
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
