// The ramp's decisions (mirror/ramp.ts) on a clock of its own: steps after a
// held pass, the hold restarting on anything but pass, pause or hold on fail,
// resume and stop. The ramp on real traffic is in ramp.test.ts.
import t from 'tap';
import { Ramp, sameRamp } from '../../src/mirror/ramp.js';
import { rampTick } from '../../src/mirror/mirror.js';

const STEPS = [0.01, 0.05, 0.25, 1];

t.test('moves up one step once the gate has passed for hold, to the last', (t) => {
  const r = new Ramp({ steps: STEPS, hold: 1000, onFail: 'pause' }, 0);
  t.equal(r.sample, 0.01, 'starts at its first step');
  t.equal(r.tick('pass', 0), null, 'the first pass starts the hold');
  t.equal(r.tick('pass', 999), null);
  t.same(r.tick('pass', 1000), { action: 'step', from: 0.01, to: 0.05, step: 1 });
  t.equal(r.status().passingSince, null, 'the next step holds from its own first pass');
  t.equal(r.tick('pass', 1500), null);
  t.equal(r.tick('inconclusive', 2000), null, 'inconclusive breaks the hold');
  t.equal(r.tick('pass', 2400), null);
  t.equal(r.tick('pass', 3300), null, 'only 900 ms since the hold restarted');
  t.same(r.tick('pass', 3400), { action: 'step', from: 0.05, to: 0.25, step: 2 });
  r.tick('pass', 3400);
  t.same(r.tick('pass', 4400), { action: 'step', from: 0.25, to: 1, step: 3 });
  t.ok(r.complete);
  t.equal(r.tick('pass', 99_999), null, 'nothing above the last step');
  const s = r.status();
  t.equal(s.step, 3);
  t.equal(s.phase, 'ramping');
  t.equal(s.verdict, 'pass');
  t.equal(s.stepSince, new Date(4400).toISOString());
  t.same(
    s.history.map((e) => [e.action, e.from, e.to, e.verdict]),
    [
      ['start', null, 0.01, null],
      ['step', 0.01, 0.05, 'pass'],
      ['step', 0.05, 0.25, 'pass'],
      ['step', 0.25, 1, 'pass'],
    ],
    'the history the page shows',
  );
  t.end();
});

t.test('onFail pause: a failing gate pauses; resume goes on from that step', (t) => {
  const r = new Ramp({ steps: STEPS, hold: 0, onFail: 'pause' }, 0);
  t.same(r.tick('pass', 1), { action: 'step', from: 0.01, to: 0.05, step: 1 }, 'hold 0: a pass moves at once');
  t.same(r.tick('fail', 2), { action: 'pause' });
  t.equal(r.phase, 'paused');
  t.equal(r.tick('pass', 3), null, 'a paused ramp does not move');
  r.resume(10);
  t.equal(r.phase, 'ramping');
  t.equal(r.sample, 0.05, 'back at the step it paused at');
  t.same(r.tick('pass', 11), { action: 'step', from: 0.05, to: 0.25, step: 2 });
  t.end();
});

t.test('onFail hold: stays, says so once per failing spell', (t) => {
  const r = new Ramp({ steps: STEPS, hold: 100, onFail: 'hold' }, 0);
  t.same(r.tick('fail', 1), { action: 'hold' });
  t.equal(r.tick('fail', 2), null, 'not again while it keeps failing');
  t.equal(r.phase, 'ramping');
  r.tick('pass', 3);
  t.same(r.tick('fail', 4), { action: 'hold' }, 'a new failing spell is announced');
  r.tick('pass', 10);
  t.same(r.tick('pass', 110), { action: 'step', from: 0.01, to: 0.05, step: 1 }, 'and it ramps on once the gate passes again');
  t.end();
});

t.test('stop: a person took the dial', (t) => {
  const r = new Ramp({ steps: STEPS, hold: 0, onFail: 'pause' }, 0);
  r.stop(0.5);
  t.equal(r.tick('pass', 1), null);
  t.equal(r.tick('fail', 2), null);
  r.resume(3);
  t.equal(r.phase, 'stopped', 'resume does not restart a stopped ramp');
  t.same(r.status().history.map((e) => [e.action, e.from, e.to]), [['start', null, 0.01], ['stop', 0.01, 0.5]]);
  for (let i = 0; i < 30; i++) r.note('hold', 0.5, 0.5, 'fail');
  t.equal(r.status().history.length, 20, 'the history is bounded');
  t.end();
});

t.test('sameRamp and the tick period', (t) => {
  const a = { steps: [0.1, 1], hold: 5, onFail: 'pause' as const };
  t.ok(sameRamp(a, { ...a, steps: [0.1, 1] }));
  t.notOk(sameRamp(a, { ...a, steps: [0.2, 1] }));
  t.notOk(sameRamp(a, { ...a, hold: 6 }));
  t.notOk(sameRamp(a, { ...a, onFail: 'hold' }));
  t.notOk(sameRamp(a, null));
  t.ok(sameRamp(null, null));
  t.equal(rampTick([15 * 60_000]), 5000, 'long holds: every 5 s');
  t.equal(rampTick([400, 60_000]), 100, 'a quarter of the shortest hold');
  t.equal(rampTick([0]), 25, 'never faster than every 25 ms');
  t.end();
});
