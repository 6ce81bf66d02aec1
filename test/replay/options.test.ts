// `umbra replay` flags to options: defaults, and every bad value a usage error naming its flag.
import t from 'tap';
import { UsageError } from '../../src/errors.js';
import { REPLAY_DEFAULTS, parseHeaderFlag, replayOptions } from '../../src/replay/options.js';
import { createProgress } from '../../src/replay/progress.js';

const target = 'http://127.0.0.1:3000';

t.test('defaults', async (t) => {
  t.same(replayOptions({ target }, ['a.jsonl']), {
    inputs: ['a.jsonl'],
    target,
    config: null,
    concurrency: REPLAY_DEFAULTS.concurrency,
    rate: 0,
    ordered: false,
    headers: [],
    secondary: null,
    maxMismatchRate: 0,
    report: null,
    timeout: 30_000,
  });
  t.equal(REPLAY_DEFAULTS.concurrency, 8);
});

t.test('values', async (t) => {
  const o = replayOptions(
    { target: `${target}/base`, concurrency: '3', rate: '0.5', header: ['Authorization: Bearer x', 'x-a:b'], secondary: 'https://s', 'max-mismatch-rate': '0.05', report: 'r.json', timeout: '250ms', config: 'u.yaml' },
    ['a', 'b'],
  );
  t.match(o, { inputs: ['a', 'b'], concurrency: 3, rate: 0.5, maxMismatchRate: 0.05, timeout: 250, report: 'r.json', config: 'u.yaml', secondary: 'https://s' });
  t.same(o.headers, [
    ['authorization', 'Bearer x'],
    ['x-a', 'b'],
  ]);
  t.equal(replayOptions({ target, ordered: true }, ['a']).concurrency, 1, '--ordered is one at a time');
});

t.test('usage errors name the flag', async (t) => {
  const bad: [Parameters<typeof replayOptions>[0], string[], RegExp][] = [
    [{}, ['a'], /needs --target URL/],
    [{ target }, [], /at least one capture FILE or DIR/],
    [{ target: 'ftp://x' }, ['a'], /--target must be an http/],
    [{ target: 'not a url' }, ['a'], /--target must be an http/],
    [{ target: `${target}/?q=1` }, ['a'], /--target may not have a query/],
    [{ target, secondary: 'x' }, ['a'], /--secondary must be an http/],
    [{ target, concurrency: '0' }, ['a'], /--concurrency must be a whole number/],
    [{ target, concurrency: '2.5' }, ['a'], /--concurrency/],
    [{ target, ordered: true, concurrency: '4' }, ['a'], /--ordered sends one request at a time/],
    [{ target, rate: '-1' }, ['a'], /--rate/],
    [{ target, rate: 'fast' }, ['a'], /--rate/],
    [{ target, 'max-mismatch-rate': '5%' }, ['a'], /--max-mismatch-rate must be a fraction/],
    [{ target, 'max-mismatch-rate': '1.5' }, ['a'], /--max-mismatch-rate/],
    [{ target, timeout: '0' }, ['a'], /--timeout must be a duration/],
    [{ target, timeout: '5 parsecs' }, ['a'], /--timeout/],
    [{ target, header: ['no colon'] }, ['a'], /--header must be "name: value"/],
  ];
  for (const [values, positionals, message] of bad) t.throws(() => replayOptions(values, positionals), message, String(message));
  t.throws(() => replayOptions({}, ['a']), UsageError);
});

t.test('--header: validated like a header field', async (t) => {
  t.same(parseHeaderFlag('  X-Key :  v a l  '), ['x-key', 'v a l']);
  t.same(parseHeaderFlag('x-empty:'), ['x-empty', '']);
  t.same(parseHeaderFlag('host: shop.example'), ['host', 'shop.example'], 'Host may be given: the target may route by it');
  t.throws(() => parseHeaderFlag('bad name: v'), /--header must be "name: value"/);
  t.throws(() => parseHeaderFlag('x: a\r\nInjected: 1'), /a character a header may not carry/);
  for (const framing of ['Content-Length: 1', 'transfer-encoding: chunked', 'Connection: close', 'expect: 100-continue']) {
    t.throws(() => parseHeaderFlag(framing), /cannot be given/, framing);
  }
});

t.test('progress: a bar on a terminal, plain lines elsewhere', async (t) => {
  let plain = '';
  const off = createProgress({ write: (s: string) => (plain += s), isTTY: false }, 100);
  off.update(50, { sent: 1, mismatches: 0, errors: 0 });
  off.log('f:1: not JSON');
  off.stop();
  t.equal(plain, 'f:1: not JSON\n', 'no bar, no escape codes off a terminal');
  let drawn = '';
  const tty = { write: (s: string) => (drawn += s), isTTY: true, columns: 120, cursorTo: () => true, moveCursor: () => true, clearLine: () => true, clearScreenDown: () => true };
  const on = createProgress(tty, 100);
  on.update(100, { sent: 7, mismatches: 2, errors: 1 });
  on.log('f:2: not JSON');
  on.stop();
  t.match(drawn, /replay \[.*\] 100% \| 7 sent \| 2 mismatches \| 1 errors/);
  t.match(drawn, /f:2: not JSON/);
});
