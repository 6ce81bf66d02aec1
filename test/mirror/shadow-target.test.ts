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

t.test('calls made in one turn are sent together after it; one paused before then never reaches dark', async (t) => {
  const seen: string[] = [];
  const dark = await startBackend((req, res: ServerResponse) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  let connections = 0;
  dark.server.on('connection', () => connections++);
  const target = new ShadowTarget({ url: dark.url, timeout: 2000, connections: 8 });
  const budget = new MemoryBudget(1024 * 1024);
  t.teardown(async () => {
    await target.close();
    await dark.close();
  });
  // A call made and paused in the same turn is never handed to undici: no connection is even opened.
  const early = new Promise<ShadowOutcome>((resolve) => target.send('b', { method: 'GET', url: '/early', headers: [], body: null }, CAP, budget, resolve));
  t.equal(target.abort('b'), 1);
  t.match(await early, { ok: false, reason: 'paused' }, 'paused before it was sent');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(connections, 0, 'dark never saw a connection for it');
  const outcomes: Promise<ShadowOutcome>[] = [];
  const order: string[] = [];
  for (const [route, path] of [['a', '/a1'], ['b', '/b1'], ['a', '/a2'], ['b', '/b2'], ['a', '/a3']] as const) {
    outcomes.push(
      new Promise((resolve) =>
        target.send(route, { method: 'GET', url: path, headers: [], body: null }, CAP, budget, (o) => {
          order.push(path);
          resolve(o);
        }),
      ),
    );
  }
  // Still in the same turn: route b's kill switch.
  t.equal(target.abort('b'), 2, "both of route b's calls were under way");
  t.same([...order].sort(), ['/b1', '/b2'], 'they ended at once');
  const results = await Promise.all(outcomes);
  t.match(results[1], { ok: false, reason: 'paused' }, '/b1: paused');
  t.match(results[3], { ok: false, reason: 'paused' }, '/b2: paused');
  for (const i of [0, 2, 4]) t.match(results[i], { ok: true, answer: { status: 200 } }, `call ${i}: answered`);
  t.ok(results.every((o) => { const ms = o.ok ? o.answer.ms : o.ms; return ms >= 0 && ms < 2000; }), 'each outcome is timed');
  // A later call: by its answer, anything of the paused ones would have arrived too.
  const after = await send(target, budget, '/after');
  t.match(after, { ok: true });
  t.same([...seen].sort(), ['/a1', '/a2', '/a3', '/after'], 'dark saw every call but the paused ones');
  t.ok(connections >= 1 && connections <= 4, `the sent ones came on at most 4 connections (${connections})`);
  for (const o of [...results, after]) if (o.ok) budget.release(o.answer.reserved);
  t.equal(budget.bytes, 0, 'the answers held only what they reserved');
});
