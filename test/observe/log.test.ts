// Log lines: exact numbers are written as numbers, digit for digit; nothing
// else a line holds is changed.
import t from 'tap';
import { Writable } from 'node:stream';
import { exactNumber } from '../../src/compare/index.js';
import { createLogger, loggable } from '../../src/observe/log.js';

function capture(): { lines: string[]; sink: Writable } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  return { lines, sink };
}

void t.test('an exact number reaches the line as a JSON number, digit for digit', async (t) => {
  const { lines, sink } = capture();
  const log = createLogger('info', [], sink);
  const differences = [{ field: '$.id', live: exactNumber('12345678901234567890123'), dark: exactNumber('-1.5e-400'), examples: [{ live: [exactNumber('99999999999999999999')] }] }];
  log.info({ differences: loggable(differences) }, 'divergence');
  await new Promise((r) => setImmediate(r));
  const line = lines[0] ?? '';
  t.match(line, /"differences":\[\{"field":"\$\.id","live":12345678901234567890123,"dark":-1\.5e-400,"examples":\[\{"live":\[99999999999999999999\]\}\]\}\]/);
  t.doesNotThrow(() => JSON.parse(line), 'a valid JSON line');
  t.notMatch(line, /umbra-exact-/, 'no placeholder left');
  t.end();
});

void t.test('a string that looks like a placeholder stays a string', async (t) => {
  const { lines, sink } = capture();
  const log = createLogger('info', [], sink);
  log.info({ a: 'umbra-exact-AAAAAAAAAAAAAAAA:12345', b: loggable({ c: 'plain', d: 5, e: null }) }, 'x');
  await new Promise((r) => setImmediate(r));
  t.match(lines[0], /"a":"umbra-exact-AAAAAAAAAAAAAAAA:12345","b":\{"c":"plain","d":5,"e":null\}/);
  t.end();
});
