// The fleet's divergence record on PostgreSQL (DESIGN §11). Every umbra instance
// writes its divergence samples and its route summaries there, so the admin API
// can answer for the whole fleet. All of it happens off the live path: a sample
// is queued (bounded by store.maxQueued and by the shared memory budget) and a
// background loop writes batches with multi-row INSERTs. A store that is down
// or slow costs records, never live traffic: what cannot be queued is dropped,
// a batch that fails is dropped, both counted; the loop retries with backoff.
import pg from 'pg';
import type { ByteBudget } from '../compare/index.js';
import { writeJson } from '../compare/index.js';
import type { StoreConfig } from '../config/types.js';
import type { DivergenceSample, RouteView } from './divergences.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { Counts, countsJson, fromSparse, MAX_WINDOW_MS, SCALAR_COUNTS, type CountsJson, type RouteMinute, type ScalarCounts } from './counts.js';
import { migrate, SCHEMA_LOCK } from './store-schema.js';

/** How often and how much the background loop does; the defaults suit production, tests shorten them. */
export interface StoreTiming {
  /** ms between flushes of the queue (a full batch is flushed at once). */
  readonly flushMs: number;
  /** Records per INSERT. */
  readonly batchSize: number;
  /** ms between upserts of this instance's route summaries. */
  readonly summaryMs: number;
  /** ms between retention passes. */
  readonly retentionMs: number;
  /** Rows per retention DELETE, and at most this many DELETEs a pass. */
  readonly retentionBatch: number;
  readonly retentionBatches: number;
  /** ms between two warn lines about the store (the counts in between are summed on the next one). */
  readonly warnEveryMs: number;
  /** ms to get a connection; ms a statement may run on the server; ms the admin API waits for an answer. */
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly apiTimeoutMs: number;
  /** Backoff after a failure: doubles from min to max. */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** ms close() spends writing what is still queued. */
  readonly closeMs: number;
}

export const DEFAULT_STORE_TIMING: StoreTiming = {
  flushMs: 500,
  batchSize: 200,
  summaryMs: 5_000,
  retentionMs: 60_000,
  retentionBatch: 5_000,
  retentionBatches: 20,
  warnEveryMs: 10_000,
  connectTimeoutMs: 2_000,
  statementTimeoutMs: 5_000,
  apiTimeoutMs: 2_500,
  backoffMinMs: 500,
  backoffMaxMs: 10_000,
  closeMs: 1_000,
};

/** A route as the mirror reports it: its RouteView, with the maps as read back from the database (any key). */
export type RouteSummary = Readonly<Omit<RouteView, 'dropped' | 'errorsBy' | 'skippedBy'>> & {
  readonly dropped: Readonly<Record<string, number>>;
  readonly errorsBy: Readonly<Record<string, number>>;
  readonly skippedBy: Readonly<Record<string, number>>;
};

/** One route summed over the fleet's instances. */
export interface FleetRoute extends ScalarCounts {
  service: string;
  name: string;
  sample: number;
  instances: number;
  skippedBy: Record<string, number>;
  errorsBy: Record<string, number>;
  dropped: Record<string, number>;
  topFields: { field: string; count: number }[];
  noisy: string[];
}

export interface DivergenceQuery {
  readonly route: string | null;
  readonly field: string | null;
  readonly since: Date | null;
  readonly service: string | null;
  readonly instance: string | null;
  readonly limit: number;
}

export interface FleetStoreDeps {
  readonly config: StoreConfig;
  readonly service: string;
  readonly instance: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The shared memory budget (DESIGN §2.8): queued records count against it. */
  readonly budget: ByteBudget;
  /** This instance's routes now (the mirror's views; empty without a dark backend). */
  readonly routes: () => readonly RouteSummary[];
  /** This instance's per-minute route counts from the minute of `after` (ms) on, for windows (since=). */
  readonly minutes?: (after: number) => readonly RouteMinute[];
  readonly timing?: Partial<StoreTiming>;
}

/** Bytes counted for a queued record besides its JSON text: the row's other parameters. */
const RECORD_OVERHEAD = 512;
/** Top fields kept per route row: as many as the field metric keeps, so fleet sums stay exact. */
const FIELDS_PER_ROW = 100;

interface Queued {
  readonly sample: DivergenceSample;
  readonly text: string;
  readonly bytes: number;
}

/** The URL with its password replaced by `***`: the only form of it any log line or error shows. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}

/** A message with every form of the URL's password (as written, decoded) replaced by `***`. */
export function scrubber(url: string): (message: string) => string {
  let secrets: string[] = [];
  try {
    const raw = new URL(url).password;
    secrets = [...new Set([raw, decodeURIComponent(raw)])].filter((s) => s !== '').sort((a, b) => b.length - a.length);
  } catch {
    /* an unparsable URL: nothing to look for but the URL itself */
  }
  return (message) => {
    let out = message.split(url).join(redactUrl(url));
    for (const s of secrets) out = out.split(s).join('***');
    return out;
  };
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

/** Parameters in one statement: PostgreSQL allows 65 535. */
const MAX_PARAMS = 10_000;

const SCALARS = SCALAR_COUNTS;
/** The counts a release verdict reads (verdict.ts judge): matches and noise are not among them. */
const VERDICT_SCALARS = ['mirrored', 'compared', 'mismatches', 'errors', 'serverErrors'] as const;

/** A minute sum as a route's counts (all zero when the instance had no minute in the window). */
function summaryOf(c: CountsJson | null): Omit<RouteSummary, 'name' | 'sample' | 'noisy'> {
  if (c === null) return { mirrored: 0, compared: 0, matches: 0, mismatches: 0, noise: 0, skipped: 0, skippedBy: {}, errors: 0, errorsBy: {}, dropped: {}, topFields: [] };
  const { fields, ...rest } = c;
  return {
    ...rest,
    topFields: Object.entries(fields)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, 10)
      .map(([field, count]) => ({ field, count })),
  };
}

export class FleetStore {
  readonly url: string;
  private readonly timing: StoreTiming;
  private readonly pool: pg.Pool;
  private readonly scrub: (message: string) => string;
  private readonly writes: Readonly<Record<'written' | 'dropped' | 'failed', { inc(n?: number): void }>>;
  private queue: Queued[] = [];
  private queuedBytes = 0;
  /** The batch whose INSERT is under way (null when none): close() counts it if it has not settled in time. */
  private writing: { readonly records: number; counted: boolean } | null = null;
  private schemaVersion = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private backoff = 0;
  private retryAt = 0;
  private nextSummary = 0;
  /** When the minute rows were last written: the minutes from then on are written again. */
  private minutesWritten = 0;
  private nextRetention = 0;
  /** For the rate-limited warn line: when the last went out, and what happened since. */
  private lastWarn = 0;
  private unwarned = { dropped: 0, failed: 0, errors: 0 };
  private lastError = '';
  private failing = false;

  constructor(private readonly deps: FleetStoreDeps) {
    this.timing = { ...DEFAULT_STORE_TIMING, ...deps.timing };
    this.url = redactUrl(deps.config.url);
    this.scrub = scrubber(deps.config.url);
    const t = this.timing;
    this.pool = new pg.Pool({
      connectionString: deps.config.url,
      // One connection for the background writer, one for the admin API's reads.
      max: 2,
      connectionTimeoutMillis: t.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: t.statementTimeoutMs,
      // Client side too: a server that stops answering (a cut network) ends the query.
      query_timeout: t.statementTimeoutMs + 1_000,
      keepAlive: true,
      application_name: `umbra ${deps.instance}`.slice(0, 63),
    });
    // An idle connection the server closed (restart, pg_terminate_backend) is an
    // 'error' on the pool: unhandled it would end the process.
    this.pool.on('error', (err) => this.failed(err));
    const c = deps.metrics.storeWrites;
    this.writes = { written: c.labels({ result: 'written' }), dropped: c.labels({ result: 'dropped' }), failed: c.labels({ result: 'failed' }) };
    // All three series from the start, so an alert sees the first drop as an increase from 0.
    for (const w of Object.values(this.writes)) w.inc(0);
  }

  /** Start the background loop: schema first, then writes. Never throws: a database that is not there is retried. */
  start(): void {
    this.schedule(0);
  }

  /** Records waiting, and the bytes they hold in the budget. */
  get queued(): { records: number; bytes: number } {
    return { records: this.queue.length, bytes: this.queuedBytes };
  }

  /** The schema version found or made at start; 0 until the database has answered. */
  get version(): number {
    return this.schemaVersion;
  }

  /** Queue one sample for writing, or drop and count it (queue full, budget full, closed). Cheap and never blocks. */
  enqueue(sample: DivergenceSample): void {
    if (this.closed || this.queue.length >= this.deps.config.maxQueued) return this.drop(1);
    const text = writeJson(sample);
    const bytes = text.length + RECORD_OVERHEAD;
    if (!this.deps.budget.tryReserve(bytes)) return this.drop(1);
    this.queue.push({ sample, text, bytes });
    this.queuedBytes += bytes;
    // A full batch is written now rather than at the next tick.
    if (this.queue.length === this.timing.batchSize && this.running === null && Date.now() >= this.retryAt) this.schedule(0);
  }

  private drop(n: number): void {
    this.writes.dropped.inc(n);
    this.unwarned.dropped += n;
    this.warnMaybe();
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running ??= this.tick().finally(() => {
        this.running = null;
        const wait = Math.max(this.timing.flushMs, this.retryAt - Date.now());
        if (this.timer === null) this.schedule(wait);
      });
    }, ms);
    this.timer.unref();
  }

  /** One round of the background loop: schema, queued records, summaries, retention. */
  private async tick(): Promise<void> {
    if (Date.now() < this.retryAt) return;
    try {
      if (this.schemaVersion === 0) await this.ensureSchema();
      // Bounded per round so a flood of records does not starve the summaries.
      for (let i = 0; i < 10 && this.queue.length > 0 && !this.closed; i++) await this.flushBatch();
      const now = Date.now();
      if (now >= this.nextSummary) {
        await this.writeSummaries();
        this.nextSummary = now + this.timing.summaryMs;
      }
      if (now >= this.nextRetention) {
        await this.deleteExpired();
        this.nextRetention = now + this.timing.retentionMs;
      }
      this.recovered();
    } catch (err) {
      this.failed(err);
      this.backoff = Math.min(this.timing.backoffMaxMs, Math.max(this.timing.backoffMinMs, this.backoff * 2));
      this.retryAt = Date.now() + this.backoff;
    }
  }

  /**
   * One connection for a transaction. A checked-out client whose connection
   * drops emits 'error' even after its query was rejected: without a listener
   * that would end the process. A client that failed is destroyed, not reused.
   */
  private async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const onError = (err: Error): void => this.failed(err);
    client.on('error', onError);
    let failure: Error | undefined;
    try {
      return await fn(client);
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(failure);
    }
  }

  private async ensureSchema(): Promise<void> {
    const { version, applied } = await this.withClient((client) => migrate(client));
    this.schemaVersion = version;
    this.deps.log.info({ store: this.url, schema: version, ...(applied.length > 0 ? { applied } : {}) }, 'store ready');
  }

  /** Write the oldest batch; on failure it is counted failed and dropped (never retried), and the error goes up. */
  private async flushBatch(): Promise<void> {
    const batch = this.queue.splice(0, this.timing.batchSize);
    const bytes = batch.reduce((n, q) => n + q.bytes, 0);
    this.queuedBytes -= bytes;
    const cols = 14;
    const values: unknown[] = [];
    const rows: string[] = [];
    for (const [i, { sample: s, text }] of batch.entries()) {
      rows.push(`(${Array.from({ length: cols }, (_, j) => `$${i * cols + j + 1}`).join(',')})`);
      values.push(s.service, s.instance, s.id, s.time, s.route, s.method, s.path, s.live.status, s.live.ms, s.dark.status, s.dark.ms, s.write, [...new Set(s.differences.map((d) => d.field))], text);
    }
    const writing = { records: batch.length, counted: false };
    this.writing = writing;
    try {
      await this.pool.query(
        `INSERT INTO umbra_divergences (service, instance, id, time, route, method, path, live_status, live_ms, dark_status, dark_ms, write, fields, record)
         VALUES ${rows.join(',')} ON CONFLICT DO NOTHING`,
        values,
      );
      if (!writing.counted) this.writes.written.inc(batch.length);
    } catch (err) {
      if (!writing.counted) {
        this.writes.failed.inc(batch.length);
        this.unwarned.failed += batch.length;
      }
      throw err;
    } finally {
      writing.counted = true;
      if (this.writing === writing) this.writing = null;
      this.deps.budget.release(bytes);
    }
  }

  /** Upsert this instance's route rows (cumulative counts since it started) and the minutes changed since the last time. */
  private async writeSummaries(): Promise<void> {
    const routes = this.deps.routes();
    if (routes.length === 0) return;
    const started = Date.now();
    const { service, instance } = this.deps;
    await this.upsert(
      'umbra_routes (service, instance, route, sample, mirrored, compared, matches, mismatches, noise, skipped, errors, dropped, top_fields, errors_by, skipped_by, noisy, updated_at)',
      routes.map((r) => [service, instance, r.name, r.sample, r.mirrored, r.compared, r.matches, r.mismatches, r.noise, r.skipped, r.errors, JSON.stringify(r.dropped), JSON.stringify(r.topFields.slice(0, FIELDS_PER_ROW)), JSON.stringify(r.errorsBy), JSON.stringify(r.skippedBy), JSON.stringify(r.noisy)]),
      `(service, instance, route) DO UPDATE SET sample = EXCLUDED.sample, mirrored = EXCLUDED.mirrored, compared = EXCLUDED.compared,
         matches = EXCLUDED.matches, mismatches = EXCLUDED.mismatches, noise = EXCLUDED.noise, skipped = EXCLUDED.skipped, errors = EXCLUDED.errors,
         dropped = EXCLUDED.dropped, top_fields = EXCLUDED.top_fields, errors_by = EXCLUDED.errors_by, skipped_by = EXCLUDED.skipped_by, noisy = EXCLUDED.noisy,
         updated_at = EXCLUDED.updated_at`,
      'now()',
    );
    const minutes = this.deps.minutes?.(this.minutesWritten) ?? [];
    await this.upsert(
      'umbra_route_minutes (service, instance, route, minute, counts)',
      minutes.map((m) => [service, instance, m.route, new Date(m.start), JSON.stringify(countsJson(m.counts))]),
      '(service, instance, route, minute) DO UPDATE SET counts = EXCLUDED.counts',
    );
    this.minutesWritten = started;
  }

  /** Multi-row INSERT ... ON CONFLICT, in statements of at most MAX_PARAMS parameters. */
  private async upsert(into: string, rows: readonly (readonly unknown[])[], onConflict: string, extra = ''): Promise<void> {
    if (rows.length === 0) return;
    const cols = rows[0]?.length ?? 1;
    const per = Math.max(1, Math.floor(MAX_PARAMS / cols));
    for (let at = 0; at < rows.length; at += per) {
      const chunk = rows.slice(at, at + per);
      const values = chunk.flat();
      const tuples = chunk.map((_, i) => `(${Array.from({ length: cols }, (_, j) => `$${i * cols + j + 1}`).join(',')}${extra === '' ? '' : `, ${extra}`})`);
      await this.pool.query(`INSERT INTO ${into} VALUES ${tuples.join(',')} ON CONFLICT ${onConflict}`, values);
    }
  }

  /**
   * Delete records (and route rows not updated) older than store.retention, in
   * bounded batches. One instance of the fleet does it at a time (a try-lock:
   * the others skip the pass rather than queue behind it).
   */
  private async deleteExpired(): Promise<void> {
    const before = new Date(Date.now() - this.deps.config.retention);
    await this.withClient(async (client) => {
      try {
        for (let i = 0; i < this.timing.retentionBatches; i++) {
          await client.query('BEGIN');
          const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS got', [SCHEMA_LOCK + 1]);
          if (rows[0]?.got !== true) {
            await client.query('COMMIT');
            return;
          }
          const r = await client.query(
            'DELETE FROM umbra_divergences WHERE ctid = ANY(ARRAY(SELECT ctid FROM umbra_divergences WHERE time < $1 LIMIT $2))',
            [before, this.timing.retentionBatch],
          );
          if (i === 0) {
            await client.query('DELETE FROM umbra_routes WHERE updated_at < $1', [before]);
            // Minutes are only read for windows, the longest of which is MAX_WINDOW_MS.
            await client.query('DELETE FROM umbra_route_minutes WHERE minute < $1', [new Date(Date.now() - Math.min(this.deps.config.retention, MAX_WINDOW_MS + 60_000))]);
          }
          await client.query('COMMIT');
          if ((r.rowCount ?? 0) < this.timing.retentionBatch) return;
        }
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** A failure: counted for the next warn line, which goes out at most every warnEveryMs. */
  private failed(err: unknown): void {
    this.lastError = this.scrub(err instanceof Error ? err.message || err.constructor.name : String(err));
    this.unwarned.errors++;
    this.failing = true;
    this.warnMaybe();
  }

  private warnMaybe(): void {
    const now = Date.now();
    if (now - this.lastWarn < this.timing.warnEveryMs) return;
    const { dropped, failed, errors } = this.unwarned;
    if (errors === 0 && dropped === 0 && failed === 0) return;
    this.lastWarn = now;
    this.unwarned = { dropped: 0, failed: 0, errors: 0 };
    this.deps.log.warn(
      { store: this.url, err: this.lastError || undefined, dropped, failed, errors, queued: this.queue.length, retryInMs: Math.max(0, this.retryAt - now) },
      errors > 0 ? 'store unavailable: divergence records are dropped until it answers' : 'store queue full: divergence records dropped',
    );
  }

  private recovered(): void {
    this.backoff = 0;
    this.retryAt = 0;
    if (!this.failing) return;
    this.failing = false;
    this.deps.log.info({ store: this.url }, 'store answering again');
  }

  /** A read for the admin API, with its own deadline; errors come back scrubbed of the password. */
  private async read<R extends object>(text: string, values: readonly unknown[]): Promise<R[]> {
    let timer: NodeJS.Timeout | undefined;
    const query = this.pool.query<R>({ text, values: [...values], query_timeout: this.timing.apiTimeoutMs } as pg.QueryConfig);
    query.catch(() => undefined);
    try {
      const r = await Promise.race([
        query,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timing.apiTimeoutMs} ms`)), this.timing.apiTimeoutMs);
        }),
      ]);
      return r.rows;
    } catch (err) {
      throw new Error(this.scrub(err instanceof Error ? err.message : String(err)));
    } finally {
      clearTimeout(timer);
    }
  }

  /** The fleet's divergence records, newest first, as JSON texts (exact numbers kept digit for digit). */
  async divergences(q: DivergenceQuery): Promise<string[]> {
    const rows = await this.read<{ record: string }>(
      `SELECT record::text AS record FROM umbra_divergences
       WHERE ($1::text IS NULL OR route = $1) AND ($2::text IS NULL OR fields @> ARRAY[$2::text])
         AND ($3::timestamptz IS NULL OR time >= $3) AND ($4::text IS NULL OR service = $4) AND ($5::text IS NULL OR instance = $5)
       ORDER BY time DESC, n DESC LIMIT $6`,
      [q.route, q.field, q.since, q.service, q.instance, q.limit],
    );
    return rows.map((r) => r.record);
  }

  /**
   * Every route of the fleet, summed over instances: since each instance
   * started, or over the minutes from `since`. This instance's own rows are
   * replaced by `local` (its counts now, not as of the last upsert).
   */
  async routes(local: readonly RouteSummary[], since: Date | null = null): Promise<FleetRoute[]> {
    const own = [this.deps.service, this.deps.instance];
    const rows = await this.read<Record<string, unknown>>(
      `SELECT service, instance, route, sample, mirrored, compared, matches, mismatches, noise, skipped, errors, dropped, top_fields, errors_by, skipped_by, noisy
       FROM umbra_routes WHERE NOT (service = $1 AND instance = $2)`,
      own,
    );
    const windowed = since === null ? null : await this.minuteSums(since);
    const all = [
      ...rows.map((r): RouteSummary & { service: string } => {
        const service = String(r['service']);
        const name = String(r['route']);
        const base = { service, name, sample: num(r['sample']), noisy: (r['noisy'] ?? []) as string[] };
        if (windowed !== null) return { ...base, ...summaryOf(windowed.get(`${service}\u0000${String(r['instance'])}\u0000${name}`) ?? null) };
        return {
          ...base,
          mirrored: num(r['mirrored']),
          compared: num(r['compared']),
          matches: num(r['matches']),
          mismatches: num(r['mismatches']),
          noise: num(r['noise']),
          skipped: num(r['skipped']),
          skippedBy: (r['skipped_by'] ?? {}) as Record<string, number>,
          errors: num(r['errors']),
          errorsBy: (r['errors_by'] ?? {}) as Record<string, number>,
          dropped: (r['dropped'] ?? {}) as Record<string, number>,
          topFields: (r['top_fields'] ?? []) as { field: string; count: number }[],
        };
      }),
      ...local.map((r) => ({ ...r, service: this.deps.service })),
    ];
    return sumRoutes(all);
  }

  /** The other instances' minute counts from `since` on, summed per (service, instance, route) by the database. */
  private async minuteSums(since: Date): Promise<Map<string, CountsJson>> {
    const from = new Date(since.getTime() - (since.getTime() % 60_000));
    const own = [this.deps.service, this.deps.instance, from];
    const [totals, entries] = await Promise.all([
      this.read<Record<string, unknown>>(
        `SELECT service, instance, route, ${SCALARS.map((k) => `sum((counts->>'${k}')::bigint) AS "${k}"`).join(', ')}
         FROM umbra_route_minutes WHERE minute >= $3 AND NOT (service = $1 AND instance = $2) GROUP BY service, instance, route`,
        own,
      ),
      this.read<{ service: string; instance: string; route: string; map: string; key: string; n: unknown }>(
        `SELECT service, instance, route, m.map, e.key, sum(e.value::bigint) AS n
         FROM umbra_route_minutes, LATERAL (VALUES ('dropped'), ('errorsBy'), ('skippedBy'), ('fields')) AS m(map), LATERAL jsonb_each_text(counts -> m.map) AS e
         WHERE minute >= $3 AND NOT (service = $1 AND instance = $2) GROUP BY service, instance, route, m.map, e.key`,
        own,
      ),
    ]);
    const out = new Map<string, CountsJson>();
    for (const r of totals) {
      const c: CountsJson = { mirrored: 0, compared: 0, matches: 0, mismatches: 0, noise: 0, skipped: 0, errors: 0, dropped: {}, errorsBy: {}, skippedBy: {}, fields: {} };
      for (const k of SCALARS) c[k] = num(r[k]);
      out.set(`${String(r['service'])}\u0000${String(r['instance'])}\u0000${String(r['route'])}`, c);
    }
    for (const e of entries) {
      const c = out.get(`${e.service}\u0000${e.instance}\u0000${e.route}`);
      if (c !== undefined) c[e.map as 'dropped' | 'errorsBy' | 'skippedBy' | 'fields'][e.key] = num(e.n);
    }
    return out;
  }

  /**
   * For the fleet's release verdict on one route: the other instances' minute
   * counts from `since` on, summed by the database (this instance's own come
   * from memory, which is newer than its last write). `instances` names them.
   */
  async verdictCounts(route: string, since: number): Promise<{ counts: Counts; instances: string[] }> {
    const from = new Date(since - (since % 60_000));
    const args = [this.deps.service, this.deps.instance, from, route];
    const where = `minute >= $3 AND service = $1 AND route = $4 AND instance <> $2`;
    const [totals, entries] = await Promise.all([
      this.read<Record<string, unknown>>(
        `SELECT array_agg(DISTINCT instance) AS instances, ${VERDICT_SCALARS.map((k) => `coalesce(sum((counts->>'${k}')::bigint), 0) AS "${k}"`).join(', ')}
         FROM umbra_route_minutes WHERE ${where}`,
        args,
      ),
      this.read<{ map: string; key: string; n: unknown }>(
        `SELECT m.map, e.key, sum(e.value::bigint) AS n
         FROM umbra_route_minutes, LATERAL (VALUES ('errorsBy'), ('live'), ('dark')) AS m(map), LATERAL jsonb_each_text(coalesce(counts -> m.map, '{}'::jsonb)) AS e
         WHERE ${where} GROUP BY m.map, e.key`,
        args,
      ),
    ]);
    const row = totals[0] ?? {};
    const c = new Counts(0);
    c.mirrored = num(row['mirrored']);
    c.compared = num(row['compared']);
    c.mismatches = num(row['mismatches']);
    c.errors = num(row['errors']);
    c.serverErrors = num(row['serverErrors']);
    const maps: Record<'errorsBy' | 'live' | 'dark', Record<string, number>> = { errorsBy: {}, live: {}, dark: {} };
    for (const e of entries) maps[e.map as keyof typeof maps][e.key] = num(e.n);
    Object.assign(c.errorsBy, maps.errorsBy);
    c.live = fromSparse(maps.live);
    c.dark = fromSparse(maps.dark);
    const instances = Array.isArray(row['instances']) ? (row['instances'] as unknown[]).map(String) : [];
    return { counts: c, instances };
  }

  /**
   * Stop the loop, write what is queued, drop and count the rest, close the
   * pool: all within closeMs (a hung database must not hold up shutdown).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const deadline = Date.now() + this.timing.closeMs;
    const last = (async (): Promise<void> => {
      await this.running;
      if (this.schemaVersion === 0) return;
      while (this.queue.length > 0 && Date.now() < deadline) await this.flushBatch();
      if (Date.now() < deadline) await this.writeSummaries();
    })().catch((err: unknown) => this.failed(err));
    await this.within(last, this.timing.closeMs);
    // A batch still being written when time ran out (a hung database) is counted failed now: its
    // INSERT ends at its own timeout, after shutdown, when nobody reads the counter any more.
    const hung = this.writing;
    if (hung !== null && !hung.counted) {
      hung.counted = true;
      this.writes.failed.inc(hung.records);
    }
    const left = this.queue.splice(0);
    if (left.length > 0) {
      const bytes = left.reduce((n, q) => n + q.bytes, 0);
      this.queuedBytes -= bytes;
      this.deps.budget.release(bytes);
      this.writes.dropped.inc(left.length);
    }
    // A query still hung ends at its own timeout; shutdown does not wait for it.
    await this.within(this.pool.end().catch(() => undefined), Math.max(100, deadline - Date.now()));
  }

  private async within(p: Promise<unknown>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}

/** Sum route rows by (service, route): counts added, maps by key added, top fields merged, noisy fields united. */
export function sumRoutes(rows: readonly (RouteSummary & { service: string })[]): FleetRoute[] {
  type Acc = FleetRoute & { fields: Map<string, number>; noisySet: Set<string> };
  const out = new Map<string, Acc>();
  const addMap = (to: Record<string, number>, from: Readonly<Record<string, number>>): void => {
    for (const [k, n] of Object.entries(from)) to[k] = (to[k] ?? 0) + n;
  };
  for (const r of rows) {
    const key = `${r.service}\u0000${r.name}`;
    let f = out.get(key);
    if (f === undefined) {
      f = { service: r.service, name: r.name, sample: r.sample, instances: 0, ...summaryOf(null), topFields: [], noisy: [], fields: new Map(), noisySet: new Set() };
      out.set(key, f);
    }
    f.instances++;
    f.sample = Math.max(f.sample, r.sample);
    for (const k of SCALARS) f[k] += r[k];
    addMap(f.dropped, r.dropped);
    addMap(f.errorsBy, r.errorsBy);
    addMap(f.skippedBy, r.skippedBy);
    for (const { field, count } of r.topFields) f.fields.set(field, (f.fields.get(field) ?? 0) + count);
    for (const n of r.noisy) f.noisySet.add(n);
  }
  return [...out.values()]
    .sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name))
    .map(({ fields, noisySet, ...f }) => ({
      ...f,
      topFields: [...fields.entries()]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, 10)
        .map(([field, count]) => ({ field, count })),
      noisy: [...noisySet].sort(),
    }));
}
