// Starts umbra in-process for a test, from YAML text, on loopback port 0.
import { Writable } from 'node:stream';
import { parseConfigText } from '../../src/config/load.js';
import { startUmbra, type Umbra, type UmbraOptions } from '../../src/app.js';
import { createLogger } from '../../src/observe/log.js';

export interface TestUmbra extends Umbra {
  /** Every log line written, parsed. */
  readonly logs: Record<string, unknown>[];
}

/**
 * `yaml` is the config body without `listen`/`admin` (added here on port 0);
 * it usually names `live:` and maybe `dark:`. `containerLimit` is the memory
 * limit the budget default derives from: none unless given, whatever the machine;
 * `runtime` (default: that limit, no node flags) is what the start-up advice on
 * the young generation reads.
 */
export async function startTestUmbra(
  yaml: string,
  opts: { token?: string; level?: string; hosts?: readonly string[]; containerLimit?: number | null; storeTiming?: UmbraOptions['storeTiming']; runtime?: UmbraOptions['runtime'] } = {},
): Promise<TestUmbra> {
  const text = [
    'listen: 127.0.0.1:0',
    'admin:',
    '  listen: 127.0.0.1:0',
    ...(opts.token !== undefined ? [`  token: ${opts.token}`] : []),
    ...(opts.hosts !== undefined ? [`  hosts: ${JSON.stringify(opts.hosts)}`] : []),
    yaml,
  ].join('\n');
  const config = parseConfigText(text, 'test.yaml', {}, { containerLimit: opts.containerLimit ?? null });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger(opts.level ?? 'debug', config.redact.headers, sink, { service: config.service, instance: config.instance });
  // The same whatever machine runs the tests: no memory limit, no node flags, unless given.
  const runtime = opts.runtime ?? { containerLimit: opts.containerLimit ?? null, nodeFlags: [] };
  const umbra = await startUmbra(config, { log, runtime, ...(opts.storeTiming !== undefined ? { storeTiming: opts.storeTiming } : {}) });
  return Object.assign(Object.create(umbra) as Umbra, { logs, stop: () => umbra.stop() });
}
