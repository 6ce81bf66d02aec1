// The store's schema (DESIGN §11), created or upgraded at start. Migrations are
// keyed by version and only ever added to: a migration once shipped is never
// edited, a later one changes what it made. All of them run in one transaction
// behind an advisory lock, so 30 pods starting together apply each migration
// once and the others wait, then find nothing left to do.

/** The minimal client a migration needs (pg's Client and PoolClient fit). */
export interface SqlClient {
  query<R extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/** pg_advisory_xact_lock key: any constant no other application on the database uses ("umbra" in ASCII). */
export const SCHEMA_LOCK = 0x756d627261;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE IF NOT EXISTS umbra_divergences (
  n           bigserial,
  service     text        NOT NULL,
  instance    text        NOT NULL,
  id          text        NOT NULL,
  time        timestamptz NOT NULL,
  route       text        NOT NULL,
  method      text        NOT NULL,
  path        text        NOT NULL,
  live_status integer     NOT NULL,
  live_ms     real        NOT NULL,
  dark_status integer     NOT NULL,
  dark_ms     real        NOT NULL,
  write       boolean     NOT NULL,
  fields      text[]      NOT NULL,
  record      json        NOT NULL,
  PRIMARY KEY (service, instance, id)
);
CREATE INDEX IF NOT EXISTS umbra_divergences_time ON umbra_divergences (time DESC, n DESC);
CREATE INDEX IF NOT EXISTS umbra_divergences_route_time ON umbra_divergences (route, time DESC);
CREATE INDEX IF NOT EXISTS umbra_divergences_fields ON umbra_divergences USING gin (fields);
CREATE TABLE IF NOT EXISTS umbra_routes (
  service     text        NOT NULL,
  instance    text        NOT NULL,
  route       text        NOT NULL,
  updated_at  timestamptz NOT NULL,
  sample      double precision NOT NULL,
  mirrored    bigint      NOT NULL,
  compared    bigint      NOT NULL,
  matches     bigint      NOT NULL,
  mismatches  bigint      NOT NULL,
  noise       bigint      NOT NULL,
  skipped     bigint      NOT NULL,
  errors      bigint      NOT NULL,
  dropped     jsonb       NOT NULL,
  top_fields  jsonb       NOT NULL,
  PRIMARY KEY (service, instance, route)
);
CREATE INDEX IF NOT EXISTS umbra_routes_updated ON umbra_routes (updated_at);
`,
  },
  {
    // Dark failures and skipped comparisons by reason, and learned noise, per
    // route row; per-minute counts for windows (since=). Minute rows live as
    // long as the longest window (6 h), whatever store.retention says.
    version: 2,
    sql: `
ALTER TABLE umbra_routes
  ADD COLUMN IF NOT EXISTS errors_by  jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN IF NOT EXISTS skipped_by jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN IF NOT EXISTS noisy      jsonb NOT NULL DEFAULT '[]';
CREATE TABLE IF NOT EXISTS umbra_route_minutes (
  service     text        NOT NULL,
  instance    text        NOT NULL,
  route       text        NOT NULL,
  minute      timestamptz NOT NULL,
  counts      jsonb       NOT NULL,
  PRIMARY KEY (service, instance, route, minute)
);
CREATE INDEX IF NOT EXISTS umbra_route_minutes_minute ON umbra_route_minutes (minute);
`,
  },
];

/** The schema version this umbra writes. */
export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

/**
 * Bring the schema up to the newest migration; returns the version in force
 * afterwards (higher than ours when a newer umbra has been there: it only adds).
 */
export async function migrate(client: SqlClient, migrations: readonly Migration[] = MIGRATIONS): Promise<{ version: number; applied: number[] }> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS umbra_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ v: number }>('SELECT coalesce(max(version), 0)::int AS v FROM umbra_schema');
    const current = rows[0]?.v ?? 0;
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO umbra_schema (version) VALUES ($1)', [m.version]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return { version: Math.max(current, ...applied), applied };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
