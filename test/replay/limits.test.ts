// The replay's bounds wait rather than drop: slots hand over in order, the pacer spaces starts.
import t from 'tap';
import { Pacer, Slots } from '../../src/replay/limits.js';

t.test('slots: at most max held, waiters served in arrival order', async (t) => {
  const slots = new Slots(2);
  await slots.acquire();
  await slots.acquire();
  const order: number[] = [];
  const a = slots.acquire().then(() => order.push(1));
  const b = slots.acquire().then(() => order.push(2));
  await Promise.resolve();
  t.same(order, [], 'both wait');
  t.equal(slots.current, 2);
  slots.release();
  await a;
  t.same(order, [1]);
  slots.release();
  await b;
  t.same(order, [1, 2]);
  slots.release();
  slots.release();
  t.equal(slots.current, 0);
});

/** A clock that only moves when the pacer sleeps. */
function fakeClock(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[]; advance: (ms: number) => void } {
  let t = 1000;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    slept,
    advance: (ms) => (t += ms),
  };
}

t.test('pacer: n starts at rps take (n - 1) / rps seconds, with no burst', async (t) => {
  const c = fakeClock();
  const p = new Pacer(4, c.now, c.sleep);
  const start = c.now();
  const at: number[] = [];
  for (let i = 0; i < 5; i++) {
    await p.wait();
    at.push(c.now() - start);
  }
  t.same(at, [0, 250, 500, 750, 1000]);
});

t.test('pacer: an idle spell is not made up for with a burst', async (t) => {
  const c = fakeClock();
  const p = new Pacer(10, c.now, c.sleep);
  await p.wait();
  c.advance(5000);
  await p.wait();
  const before = c.now();
  await p.wait();
  t.equal(c.now() - before, 100, 'the start after the pause still waits its 100 ms');
});

t.test('pacer: 0 = no cap, and fractions of a request per second work', async (t) => {
  const c = fakeClock();
  const none = new Pacer(0, c.now, c.sleep);
  for (let i = 0; i < 100; i++) await none.wait();
  t.same(c.slept, []);
  const slow = new Pacer(0.5, c.now, c.sleep);
  await slow.wait();
  await slow.wait();
  t.same(c.slept, [2000]);
});
