// The capture hook and the hook composite with plain fakes: who decides, what
// is counted, and that nothing is allocated for a hook that is absent.
import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { MemoryBudget } from '../../src/compare/index.js';
import { CaptureHook } from '../../src/mirror/capture.js';
import { combineHooks, type LiveObserver, type ShadowHook } from '../../src/mirror/hook.js';
import type { CaptureDrop, CaptureInput, CaptureWriter, HeldBytes } from '../../src/observe/capture.js';
import type { CompiledRoute } from '../../src/http/routes.js';
import type { RouteConfig } from '../../src/config/types.js';

const route = (name: string, index: number): CompiledRoute => ({ name, index, config: { name, match: null } });
const req = (headers: Record<string, string> = {}): IncomingMessage =>
  ({ method: 'POST', url: '/x?y=1', headers, rawHeaders: Object.entries(headers).flat() }) as unknown as IncomingMessage;

function fakeWriter(): { writer: CaptureWriter; drops: CaptureDrop[]; records: CaptureInput[]; helds: HeldBytes[] } {
  const drops: CaptureDrop[] = [];
  const records: CaptureInput[] = [];
  const helds: HeldBytes[] = [];
  const writer = {
    drop: (r: CaptureDrop) => void drops.push(r),
    submit: (rec: CaptureInput, held: HeldBytes) => {
      records.push(rec);
      helds.push(held);
    },
  } as unknown as CaptureWriter;
  return { writer, drops, records, helds };
}

const routes = [{ name: 'a' }, { name: 'default' }] as unknown as RouteConfig[];
const config = (over: object = {}) => ({ dir: '/tmp', sample: 1, routes: null, maxBodyBytes: 100, maxFileBytes: 1024, maxTotalBytes: 1024, gzip: false, ...over });

void t.test('CaptureHook: routes and sample decide; bodies are copied, counted and handed over owned', async (t) => {
  const budget = new MemoryBudget(10_000);
  const { writer, records, helds } = fakeWriter();
  const hook = new CaptureHook(config({ routes: ['a'] }), routes, writer, budget);
  t.equal(hook.begin(req(), route('default', 1)), null, 'a route not listed');
  t.equal(new CaptureHook(config({ sample: 0 }), routes, writer, budget).begin(req(), route('a', 0)), null, 'sample 0');
  const o = hook.begin(req({ 'content-type': 'text/plain' }), route('a', 0)) as LiveObserver;
  t.ok(o, 'observed');
  o.requestChunk(Buffer.from('he'));
  o.requestChunk(Buffer.from('llo'));
  o.requestEnd();
  o.responseStart(200, { 'x-a': '1' }, ['X-A', '1']);
  o.responseChunk(Buffer.from('ok'));
  o.responseEnd(3);
  t.equal(records.length, 1);
  const r = records[0] as CaptureInput;
  t.equal(Buffer.from(r.requestBody).toString(), 'hello');
  t.equal(Buffer.from(r.liveBody).toString(), 'ok');
  t.equal(r.liveBody.byteLength, r.liveBody.buffer.byteLength, 'a buffer of its own (moved to the worker)');
  t.same(r.liveHeaders, ['X-A', '1']);
  t.equal(budget.bytes, 7, 'the bytes stay counted until the writer lets go');
  helds[0]?.releaseAll();
  t.equal(budget.bytes, 0);
});

void t.test('CaptureHook: over maxBodyBytes or the budget: dropped and counted, nothing held; a live failure records nothing', async (t) => {
  const budget = new MemoryBudget(10_000);
  const { writer, drops, records } = fakeWriter();
  const hook = new CaptureHook(config(), routes, writer, budget);
  t.equal(hook.begin(req({ 'content-length': '101' }), route('a', 0)), null, 'declared over the cap');
  const up = hook.begin(req(), route('a', 0)) as LiveObserver;
  up.requestChunk(Buffer.alloc(60));
  up.requestChunk(Buffer.alloc(60));
  t.equal(budget.bytes, 0, 'let go at once');
  const down = hook.begin(req(), route('a', 0)) as LiveObserver;
  down.responseStart(200, { 'content-length': '500' }, []);
  const failed = hook.begin(req(), route('a', 0)) as LiveObserver;
  failed.requestChunk(Buffer.alloc(10));
  failed.failed('reset');
  t.same(drops, ['too_large', 'too_large', 'too_large'], 'three counted');
  t.equal(budget.bytes, 0);
  t.equal(records.length, 0);
  const full = new MemoryBudget(0);
  t.equal(new CaptureHook(config(), routes, writer, full).begin(req(), route('a', 0)), null, 'no room');
  t.equal(drops.at(-1), 'over_memory');
});

void t.test('combineHooks: one hook is itself; two fan out only when both want the exchange', async (t) => {
  const calls: string[] = [];
  const observer = (name: string): LiveObserver => ({
    requestChunk: () => void calls.push(`${name}.requestChunk`),
    requestEnd: () => void calls.push(`${name}.requestEnd`),
    responseStart: () => void calls.push(`${name}.responseStart`),
    responseChunk: () => void calls.push(`${name}.responseChunk`),
    responseEnd: () => void calls.push(`${name}.responseEnd`),
    failed: () => void calls.push(`${name}.failed`),
  });
  const hook = (name: string, wants: () => boolean): ShadowHook => ({ begin: () => (wants() ? observer(name) : null) });
  let a = true;
  let b = true;
  const ha = hook('a', () => a);
  const hb = hook('b', () => b);
  t.equal(combineHooks(null, null), null);
  t.equal(combineHooks(ha, null), ha, 'no composite for one hook');
  t.equal(combineHooks(null, hb), hb);
  const both = combineHooks(ha, hb) as ShadowHook;
  const o = both.begin(req(), route('a', 0)) as LiveObserver;
  o.requestChunk(Buffer.alloc(1));
  o.responseStart(200, {}, []);
  o.responseEnd(1);
  t.same(calls, ['a.requestChunk', 'b.requestChunk', 'a.responseStart', 'b.responseStart', 'a.responseEnd', 'b.responseEnd']);
  a = false;
  calls.length = 0;
  (both.begin(req(), route('a', 0)) as LiveObserver).failed('reset');
  t.same(calls, ['b.failed'], 'only the hook that wanted it');
  b = false;
  t.equal(both.begin(req(), route('a', 0)), null, 'neither');
});
