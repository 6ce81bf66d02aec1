// The divergence store: a route's newest samples, and each field's newest ones,
// so a field that diverges rarely keeps its examples beside a frequent one.
import t from 'tap';
import type { Difference } from '../../src/compare/index.js';
import { DivergenceStore, SAMPLES_PER_FIELD, type DivergenceSample } from '../../src/observe/divergences.js';
import { MAX_FIELDS_PER_ROUTE } from '../../src/observe/metrics.js';

let clock = Date.parse('2030-01-01T00:00:00Z');

function sample(store: DivergenceStore, route: string, fields: readonly string[]): DivergenceSample {
  const differences: Difference[] = fields.map((field) => ({ part: 'body', field, kind: 'changed', live: 1, dark: 2 }));
  const s: DivergenceSample = {
    id: store.nextId(),
    service: 'shop',
    instance: 'pod-1',
    time: new Date(clock++).toISOString(),
    route,
    method: 'GET',
    path: '/x',
    live: { status: 200, ms: 1 },
    dark: { status: 200, ms: 1 },
    differences,
    write: false,
    replay: '',
  };
  store.add(s);
  return s;
}

const ids = (list: readonly DivergenceSample[]): string[] => list.map((s) => s.id);

void t.test('a frequent field does not crowd out a rare field\'s examples', (t) => {
  const store = new DivergenceStore(5);
  const rare = [sample(store, 'r', ['$.rare']), sample(store, 'r', ['$.rare', '$.price'])];
  for (let i = 0; i < 1000; i++) sample(store, 'r', ['$.price']);
  const all = store.list('r', 500);
  t.equal(all.length, 5 + 2, "the route's 5 newest (all $.price) and the rare field's 2");
  t.strictSame(ids(store.list('r', 500, '$.rare')), ids(rare.reverse()), '?field= gives the rare field\'s examples, newest first');
  t.equal(store.list('r', 500, '$.price').length, 6, 'the frequent field: the route ring, and the older sample kept for $.rare');
  t.strictSame(ids(all.slice(0, 5)), ids(store.list('r', 5)), 'newest first: the newest of the route come first');
  t.end();
});

void t.test('each field keeps its newest SAMPLES_PER_FIELD samples', (t) => {
  const store = new DivergenceStore(1);
  const a = Array.from({ length: 5 }, () => sample(store, 'r', ['$.a']));
  sample(store, 'r', ['$.b']);
  t.strictSame(ids(store.list('r', 100, '$.a')), ids(a.slice(-SAMPLES_PER_FIELD).reverse()));
  t.equal(store.list('r', 100).length, SAMPLES_PER_FIELD + 1);
  t.end();
});

void t.test('memory is bounded: perRoute + MAX_FIELDS_PER_ROUTE × SAMPLES_PER_FIELD samples a route', (t) => {
  const store = new DivergenceStore(50);
  for (let i = 0; i < 5000; i++) sample(store, 'r', [`$.f${i % 400}`, `$.g${i % 7}`]);
  const kept = store.list('r', 1_000_000);
  const bound = 50 + MAX_FIELDS_PER_ROUTE * SAMPLES_PER_FIELD;
  t.ok(kept.length <= bound, `${kept.length} kept, bound ${bound}`);
  t.ok(kept.length > 50, 'more than the route ring alone');
  t.equal(new Set(ids(kept)).size, kept.length, 'a sample kept by several rings is listed once');
  t.equal(store.list('r', 100, '$.f0').length, 0, 'a field that diverged longest ago gave its ring to a newer one');
  t.equal(store.list('r', 100, '$.f199').length, 1, 'a field that diverged lately keeps its newest (its ring was given away between two rounds)');
  t.end();
});

void t.test('routes, limits and a capacity change on reload', (t) => {
  const store = new DivergenceStore(10);
  for (let i = 0; i < 10; i++) sample(store, 'a', ['$.x']);
  const b = sample(store, 'b', ['$.x']);
  t.equal(store.list(null, 100).length, 11);
  t.strictSame(ids(store.list(null, 1)), [b.id], 'all routes, newest first');
  t.strictSame(ids(store.list(null, 100, '$.x')).length, 11);
  t.strictSame(store.list('nope', 10), []);
  t.strictSame(store.list('a', 100, '$.nope'), []);
  store.capacity = 2;
  t.equal(store.capacity, 2);
  t.equal(store.list('a', 100).length, SAMPLES_PER_FIELD, 'the route ring shrank to 2; the field ring keeps 3');
  t.end();
});

void t.test('samples in the same millisecond list newest first', (t) => {
  const store = new DivergenceStore(100);
  const now = clock;
  const made = Array.from({ length: 40 }, () => {
    clock = now;
    return sample(store, 'r', ['$.x']);
  });
  clock = now + 1;
  t.strictSame(ids(store.list('r', 100)), ids(made.reverse()));
  t.end();
});
