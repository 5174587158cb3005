import { createHash } from 'node:crypto';
import type pg from 'pg';

/** One schema change, applied once, in its own transaction, recorded in `schema_migrations`. */
export interface PostgresMigration {
  version: number;
  name: string;
  sql: string;
}

/** The schema of SCHEMA.md, in order. Append new migrations; never edit an applied one. */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE orgs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  plan TEXT NOT NULL,
  -- The YYYY-MM whose monthly credit allowance the org has received (CreditService).
  credits_period TEXT,
  created_at BIGINT NOT NULL
);

CREATE TABLE sites (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs (id),
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (org_id, name)
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  site_id TEXT,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  scopes JSONB NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at);

CREATE TABLE secrets (
  org_id TEXT NOT NULL,
  name TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, name)
);

CREATE TABLE workflows (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  slug TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  status TEXT NOT NULL,
  trigger_config JSONB NOT NULL,
  is_public BOOLEAN NOT NULL,
  credit_cost INTEGER NOT NULL,
  callback_url TEXT,
  metadata JSONB NOT NULL,
  version INTEGER NOT NULL,
  definition JSONB NOT NULL,
  generation JSONB,
  generation_lease_owner TEXT,
  generation_lease_expires_at BIGINT,
  generation_claims INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deleted_at BIGINT
);
CREATE UNIQUE INDEX workflows_org_slug_key ON workflows (org_id, slug) WHERE deleted_at IS NULL;
CREATE INDEX workflows_org_created_idx ON workflows (org_id, created_at) WHERE deleted_at IS NULL;
-- The generation claim: only workflows awaiting their steps are in it.
CREATE INDEX workflows_generating_idx ON workflows (updated_at, id)
  WHERE status = 'generating' AND deleted_at IS NULL;

CREATE TABLE workflow_versions (
  workflow_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  definition JSONB NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (workflow_id, version)
);

CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  site_id TEXT,
  workflow_id TEXT NOT NULL,
  workflow_version INTEGER NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('pending', 'running', 'completed', 'partial_complete', 'failed', 'cancelled')),
  input JSONB NOT NULL,
  output JSONB,
  error JSONB,
  step_index INTEGER NOT NULL,
  current_step INTEGER NOT NULL,
  total_steps INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  step_state JSONB,
  resume_payload JSONB,
  available_at BIGINT,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  wait_event_type TEXT,
  wait_match JSONB,
  wait_run_id TEXT,
  cancel_requested BOOLEAN NOT NULL DEFAULT false,
  has_failed_steps BOOLEAN NOT NULL DEFAULT false,
  idempotency_key TEXT,
  parent_run_id TEXT,
  "trigger" JSONB NOT NULL,
  credits_reserved BIGINT NOT NULL DEFAULT 0,
  credits_consumed BIGINT NOT NULL DEFAULT 0,
  deadline_at BIGINT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT,
  updated_at BIGINT NOT NULL
) WITH (fillfactor = 75);
-- A step checkpoint of a held run changes no indexed column, so with free room on the
-- page (fillfactor) it is a HOT update that touches none of the indexes below.
-- The claim query orders by available_at under exactly this predicate; finished runs leave the index.
CREATE INDEX runs_claim_idx ON runs (available_at)
  WHERE status IN ('pending', 'running') AND available_at IS NOT NULL;
CREATE UNIQUE INDEX runs_org_idempotency_key ON runs (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_org_workflow_created_idx ON runs (org_id, workflow_id, created_at, id);
CREATE INDEX runs_org_created_idx ON runs (org_id, created_at, id);
CREATE INDEX runs_org_wait_event_idx ON runs (org_id, wait_event_type) WHERE wait_event_type IS NOT NULL;
CREATE INDEX runs_lease_owner_idx ON runs (lease_owner) WHERE lease_owner IS NOT NULL;
-- Counts an org's unfinished runs for its plan's concurrency cap without reading its history.
CREATE INDEX runs_org_active_idx ON runs (org_id) WHERE status IN ('pending', 'running');

CREATE TABLE run_steps (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  step_index INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  tool TEXT NOT NULL,
  status TEXT NOT NULL,
  input JSONB NOT NULL,
  output JSONB,
  error JSONB,
  started_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL
);
CREATE INDEX run_steps_run_idx ON run_steps (run_id, step_index, attempt);

CREATE TABLE run_events (
  seq BIGSERIAL PRIMARY KEY,
  run_id TEXT NOT NULL,
  type TEXT NOT NULL,
  data JSONB NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX run_events_run_idx ON run_events (run_id, seq);

CREATE TABLE events (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  type TEXT NOT NULL,
  data JSONB NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX events_org_type_idx ON events (org_id, type, created_at);

CREATE TABLE schedules (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  origin TEXT NOT NULL CHECK (origin IN ('trigger', 'api')),
  kind TEXT NOT NULL CHECK (kind IN ('cron', 'once')),
  cron TEXT,
  timezone TEXT NOT NULL,
  run_at BIGINT,
  next_fire_at BIGINT,
  catch_up TEXT NOT NULL CHECK (catch_up IN ('latest', 'none', 'all')),
  overlap TEXT NOT NULL CHECK (overlap IN ('allow', 'skip', 'queue', 'cancel_previous')),
  input JSONB NOT NULL,
  status TEXT NOT NULL,
  status_reason TEXT,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
-- The claim and the next-due lookup both walk this index in next_fire_at order.
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE status = 'active';
CREATE INDEX schedules_org_created_idx ON schedules (org_id, created_at);
CREATE INDEX schedules_workflow_idx ON schedules (workflow_id);

CREATE TABLE schedule_firings (
  schedule_id TEXT NOT NULL,
  fire_at BIGINT NOT NULL,
  run_id TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (schedule_id, fire_at)
);

CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  url TEXT NOT NULL,
  event_type TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL,
  next_attempt_at BIGINT,
  lease_owner TEXT,
  last_status_code INTEGER,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
-- A claim pushes next_attempt_at past its lease, so a pending row is due again when its sender died.
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
-- One delivery per run and URL, however often the final commit is retried.
CREATE UNIQUE INDEX deliveries_run_url_idx ON deliveries (run_id, url);

CREATE TABLE delivery_attempts (
  id TEXT PRIMARY KEY,
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  at BIGINT NOT NULL
);
CREATE UNIQUE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, attempt);

CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  name TEXT NOT NULL,
  activity TEXT NOT NULL,
  status TEXT NOT NULL,
  context TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX instances_org_site_created_idx ON instances (org_id, site_id, created_at);

CREATE TABLE credit_ledger (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  run_id TEXT,
  kind TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'consume', 'release')),
  amount BIGINT NOT NULL,
  reason TEXT,
  created_at BIGINT NOT NULL
);
-- Covers the balance (SUM(amount) of an org) and the org's ledger listing.
CREATE INDEX credit_ledger_org_idx ON credit_ledger (org_id, created_at, amount);
CREATE UNIQUE INDEX credit_ledger_run_kind_key ON credit_ledger (run_id, kind) WHERE run_id IS NOT NULL;

-- Fixed one-minute rate-limit windows per key and kind of call; UPSERT … RETURNING counts atomically.
CREATE TABLE rate_limits (
  key TEXT NOT NULL,
  window_start BIGINT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (key, window_start)
);

-- Slots of per-workflow concurrency groups held by executing runs; a slot past expires_at
-- (its worker crashed) is free.
CREATE TABLE concurrency_slots (
  group_key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (group_key, run_id)
);
CREATE INDEX concurrency_slots_run ON concurrency_slots (run_id);

-- The marketplace: shipped templates and published workflows, as sanitized snapshots.
CREATE TABLE marketplace_listings (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('template', 'community')),
  source_org_id TEXT,
  source_workflow_id TEXT,
  slug TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  category TEXT NOT NULL,
  snapshot JSONB NOT NULL,
  install_count BIGINT NOT NULL,
  published_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  hidden BOOLEAN NOT NULL,
  position INTEGER NOT NULL
);
-- explore (most installed, then newest) and community (newest) read these in order.
CREATE INDEX marketplace_featured_idx ON marketplace_listings (install_count DESC, published_at DESC, position, id)
  WHERE NOT hidden;
CREATE INDEX marketplace_newest_idx ON marketplace_listings (published_at DESC, position, id) WHERE NOT hidden;
`,
  },
  {
    version: 2,
    name: 'lease epochs and step iterations',
    sql: `
ALTER TABLE runs ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN iteration INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN step_passes JSONB NOT NULL DEFAULT '{}';
ALTER TABLE run_steps ADD COLUMN iteration INTEGER NOT NULL DEFAULT 1;
`,
  },
  {
    version: 3,
    name: 'fair claims across orgs, run priority, bounded fan-out',
    sql: `
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
-- The fair claim walks it twice: distinct (org, priority) queues with a loose index scan,
-- then each queue's runs due now in available_at order.
CREATE INDEX runs_org_claim_idx ON runs (org_id, priority, available_at)
  WHERE status IN ('pending', 'running') AND available_at IS NOT NULL;
-- Counts the runs one run started (the fan-out cap) and finds descendants to cancel.
CREATE INDEX runs_parent_idx ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
`,
  },
];

/**
 * Identifies a migration set: equal hashes mean equal schemas, so a database migrated
 * by one can serve as a template for the other (see test/support/postgres.ts).
 */
export function postgresSchemaHash(migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): string {
  const hash = createHash('sha256');
  for (const migration of migrations) hash.update(`${migration.version}\n${migration.sql}\n`);
  return hash.digest('hex').slice(0, 16);
}

// Any constant works as long as every Stepwise process uses the same one.
const MIGRATION_LOCK_KEY = 0x5374_6570;

/**
 * Applies the missing migrations, each in its own transaction. Several processes may call
 * this at once: each transaction first takes a transaction-scoped advisory lock, so they
 * apply one after another and skip what another already applied.
 */
export async function migratePostgres(
  pool: pg.Pool,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<void> {
  // Fast path without locking: a database cloned from a migrated template has nothing to do.
  const applied = await appliedVersions(pool);
  const missing = migrations.filter((migration) => !applied.has(migration.version));
  if (missing.length === 0) return;

  const client = await pool.connect();
  // Checked out, a client's errors reach no pool listener: keep a dropped connection from
  // being an uncaught 'error'; the statement in flight fails on its own.
  const ignoreError = () => undefined;
  client.on('error', ignoreError);
  try {
    for (const migration of missing) {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
        );
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
          migration.version,
        ]);
        if (done.rowCount === 0) {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
            migration.version,
            Date.now(),
          ]);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    client.removeListener('error', ignoreError);
    client.release();
  }
}

async function appliedVersions(pool: pg.Pool): Promise<Set<number>> {
  const table = await pool.query<{ exists: boolean }>(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS exists",
  );
  if (!table.rows[0]?.exists) return new Set();
  const rows = await pool.query<{ version: number }>('SELECT version FROM schema_migrations');
  return new Set(rows.rows.map((row) => row.version));
}
