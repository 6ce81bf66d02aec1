// `compare.protos` (DESIGN §4): .proto files read when the config is loaded
// (at start and on every reload), parsed by protobufjs, and kept as plain
// descriptors (Root#toJSON) that the compare engine and its workers rebuild
// without touching the file system. A file that cannot be read or parsed is a
// config problem naming the .proto file and its line.
//
// protobufjs: maintained, pure JavaScript, parses .proto text at run time
// without protoc, and is what grpc-js itself uses (through @grpc/proto-loader).

import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import protobuf from 'protobufjs';
import type { ProtoSchemas } from './types.js';

/** Why a set of files could not be loaded: the message, and the listed file it is about (when known). */
export interface ProtoProblem {
  readonly message: string;
  /** Absolute path of the listed file the problem is in or comes from; null when it cannot be told. */
  readonly file: string | null;
}

/**
 * Loads sets of .proto files for one config, each set once (routes that add
 * nothing share the top-level set and its descriptors).
 */
export class ProtoLoader {
  readonly #cache = new Map<string, ProtoSchemas | ProtoProblem>();
  readonly #reported = new Set<string>();

  /** `baseDir`: what relative paths in the config are relative to (the config file's directory). */
  constructor(readonly baseDir: string) {}

  /** The absolute path of a listed file. */
  resolve(file: string): string {
    return resolve(this.baseDir, file);
  }

  /** How a file is named in messages: relative to the config file when below it. */
  shown(file: string): string {
    const rel = relative(this.baseDir, file);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  }

  /** Loads absolute paths `files` together (imports included); the same list twice costs one load. */
  load(files: readonly string[]): ProtoSchemas | ProtoProblem {
    const key = files.join('\n');
    let known = this.#cache.get(key);
    if (known === undefined) {
      known = this.#read(files);
      this.#cache.set(key, known);
    }
    return known;
  }

  /**
   * True the first time a problem is seen: a route's set includes the
   * top-level files, and a problem in them is reported once, at the top level.
   */
  firstReport(p: ProtoProblem): boolean {
    if (this.#reported.has(p.message)) return false;
    this.#reported.add(p.message);
    return true;
  }

  #read(files: readonly string[]): ProtoSchemas | ProtoProblem {
    for (const f of files) {
      if (!existsSync(f)) return { message: `${this.shown(f)}: no such file`, file: f };
    }
    const root = new protobuf.Root();
    // protoc resolves an import against its include paths, usually the root of
    // the proto tree: try the importing file's directory, then each one above it.
    root.resolvePath = (origin: string, target: string): string => {
      if (isAbsolute(target)) return target;
      if (origin === '') return resolve(this.baseDir, target);
      for (let dir = dirname(origin); ; dir = dirname(dir)) {
        const candidate = join(dir, target);
        if (existsSync(candidate)) return candidate;
        if (dirname(dir) === dir) break;
      }
      return join(dirname(origin), target);
    };
    try {
      // keepCase: field names as written in the .proto, not camelCase.
      root.loadSync([...files], { keepCase: true });
      root.resolveAll();
    } catch (err) {
      return this.#problem(err, files);
    }
    return { files: [...files], descriptors: root.toJSON() };
  }

  /** protobufjs says `illegal token 'x' (file.proto, line 5)`; this says `file.proto:5: illegal token 'x'`. */
  #problem(err: unknown, files: readonly string[]): ProtoProblem {
    const e = err as { message?: unknown; code?: unknown; path?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (e.code === 'ENOENT' && typeof e.path === 'string') {
      const missing = e.path;
      const listed = files.includes(resolve(missing));
      return { message: listed ? `${this.shown(missing)}: no such file` : `an import was not found: ${this.shown(missing)}`, file: listed ? resolve(missing) : null };
    }
    const at = /^(.*) \((.+), line (\d+)\)$/.exec(message);
    if (at !== null) {
      const file = resolve(this.baseDir, at[2] as string);
      return { message: `${this.shown(file)}:${at[3]}: ${at[1]}`, file: files.includes(file) ? file : null };
    }
    // Resolution problems (an unknown type, a duplicate name) name no file.
    return { message, file: null };
  }
}
