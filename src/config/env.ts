// `${VAR}` and `${VAR:-default}` substitution on the raw config text, before
// YAML parsing. A substituted value never contains a line break, so a line in the
// result is the same line in the file and YAML errors keep their line numbers.
//
// The value goes in verbatim: YAML then reads it like anything typed there, so
// a value that may contain `#`, `: ` or quotes belongs inside quotes
// (`token: "${TOKEN}"`). `$${` writes a literal `${`. Comments are left alone, so
// a commented-out `${VAR}` need not be set.

export interface EnvProblem {
  /** 1-based line in the text. */
  readonly line: number;
  /** Offset in the substituted text where the replacement starts. */
  readonly offset: number;
  readonly variable: string;
  readonly message: string;
}

export interface Substitution {
  readonly text: string;
  readonly problems: readonly EnvProblem[];
}

export type Env = Readonly<Record<string, string | undefined>>;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Index of the `#` that starts a comment on this line, or -1. A `#` starts a
 *  comment at the line start or after whitespace, outside quotes; a quote opens
 *  a quoted scalar only where a token can start (so `don't` is not a quote). */
function commentStart(line: string): number {
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    const prev = i === 0 ? ' ' : (line[i - 1] ?? ' ');
    if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = null;
    } else if (quote === "'") {
      if (c === "'") {
        if (line[i + 1] === "'") i++;
        else quote = null;
      }
    } else if (c === '#' && /\s/.test(prev)) {
      return i;
    } else if ((c === '"' || c === "'") && /[\s:[{,-]/.test(prev)) {
      quote = c;
    }
  }
  return -1;
}

/** Replaces `${VAR}` / `${VAR:-default}` from `env`. `:-` takes the default
 *  when VAR is unset or empty, as in the shell. An unset VAR without a default,
 *  a malformed reference, or a value with a line break is a problem; its
 *  reference is replaced by the empty string so parsing can go on and report
 *  everything else too. */
export function substituteEnv(text: string, env: Env): Substitution {
  const problems: EnvProblem[] = [];
  const lines = text.split('\n');
  let out = '';
  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (index > 0) out += '\n';
    const cut = commentStart(line);
    const body = cut === -1 ? line : line.slice(0, cut);
    const comment = cut === -1 ? '' : line.slice(cut);
    let i = 0;
    while (i < body.length) {
      const at = body.indexOf('${', i);
      if (at === -1) {
        out += body.slice(i);
        break;
      }
      if (at > 0 && body[at - 1] === '$') {
        // `$${` is an escaped, literal `${`.
        out += body.slice(i, at - 1) + '${';
        i = at + 2;
        continue;
      }
      out += body.slice(i, at);
      const close = body.indexOf('}', at + 2);
      const inner = close === -1 ? body.slice(at + 2) : body.slice(at + 2, close);
      const sep = inner.indexOf(':-');
      const name = sep === -1 ? inner : inner.slice(0, sep);
      const fallback = sep === -1 ? undefined : inner.slice(sep + 2);
      const offset = out.length;
      if (close === -1 || !NAME.test(name)) {
        problems.push({
          line: lineNo,
          offset,
          variable: name,
          message: `malformed environment reference "${body.slice(at, close === -1 ? body.length : close + 1)}": expected \${NAME} or \${NAME:-default}`,
        });
        i = close === -1 ? body.length : close + 1;
        continue;
      }
      const set = env[name];
      let value: string | undefined = set !== undefined && (set !== '' || fallback === undefined) ? set : fallback;
      if (value === undefined) {
        problems.push({
          line: lineNo,
          offset,
          variable: name,
          message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
        });
        value = '';
      } else if (/[\r\n]/.test(value)) {
        problems.push({
          line: lineNo,
          offset,
          variable: name,
          message: `environment variable ${name} contains a line break, which a config value cannot hold`,
        });
        value = '';
      }
      out += value;
      i = close + 1;
    }
    out += comment;
  });
  return { text: out, problems };
}
