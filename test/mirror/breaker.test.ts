// The circuit breaker's rules, on a clock the test moves (mirror/breaker.ts). The
// breaker against real sockets is in breaker-e2e.test.ts.
import t from 'tap';
import { Breaker } from '../../src/mirror/breaker.js';
import type { ShadowOutcome } from '../../src/mirror/shadow.js';

const fail = (reason: 'connect' | 'reset' | 'protocol' | 'timeout' | 'too_large' | 'paused' | 'over_memory'): ShadowOutcome => ({ ok: false, reason, message: reason, ms: 1 });
const ok: ShadowOutcome = {
  ok: true,
  answer: { status: 500, headers: {}, body: Buffer.alloc(0), truncated: false, ms: 1, reserved: 0, owned: false, trailers: null },
};

function breaker(failures = 3, cooldown = 100, maxCooldown = 350): { b: Breaker; clock: { now: number } } {
  const clock = { now: 1000 };
  return { b: new Breaker({ failures, cooldown, maxCooldown }, () => clock.now), clock };
}

t.test('opens after `failures` connection failures in a row, and only then', async (t) => {
  const { b } = breaker();
  t.equal(b.record(fail('connect'), b.epoch), null);
  t.equal(b.record(fail('reset'), b.epoch), null);
  t.equal(b.state, 'closed', 'two in a row: still closed');
  t.ok(b.admit(100), 'a closed breaker admits');
  const change = b.record(fail('protocol'), b.epoch);
  t.same(change, { to: 'open', probe: false, failures: 3, cooldown: 100, reason: 'protocol' });
  t.equal(b.state, 'open');
  t.ok(b.blocked(), 'blocked while open');
  t.notOk(b.admit(100), 'nothing admitted while open');
});

t.test('an answer (any status) ends a run; timeouts and caps neither add to it nor end it', async (t) => {
  const { b } = breaker();
  b.record(fail('connect'), b.epoch);
  b.record(fail('connect'), b.epoch);
  b.record(ok, b.epoch);
  b.record(fail('connect'), b.epoch);
  b.record(fail('connect'), b.epoch);
  t.equal(b.state, 'closed', 'the answer in between reset the run');
  for (const r of ['timeout', 'too_large', 'paused', 'over_memory'] as const) b.record(fail(r), b.epoch);
  t.equal(b.state, 'closed', 'four non-connection failures did not open it');
  b.record(fail('reset'), b.epoch);
  t.equal(b.state, 'open', 'the run went on across them: the third connection failure opened it');
});

t.test('outcomes of requests sent before the breaker changed state do not count', async (t) => {
  const { b, clock } = breaker();
  const before = b.epoch;
  for (let i = 0; i < 3; i++) b.record(fail('connect'), before);
  t.equal(b.state, 'open');
  // Stragglers sent while it was closed fail later: ignored.
  t.equal(b.record(fail('connect'), before), null);
  t.equal(b.record(ok, before), null, 'a straggler that succeeds does not close it either');
  t.equal(b.state, 'open');
  clock.now += 100;
  t.ok(b.admit(100), 'the probe goes once the cooldown is over');
  t.equal(b.record(ok, before), null, 'an old success does not decide the probe');
  t.equal(b.state, 'probing');
});

t.test('one probe per cooldown; its success closes, its failure doubles the cooldown up to the max', async (t) => {
  const { b, clock } = breaker();
  for (let i = 0; i < 3; i++) b.record(fail('connect'), b.epoch);
  clock.now += 99;
  t.notOk(b.admit(100), 'not before the cooldown');
  t.ok(b.blocked());
  clock.now += 1;
  t.notOk(b.blocked(), 'the cooldown is over: the next request may be the probe');
  t.ok(b.admit(100), 'the probe');
  const probe = b.epoch;
  t.notOk(b.admit(100), 'a second request while the probe is out is refused');
  t.ok(b.blocked());
  t.same(b.record(fail('connect'), probe), { to: 'open', probe: true, failures: 1, cooldown: 200, reason: 'connect' });
  clock.now += 199;
  t.notOk(b.admit(100), 'the second cooldown is twice the first');
  clock.now += 1;
  t.ok(b.admit(100));
  t.same(b.record(fail('reset'), b.epoch), { to: 'open', probe: true, failures: 1, cooldown: 350, reason: 'reset' }, 'doubled, capped at maxCooldown');
  clock.now += 350;
  t.ok(b.admit(100));
  t.same(b.record(fail('timeout'), b.epoch), { to: 'open', probe: true, failures: 1, cooldown: 350, reason: 'timeout' }, 'a probe that times out failed too');
  clock.now += 350;
  t.ok(b.admit(100));
  t.same(b.record(ok, b.epoch), { to: 'closed' });
  t.equal(b.state, 'closed');
  t.ok(b.admit(100));
  // Closed again: the next opening starts from the first cooldown.
  for (let i = 0; i < 3; i++) b.record(fail('connect'), b.epoch);
  t.equal(b.state, 'open');
  clock.now += 100;
  t.ok(b.admit(100), 'the cooldown went back to 100 ms');
});

t.test('a probe that never comes back is given up after its time; one umbra cut itself does not count', async (t) => {
  const { b, clock } = breaker();
  for (let i = 0; i < 3; i++) b.record(fail('connect'), b.epoch);
  clock.now += 100;
  t.ok(b.admit(50), 'the probe, with 50 ms to come back');
  clock.now += 49;
  t.notOk(b.admit(50));
  clock.now += 1;
  t.ok(b.admit(50), 'given up: another probe goes');
  t.equal(b.record(fail('paused'), b.epoch), null, 'paused by umbra: says nothing of the backend');
  t.equal(b.state, 'open');
  t.ok(b.admit(50), 'and another probe may go at once');
  t.equal(b.record(fail('over_memory'), b.epoch), null);
  t.ok(b.admit(50));
});

t.test('failures: 0 never opens', async (t) => {
  const { b } = breaker(0);
  t.notOk(b.enabled);
  for (let i = 0; i < 100; i++) t.equal(b.record(fail('connect'), b.epoch), null);
  t.equal(b.state, 'closed');
  t.ok(b.admit(100));
  t.notOk(b.blocked());
});
