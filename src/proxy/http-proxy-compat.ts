// http-proxy 1.18 takes `util._extend` when it loads; Node 22+ prints a
// DeprecationWarning (DEP0060) the first time it is called, on every start of
// umbra. `_extend(target, source)` is Object.assign with one source, so the
// module gets that instead. Imported before http-proxy, for its side effect only.
import { createRequire } from 'node:module';

const util = createRequire(import.meta.url)('node:util') as { _extend?: unknown };
util._extend = (target: object, source: object | null | undefined): object =>
  source === null || typeof source !== 'object' ? target : Object.assign(target, source);
