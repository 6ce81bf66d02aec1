// The request path's metric cells (observe/metrics.ts): counted in plain numbers
// and handed to prom-client when it collects, so what a scrape shows is what
// was counted, and repeated scrapes never count twice.
import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { CellHistogram, Metrics } from '../../src/observe/metrics.js';

const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

void t.test('counter cells: counted between scrapes, handed over once, the same cell for the same labels', async (t) => {
  const m = new Metrics({ defaultMetrics: false });
  const mirrored = m.decision('r', 'mirrored');
  t.equal(m.decision('r', 'mirrored'), mirrored, 'one cell per label set (reloads reuse it)');
  let text = await m.registry.metrics();
  t.equal(value(text, 'umbra_mirror_decisions_total{route="r",decision="mirrored"}'), undefined, 'no series before the first count');
  mirrored.inc();
  mirrored.inc();
  m.decision('r', 'not_sampled').inc(0);
  text = await m.registry.metrics();
  t.equal(value(text, 'umbra_mirror_decisions_total{route="r",decision="mirrored"}'), 2);
  t.equal(value(text, 'umbra_mirror_decisions_total{route="r",decision="not_sampled"}'), 0, 'inc(0) makes the series at 0');
  text = await m.registry.metrics();
  t.equal(value(text, 'umbra_mirror_decisions_total{route="r",decision="mirrored"}'), 2, 'a second scrape does not count again');
  mirrored.inc();
  // get() collects too: a reader of the metric object sees the count.
  const got = await m.decisions.get();
  t.equal(got.values.find((v) => v.labels.decision === 'mirrored')?.value, 3);
  const live = m.liveRoute('r');
  live.countRequest('GET', '200');
  live.countRequest('GET', '200');
  live.countRequest('BREW', '418');
  m.shadowRoute('r').comparisons.match.inc();
  text = await m.registry.metrics();
  t.equal(value(text, 'umbra_requests_total{route="r",method="GET",code="200"}'), 2);
  t.equal(value(text, 'umbra_requests_total{route="r",method="OTHER",code="418"}'), 1, 'methods outside the list are OTHER');
  t.equal(value(text, 'umbra_comparisons_total{route="r",result="match"}'), 1);
});

void t.test('gauge cells: the value at the scrape, both targets from the start', async (t) => {
  const m = new Metrics({ defaultMetrics: false });
  let text = await m.registry.metrics();
  t.equal(value(text, 'umbra_shadow_in_flight{target="dark"}'), 0);
  t.equal(value(text, 'umbra_shadow_in_flight{target="secondary"}'), 0);
  const dark = m.inFlight('dark');
  dark.inc();
  dark.inc();
  dark.dec();
  m.inFlight('secondary').inc();
  text = await m.registry.metrics();
  t.equal(value(text, 'umbra_shadow_in_flight{target="dark"}'), 1);
  t.equal(value(text, 'umbra_shadow_in_flight{target="secondary"}'), 1);
});

void t.test('the cell histogram exposes exactly what prom-client\'s Histogram does for the same observations', async (t) => {
  const bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const mine = new Registry();
  const theirs = new Registry();
  const cells = new CellHistogram('x_seconds', 'Help text.', ['route', 'target'], bounds, mine);
  const ref = new Histogram({ name: 'x_seconds', help: 'Help text.', labelNames: ['route', 'target'], buckets: bounds, registers: [theirs] });
  t.equal(await mine.metrics(), await theirs.metrics(), 'no series before the first observation');
  // Values on the bounds, between them, under the first and past the last.
  const seen = [0, 0.0005, 0.001, 0.0011, 0.003, 0.01, 0.7, 1, 2.5, 29.9, 30, 31, 1000];
  for (const [i, v] of seen.entries()) {
    const labels = { route: i % 3 === 0 ? 'a' : 'b', target: i % 2 === 0 ? 'live' : 'dark' };
    cells.cell(labels).observe(v);
    ref.observe(labels, v);
  }
  t.equal(await mine.metrics(), await theirs.metrics(), '/metrics text identical');
  // (prom-client adds an empty exemplar to each bucket; umbra has none.)
  const plain = async (r: Registry): Promise<unknown> => (await r.getMetricsAsJSON()).map((m) => (m.values as { labels: unknown; value: number; metricName?: string }[]).map(({ labels, value, metricName }) => ({ labels, value, metricName })));
  t.same(await plain(mine), await plain(theirs), 'JSON identical');
  cells.reset();
  ref.reset();
  t.match(await mine.metrics(), /^# TYPE x_seconds histogram$/m);
  t.notMatch(await mine.metrics(), /x_seconds_count/, 'reset: no series until the next observation');
});
