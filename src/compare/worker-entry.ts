// Where a worker thread's module is. From dist/ it is the compiled .js next to
// the module starting it. Under tests the sources run as .ts through tap's
// loader: then the compiled worker in dist/ is used when it is at least as new
// as its source (npm test builds first), since booting a worker through the
// TypeScript loader takes seconds, and tens of seconds on a loaded machine;
// otherwise the .ts with this process's loader flags. The compiled worker is
// started without this process's flags: they are the test runner's loader
// imports, which a worker inherits by default and which alone cost it over a
// second of start-up.
import { existsSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface WorkerEntry {
  readonly url: URL;
  readonly execArgv: string[] | undefined;
}

/** `name` without extension, resolved beside `base` (the caller's import.meta.url). */
export function workerEntry(base: string, name: string): WorkerEntry {
  const js = new URL(`./${name}.js`, base);
  if (existsSync(fileURLToPath(js))) return { url: js, execArgv: undefined };
  const ts = fileURLToPath(new URL(`./${name}.ts`, base));
  const marker = `${sep}src${sep}`;
  const at = ts.lastIndexOf(marker);
  if (at !== -1) {
    const built = join(ts.slice(0, at), 'dist', ts.slice(at + marker.length).replace(/\.ts$/, '.js'));
    if (existsSync(built) && statSync(built).mtimeMs >= statSync(ts).mtimeMs) return { url: pathToFileURL(built), execArgv: [] };
  }
  return { url: pathToFileURL(ts), execArgv: process.execArgv };
}
