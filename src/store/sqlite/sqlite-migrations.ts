import type Database from 'better-sqlite3';

/**
 * The SQLite schema as numbered migrations: entry `i` is version `i + 1`. Never edit an
 * applied entry; append a new one. Tables and indexes follow `store/SCHEMA.md`.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    plan TEXT NOT NULL,
    -- The YYYY-MM whose monthly credit allowance the org has received (CreditService).
    credits_period TEXT,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
  );

  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    site_id TEXT,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at);

  CREATE TABLE secrets (
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, name)
  );

  CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    trigger_config TEXT NOT NULL,
    is_public INTEGER NOT NULL,
    credit_cost INTEGER NOT NULL,
    callback_url TEXT,
    metadata TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    generation TEXT,
    generation_lease_owner TEXT,
    generation_lease_expires_at INTEGER,
    generation_claims INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
  );
  -- Deleted workflows keep their row for history but free their slug.
  CREATE UNIQUE INDEX workflows_org_slug_idx ON workflows (org_id, slug) WHERE deleted_at IS NULL;
  CREATE INDEX workflows_org_created_idx ON workflows (org_id, created_at) WHERE deleted_at IS NULL;
  -- The generation claim: only workflows awaiting their steps are in it.
  CREATE INDEX workflows_generating_idx ON workflows (updated_at, id)
    WHERE status = 'generating' AND deleted_at IS NULL;

  CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, version)
  );

  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    site_id TEXT,
    workflow_id TEXT NOT NULL,
    workflow_version INTEGER NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    step_index INTEGER NOT NULL,
    current_step INTEGER NOT NULL,
    total_steps INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    step_state TEXT,
    resume_payload TEXT,
    available_at INTEGER,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    wait_event_type TEXT,
    wait_match TEXT,
    wait_run_id TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    has_failed_steps INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    parent_run_id TEXT,
    "trigger" TEXT NOT NULL,
    credits_reserved INTEGER NOT NULL,
    credits_consumed INTEGER NOT NULL,
    deadline_at INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    updated_at INTEGER NOT NULL
  );
  -- Matches the claim query's WHERE and ORDER BY, so finished runs never slow a claim.
  CREATE INDEX runs_claim_idx ON runs (available_at)
    WHERE status IN ('pending', 'running') AND available_at IS NOT NULL;
  CREATE UNIQUE INDEX runs_idempotency_idx ON runs (org_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
  CREATE INDEX runs_org_workflow_created_idx ON runs (org_id, workflow_id, created_at, id);
  CREATE INDEX runs_org_created_idx ON runs (org_id, created_at, id);
  CREATE INDEX runs_waiting_idx ON runs (org_id, wait_event_type) WHERE wait_event_type IS NOT NULL;
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
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL
  );
  CREATE INDEX run_steps_run_idx ON run_steps (run_id, step_index, attempt);

  CREATE TABLE run_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX run_events_run_idx ON run_events (run_id, seq);

  CREATE TABLE events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
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
    run_at INTEGER,
    next_fire_at INTEGER,
    catch_up TEXT NOT NULL CHECK (catch_up IN ('latest', 'none', 'all')),
    overlap TEXT NOT NULL CHECK (overlap IN ('allow', 'skip', 'queue', 'cancel_previous')),
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  -- The claim and the next-due lookup both walk this index in next_fire_at order.
  CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE status = 'active';
  CREATE INDEX schedules_org_created_idx ON schedules (org_id, created_at);
  CREATE INDEX schedules_workflow_idx ON schedules (workflow_id);

  CREATE TABLE schedule_firings (
    schedule_id TEXT NOT NULL,
    fire_at INTEGER NOT NULL,
    run_id TEXT,
    created_at INTEGER NOT NULL,
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
    next_attempt_at INTEGER,
    lease_owner TEXT,
    last_status_code INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
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
    at INTEGER NOT NULL
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
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX instances_org_site_created_idx ON instances (org_id, site_id, created_at);

  CREATE TABLE credit_ledger (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    run_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'consume', 'release')),
    amount INTEGER NOT NULL,
    reason TEXT,
    created_at INTEGER NOT NULL
  );
  -- Covers the balance (SUM(amount) of an org) and the org's ledger listing.
  CREATE INDEX credit_ledger_org_idx ON credit_ledger (org_id, created_at, amount);
  -- A run reserves, consumes and releases at most once each, whoever retries.
  CREATE UNIQUE INDEX credit_ledger_run_kind_idx ON credit_ledger (run_id, kind) WHERE run_id IS NOT NULL;

  -- Fixed one-minute rate-limit windows per key and kind of call.
  CREATE TABLE rate_limits (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
  );

  -- Slots of per-workflow concurrency groups held by executing runs; a slot past expires_at
  -- (its worker crashed) is free.
  CREATE TABLE concurrency_slots (
    group_key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
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
    snapshot TEXT NOT NULL,
    install_count INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    hidden INTEGER NOT NULL,
    position INTEGER NOT NULL
  );
  -- explore (most installed, then newest) and community (newest) read these in order.
  CREATE INDEX marketplace_featured_idx ON marketplace_listings (install_count DESC, published_at DESC, position, id)
    WHERE hidden = 0;
  CREATE INDEX marketplace_newest_idx ON marketplace_listings (published_at DESC, position, id) WHERE hidden = 0;
  `,
  // Fencing and loops: every claim bumps lease_epoch, and each pass through a step has
  // its iteration number, kept on the run and on each attempt.
  `
  ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN iteration INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE runs ADD COLUMN step_passes TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE run_steps ADD COLUMN iteration INTEGER NOT NULL DEFAULT 1;
  `,
  // Fair claims across orgs and priority inside an org (runs_org_claim_idx: the claim seeks
  // each (org, priority) queue, then walks its runs due now); bounded fan-out (runs_parent_idx
  // counts a run's children and finds descendants to cancel).
  `
  ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX runs_org_claim_idx ON runs (org_id, priority, available_at)
    WHERE status IN ('pending', 'running') AND available_at IS NOT NULL;
  CREATE INDEX runs_parent_idx ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
  `,
];

/**
 * Applies the migrations `db` has not seen yet, each in its own `BEGIN IMMEDIATE`
 * transaction that re-checks `schema_migrations`, so processes opening the same file
 * at once apply each version exactly once.
 * @returns the versions applied by this call.
 */
export function applySqliteMigrations(
  db: Database.Database,
  migrations: readonly string[] = SQLITE_MIGRATIONS,
): number[] {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
  );
  const isApplied = db.prepare<[number]>('SELECT 1 FROM schema_migrations WHERE version = ?');
  const record = db.prepare<[number, number]>(
    'INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)',
  );
  const apply = db.transaction((version: number, sql: string): boolean => {
    if (isApplied.get(version) !== undefined) return false;
    db.exec(sql);
    record.run(version, Date.now());
    return true;
  });
  const applied: number[] = [];
  migrations.forEach((sql, index) => {
    if (apply.immediate(index + 1, sql)) applied.push(index + 1);
  });
  return applied;
}
