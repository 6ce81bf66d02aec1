// gate, ramp, owner and expires (DESIGN §4, §12): defaults, a route over the
// top level, and each bad value reported with its key path and line.
import t from 'tap';
import { ConfigError } from '../../src/errors.js';
import { parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

const BASE = 'live: { url: "http://127.0.0.1:3000" }\ndark: { url: "http://127.0.0.1:3001" }\n';
const load = (text: string): Config => parseConfigText(BASE + text, 'c.yaml', {}, { containerLimit: null });
function problems(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return [];
}

t.test('defaults: DESIGN §12', (t) => {
  const c = load('');
  t.strictSame(c.gate, { window: 900_000, minComparisons: 200, maxMismatchRate: 0.001, maxErrorRate: 0.01, maxLatencyRatio: 1.25, latencyFloor: 25 });
  t.equal(c.ramp, null);
  const d = c.routes.at(-1);
  t.strictSame(d?.gate, c.gate);
  t.equal(d?.ramp, null);
  t.equal(d?.owner, '');
  t.equal(d?.expires, null);
  t.end();
});

t.test('a route overrides gate keys one by one, and the ramp; owner and expires are its own', (t) => {
  const c = load(`gate: { window: 30m, minComparisons: 500, latencyFloor: 50ms }
ramp: { steps: [0.01, 0.1, 1.0], hold: 10m }
routes:
  - name: get-user
    match: { path: /users/:id }
    owner: team-accounts
    expires: 2027-01-31
    gate: { maxMismatchRate: 0.01 }
    ramp: { onFail: hold }
  - name: search
    match: { prefix: /search }
    ramp: false
  - name: orders
    match: { prefix: /orders }
    ramp: { steps: [0.5, 1], hold: 0 }
`);
  const [user, search, orders, def] = c.routes;
  t.strictSame(user?.gate, { window: 1_800_000, minComparisons: 500, maxMismatchRate: 0.01, maxErrorRate: 0.01, maxLatencyRatio: 1.25, latencyFloor: 50 });
  t.strictSame(user?.ramp, { steps: [0.01, 0.1, 1], hold: 600_000, onFail: 'hold' }, 'steps and hold inherited, onFail its own');
  t.equal(user?.owner, 'team-accounts');
  t.equal(user?.expires, '2027-01-31', 'a date, kept as written (not a YAML timestamp)');
  t.equal(search?.ramp, null, 'ramp: false turns the inherited ramp off');
  t.strictSame(orders?.ramp, { steps: [0.5, 1], hold: 0, onFail: 'pause' });
  t.strictSame(def?.ramp, c.ramp, 'the default route has the top-level ramp');
  t.strictSame(def?.gate, c.gate);
  t.end();
});

t.test('bad values: each reported with its path and line', (t) => {
  t.strictSame(problems('gate: { window: 90s }\n'), ['c.yaml:3: gate.window: expected whole minutes from 1m to 6h (route counts are kept minute by minute for 6 hours)']);
  t.strictSame(problems('gate: { window: 7h }\n'), ['c.yaml:3: gate.window: expected whole minutes from 1m to 6h (route counts are kept minute by minute for 6 hours)']);
  t.strictSame(problems('gate: { maxMismatchRate: 2 }\n'), ['c.yaml:3: gate.maxMismatchRate: expected a fraction from 0 to 1 (0.001 = 0.1%)']);
  t.strictSame(problems('gate: { minComparisons: 0 }\n'), ['c.yaml:3: gate.minComparisons: expected a whole number >= 1']);
  t.strictSame(problems('gate: { maxLatencyRatio: 0.5 }\n'), ['c.yaml:3: gate.maxLatencyRatio: expected a number >= 1 (1.25 = dark p99 may be 25% above live p99)']);
  t.strictSame(problems('gate: { maxMismatch: 0.1 }\n'), ['c.yaml:3: gate.maxMismatch: unknown key "maxMismatch", did you mean "maxMismatchRate"?']);
  t.strictSame(problems('ramp: { hold: 1m }\n'), ['c.yaml:3: ramp.steps: required: the sample fractions to move through, like [0.01, 0.05, 0.25, 1.0]']);
  t.strictSame(problems('ramp:\n  steps: [0.1, 0.05]\n'), ['c.yaml:4: ramp.steps[1]: steps must go up: each above the one before']);
  t.strictSame(problems('ramp:\n  steps: [0, 1]\n'), ['c.yaml:4: ramp.steps[0]: expected a sample fraction above 0 and at most 1']);
  t.strictSame(problems('ramp:\n  steps: []\n'), ['c.yaml:4: ramp.steps: expected at least one step, like [0.01, 0.05, 0.25, 1.0]']);
  t.strictSame(problems('ramp: { steps: [1], onFail: stop }\n'), ["c.yaml:3: ramp.onFail: expected pause (stop the route's mirroring) or hold (stay at the step)"]);
  const route = (extra: string): string => `routes:\n  - name: r\n    match: { prefix: /r }\n    ${extra}\n`;
  t.strictSame(problems(route('expires: 2027-02-30')), ['c.yaml:6: routes[0].expires: expected a date as YYYY-MM-DD, like 2027-01-31']);
  t.strictSame(problems(route('expires: next week')), ['c.yaml:6: routes[0].expires: expected a date as YYYY-MM-DD, like 2027-01-31']);
  t.strictSame(problems(route('ownr: me')), ['c.yaml:6: routes[0].ownr: unknown key "ownr", did you mean "owner"?']);
  t.strictSame(problems(route('gate: { window: 0 }')), ['c.yaml:6: routes[0].gate.window: must be more than 0']);
  t.end();
});
