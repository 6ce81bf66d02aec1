// ShadowTarget against a real dark server: the calls umbra cuts itself (an answer
// declared over the cap, a body that grows past it, a dark that never answers)
// end with the right outcome, keep nothing, close the connection, and leave
// Error.stackTraceLimit as it was (the cut runs with stacks off, shadow.ts stop()).
import t from 'tap';
import type { ServerResponse } from 'node:http';
import { MemoryBudget } from '../../src/compare/budget.js';
import { ShadowTarget, type ShadowOutcome } from '../../src/mirror/shadow.js';
import { startBackend, until } from '../helpers/net.js';

const CAP = 1024;

function send(target: ShadowTarget, budget: MemoryBudget, path: string): Promise<ShadowOutcome> {
  return new Promise((resolve) => target.send('r', { method: 'GET', url: path, headers: [], body: null }, CAP, budget, resolve));
}

t.test('calls umbra cuts: over the cap, growing past it, out of time', async (t) => {
  const closed: string[] = [];
  const dark = await startBackend((req, res: ServerResponse) => {
    res.socket?.once('close', () => closed.push(req.url ?? ''));
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(CAP + 1) });
      res.end('x'.repeat(CAP + 1));
    } else if (req.url === '/grows') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('x'.repeat(CAP));
      setTimeout(() => res.writable && res.end('x'.repeat(CAP)), 20);
    } else if (req.url === '/ok') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    }
    // '/hang': never answers.
  });
  const target = new ShadowTarget({ url: dark.url, timeout: 300, connections: 4 });
  const budget = new MemoryBudget(1024 * 1024);
  t.teardown(async () => {
    await target.close();
    await dark.close();
  });
  const limit = Error.stackTraceLimit;
  // Every stack formatted from here on: undici's own abort error (UND_ERR_INFO) must come with none.
  const formatted: { code: unknown; frames: number }[] = [];
  const prepare = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
  Error.prepareStackTrace = (err: Error, frames: NodeJS.CallSite[]) => {
    formatted.push({ code: (err as { code?: unknown }).code, frames: frames.length });
    return `${err.name}: ${err.message}`;
  };
  t.teardown(() => {
    if (prepare === undefined) Reflect.deleteProperty(Error, 'prepareStackTrace');
    else Object.defineProperty(Error, 'prepareStackTrace', prepare);
  });

  const declared = await send(target, budget, '/declared');
  t.match(declared, { ok: true, answer: { truncated: true, status: 200, reserved: 0 } }, 'declared over the cap: an answer marked truncated');
  t.equal(declared.ok && declared.answer.body.length, 0, 'nothing of it kept');
  t.equal(Error.stackTraceLimit, limit, 'Error.stackTraceLimit restored after the cut');
  t.ok(formatted.some((x) => x.code === 'UND_ERR_INFO'), "undici's abort error was made and its stack read");
  t.same(formatted.filter((x) => x.code === 'UND_ERR_INFO' && x.frames > 0), [], 'with no frames captured');

  const grows = await send(target, budget, '/grows');
  t.match(grows, { ok: true, answer: { truncated: true, reserved: 0 } }, 'a body growing past the cap: truncated');
  t.equal(Error.stackTraceLimit, limit, 'restored again');

  const hang = await send(target, budget, '/hang');
  t.match(hang, { ok: false, reason: 'timeout' }, 'a dark that never answers: timeout');
  t.equal(Error.stackTraceLimit, limit, 'restored after a timeout');

  await until(() => ['/declared', '/grows', '/hang'].every((p) => closed.includes(p)), 5000);
  t.pass('each cut call closed its connection at the dark');
  t.equal(budget.bytes, 0, 'the budget is back to 0');

  // The target still works after the cuts, and a plain new Error still has a stack.
  const ok = await send(target, budget, '/ok');
  t.match(ok, { ok: true, answer: { truncated: false, status: 200 } }, 'a normal call after them');
  t.equal(ok.ok && ok.answer.body.toString(), '{"ok":true}', 'its body');
  t.ok(formatted.length > 0 && new Error('here').stack !== undefined && formatted.at(-1)!.frames > 0, 'stacks are captured again outside the cut');
});
