import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { conflict } from '../../domain/errors.js';
import type {
  ApiKeyRecord,
  CreditEntry,
  EventRecord,
  Millis,
  Org,
  RunEventInput,
  RunEventRecord,
  RunRecord,
  RunStepRecord,
  Site,
  WorkflowDefinition,
  WorkflowRecord,
} from '../../domain/model.js';
import type {
  HeldLease,
  LeaseRenewal,
  NewRun,
  NewTenant,
  RunCheckpoint,
  RunListFilter,
  Store,
  StoreSignals,
} from '../store.js';
import { SqliteConnection } from './sqlite-connection.js';
import { applySqliteMigrations } from './sqlite-migrations.js';
import {
  type Codecs,
  API_KEY_CODECS,
  EVENT_CODECS,
  ORG_CODECS,
  SITE_CODECS,
  WORKFLOW_CODECS,
  decodeRow,
  encodeRecord,
  insertSql,
} from './sqlite-rows.js';
import { SqliteDeliveryQueries } from './sqlite-delivery-queries.js';
import { checkGeneratingCap, SqliteGenerationQueries } from './sqlite-generation-queries.js';
import { SqliteLimitQueries } from './sqlite-limit-queries.js';
import { SqliteInstanceQueries } from './sqlite-instance-queries.js';
import { SqliteMarketplaceQueries } from './sqlite-marketplace-queries.js';
import { SqliteReportQueries } from './sqlite-report-queries.js';
import { claimRunnableRuns } from './sqlite-claim-queries.js';
import { SqliteRunQueries } from './sqlite-run-queries.js';
import { SqliteScheduleQueries } from './sqlite-schedule-queries.js';

/** Where and how durably the embedded database lives. */
export interface SqliteStoreConfig {
  /** A file path (its directory is created when missing) or `':memory:'`. */
  path: string;
  /**
   * `FULL` (default) fsyncs every commit, so an accepted run survives a power loss.
   * `NORMAL` in WAL mode may lose the last commits on power loss, never consistency.
   */
  synchronous?: 'FULL' | 'NORMAL';
}

/** The connection settings in effect, for diagnostics and tests. */
export interface SqlitePragmas {
  journal_mode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  synchronous: number;
  foreign_keys: boolean;
  busy_timeout: number;
}

/** How long a writer waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

const SQL = {
  insertOrg: insertSql('orgs', ORG_CODECS),
  orgById: 'SELECT * FROM orgs WHERE id = ?',
  orgByName: 'SELECT * FROM orgs WHERE name = ?',
  setOrgPlan: 'UPDATE orgs SET plan = ? WHERE id = ?',
  insertSite: insertSql('sites', SITE_CODECS),
  siteById: 'SELECT * FROM sites WHERE org_id = ? AND id = ?',
  siteByName: 'SELECT * FROM sites WHERE org_id = ? AND name = ?',
  insertApiKey: insertSql('api_keys', API_KEY_CODECS),
  apiKeyByHash: 'SELECT * FROM api_keys WHERE key_hash = ?',
  apiKeys: 'SELECT * FROM api_keys ORDER BY created_at, id',
  apiKeysOfOrg: 'SELECT * FROM api_keys WHERE org_id = ? ORDER BY created_at, id',
  revokeApiKey: 'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
  putSecret: `INSERT INTO secrets (org_id, name, ciphertext, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (org_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
  secretsByName: `SELECT name, ciphertext FROM secrets
    WHERE org_id = ? AND name IN (SELECT value FROM json_each(?)) ORDER BY name`,
  secretNames: 'SELECT name FROM secrets WHERE org_id = ? ORDER BY name',
  deleteSecret: 'DELETE FROM secrets WHERE org_id = ? AND name = ?',
  insertWorkflow: insertSql('workflows', WORKFLOW_CODECS),
  insertWorkflowVersion: `INSERT INTO workflow_versions (workflow_id, version, definition, created_at)
    VALUES (@id, @version, @definition, @updated_at) ON CONFLICT (workflow_id, version) DO NOTHING`,
  slugOwner: 'SELECT id FROM workflows WHERE org_id = ? AND slug = ? AND deleted_at IS NULL',
  workflowVersion: 'SELECT version FROM workflows WHERE id = ? AND org_id = ? AND deleted_at IS NULL',
  updateWorkflow: `UPDATE workflows SET slug = @slug, title = @title, description = @description,
    status = @status, trigger_config = @trigger_config, is_public = @is_public, credit_cost = @credit_cost,
    callback_url = @callback_url, metadata = @metadata, version = @version, definition = @definition,
    generation = @generation, updated_at = @updated_at
    WHERE id = @id AND org_id = @org_id AND deleted_at IS NULL AND status <> 'generating'`,
  workflowById: 'SELECT * FROM workflows WHERE org_id = ? AND id = ? AND deleted_at IS NULL',
  workflowBySlug: 'SELECT * FROM workflows WHERE org_id = ? AND slug = ? AND deleted_at IS NULL',
  workflows: `SELECT * FROM workflows WHERE org_id = ? AND deleted_at IS NULL
    ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
  eventTriggered: `SELECT * FROM workflows WHERE org_id = ? AND deleted_at IS NULL AND status = 'active'
    AND json_extract(trigger_config, '$.type') = 'event' AND json_extract(trigger_config, '$.event_type') = ?
    ORDER BY created_at, id`,
  definitionOfVersion: 'SELECT definition FROM workflow_versions WHERE workflow_id = ? AND version = ?',
  deleteWorkflow: `UPDATE workflows SET deleted_at = ?, updated_at = ?
    WHERE org_id = ? AND id = ? AND deleted_at IS NULL`,
  insertEvent: insertSql('events', EVENT_CODECS),
} as const;

const slugTaken = (slug: string) => conflict('SLUG_TAKEN', `slug '${slug}' is already used in this org`);

/**
 * The embedded `Store`: one SQLite file in WAL mode, written through a single connection
 * with cached prepared statements. Signals are in-process, so every worker sharing a
 * file must share this instance (one `stepwise serve`); scale-out uses PostgreSQL.
 *
 * @example
 * const store = SqliteStore.open({ path: './data/stepwise.db' });
 * await store.migrate();
 */
export class SqliteStore implements Store {
  readonly backend = 'sqlite' as const;
  /** One process owns the file, so its injectable clock is the only one there is. */
  readonly timeSource = 'caller' as const;

  async readDatabaseClock(): Promise<Millis> {
    return Date.now();
  }
  private readonly runs: SqliteRunQueries;
  readonly schedules: SqliteScheduleQueries;
  readonly deliveries: SqliteDeliveryQueries;
  readonly reports: SqliteReportQueries;
  readonly instances: SqliteInstanceQueries;
  readonly generations: SqliteGenerationQueries;
  readonly marketplace: SqliteMarketplaceQueries;

  readonly limits: SqliteLimitQueries;

  private constructor(private readonly connection: SqliteConnection) {
    this.limits = new SqliteLimitQueries(connection);
    this.runs = new SqliteRunQueries(connection);
    this.schedules = new SqliteScheduleQueries(connection);
    this.deliveries = new SqliteDeliveryQueries(connection);
    this.reports = new SqliteReportQueries(connection);
    this.instances = new SqliteInstanceQueries(connection);
    this.generations = new SqliteGenerationQueries(connection);
    this.marketplace = new SqliteMarketplaceQueries(connection);
  }

  /** Opens (creating when missing) the database; call `migrate()` before use. */
  static open(config: SqliteStoreConfig): SqliteStore {
    const inMemory = config.path === ':memory:';
    if (!inMemory) mkdirSync(dirname(config.path), { recursive: true });
    const db = new Database(config.path);
    if (!inMemory) db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${config.synchronous ?? 'FULL'}`);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    return new SqliteStore(new SqliteConnection(db));
  }

  /** The settings the connection actually runs with (SQLite ignores some silently). */
  pragmas(): SqlitePragmas {
    const read = (name: string): unknown => this.connection.db.pragma(name, { simple: true });
    return {
      journal_mode: String(read('journal_mode')),
      synchronous: Number(read('synchronous')),
      foreign_keys: read('foreign_keys') === 1,
      busy_timeout: Number(read('busy_timeout')),
    };
  }

  async migrate(): Promise<void> {
    applySqliteMigrations(this.connection.db);
  }

  async close(): Promise<void> {
    this.connection.close();
  }

  async listen(signals: StoreSignals): Promise<() => Promise<void>> {
    const unsubscribe = this.connection.listen(signals);
    return async () => unsubscribe();
  }

  async createOrg(org: Org, grant?: CreditEntry): Promise<void> {
    this.connection.write(() => this.insertOrg(org, grant));
  }

  async getOrg(id: string): Promise<Org | null> {
    return this.one(ORG_CODECS, SQL.orgById, id);
  }

  async getOrgByName(name: string): Promise<Org | null> {
    return this.one(ORG_CODECS, SQL.orgByName, name);
  }

  async setOrgPlan(orgId: string, plan: string): Promise<boolean> {
    return this.connection.write(() => this.run(SQL.setOrgPlan, plan, orgId) > 0);
  }

  async createSite(site: Site): Promise<void> {
    this.run(SQL.insertSite, encodeRecord(site, SITE_CODECS));
  }

  async getSite(orgId: string, id: string): Promise<Site | null> {
    return this.one(SITE_CODECS, SQL.siteById, orgId, id);
  }

  async getSiteByName(orgId: string, name: string): Promise<Site | null> {
    return this.one(SITE_CODECS, SQL.siteByName, orgId, name);
  }

  async createApiKey(key: ApiKeyRecord, tenant: NewTenant = {}): Promise<void> {
    this.connection.write(() => {
      if (tenant.org) this.insertOrg(tenant.org, tenant.grant);
      if (tenant.site) this.run(SQL.insertSite, encodeRecord(tenant.site, SITE_CODECS));
      this.run(SQL.insertApiKey, encodeRecord(key, API_KEY_CODECS));
    });
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    return this.one(API_KEY_CODECS, SQL.apiKeyByHash, keyHash);
  }

  async listApiKeys(orgId?: string): Promise<ApiKeyRecord[]> {
    const rows = orgId === undefined ? this.all(SQL.apiKeys) : this.all(SQL.apiKeysOfOrg, orgId);
    return rows.map((row) => decodeRow(row, API_KEY_CODECS));
  }

  async revokeApiKey(id: string, at: Millis): Promise<boolean> {
    return this.connection.write((signals) => {
      const revoked = this.run(SQL.revokeApiKey, at, id) > 0;
      if (revoked) signals.push({ kind: 'keysRevoked' });
      return revoked;
    });
  }

  async putSecret(orgId: string, name: string, ciphertext: string, at: Millis): Promise<void> {
    this.run(SQL.putSecret, orgId, name, ciphertext, at);
  }

  async getSecrets(orgId: string, names: string[]): Promise<{ name: string; ciphertext: string }[]> {
    return this.all(SQL.secretsByName, orgId, JSON.stringify(names)) as {
      name: string;
      ciphertext: string;
    }[];
  }

  async listSecretNames(orgId: string): Promise<string[]> {
    return (this.all(SQL.secretNames, orgId) as { name: string }[]).map((row) => row.name);
  }

  async deleteSecret(orgId: string, name: string): Promise<boolean> {
    return this.run(SQL.deleteSecret, orgId, name) > 0;
  }

  async insertWorkflow(workflow: WorkflowRecord, maxGenerating: number | null = null): Promise<void> {
    const params = encodeRecord(workflow, WORKFLOW_CODECS);
    this.connection.write((signals) => {
      if (workflow.status === 'generating')
        checkGeneratingCap(this.connection, workflow.org_id, maxGenerating);
      // Checked inside the immediate transaction, so no other writer can take the slug in between.
      if (this.connection.statement(SQL.slugOwner).get(workflow.org_id, workflow.slug) !== undefined) {
        throw slugTaken(workflow.slug);
      }
      this.run(SQL.insertWorkflow, params);
      this.run(SQL.insertWorkflowVersion, params);
      if (workflow.status === 'generating') signals.push({ kind: 'generationsAvailable' });
    });
  }

  async updateWorkflow(workflow: WorkflowRecord, expectedVersion: number): Promise<boolean> {
    const params = encodeRecord(workflow, WORKFLOW_CODECS);
    return this.connection.write(() => {
      const current = this.connection.statement(SQL.workflowVersion).get(workflow.id, workflow.org_id) as
        { version: number } | undefined;
      if (current === undefined || current.version !== expectedVersion) return false;
      const slugOwner = this.connection.statement(SQL.slugOwner).get(workflow.org_id, workflow.slug) as
        { id: string } | undefined;
      if (slugOwner !== undefined && slugOwner.id !== workflow.id) throw slugTaken(workflow.slug);
      // A generating workflow belongs to its generation until it ends: the update is refused.
      if (this.run(SQL.updateWorkflow, params) === 0) return false;
      this.run(SQL.insertWorkflowVersion, params);
      return true;
    });
  }

  async getWorkflow(orgId: string, id: string): Promise<WorkflowRecord | null> {
    return this.one(WORKFLOW_CODECS, SQL.workflowById, orgId, id);
  }

  async getWorkflowBySlug(orgId: string, slug: string): Promise<WorkflowRecord | null> {
    return this.one(WORKFLOW_CODECS, SQL.workflowBySlug, orgId, slug);
  }

  async listWorkflows(orgId: string, page: { limit: number; offset: number }): Promise<WorkflowRecord[]> {
    return this.all(SQL.workflows, orgId, page.limit, page.offset).map((row) =>
      decodeRow(row, WORKFLOW_CODECS),
    );
  }

  async listEventTriggeredWorkflows(orgId: string, eventType: string): Promise<WorkflowRecord[]> {
    return this.all(SQL.eventTriggered, orgId, eventType).map((row) => decodeRow(row, WORKFLOW_CODECS));
  }

  async getWorkflowVersion(workflowId: string, version: number): Promise<WorkflowDefinition | null> {
    const row = this.connection.statement(SQL.definitionOfVersion).get(workflowId, version) as
      { definition: string } | undefined;
    return row === undefined ? null : (JSON.parse(row.definition) as WorkflowDefinition);
  }

  async deleteWorkflow(orgId: string, id: string, at: Millis): Promise<boolean> {
    return this.run(SQL.deleteWorkflow, at, at, orgId, id) > 0;
  }

  async insertRun(newRun: NewRun): Promise<{ run: RunRecord; created: boolean }> {
    return this.runs.insertRun(newRun);
  }

  async getRun(orgId: string | null, id: string): Promise<RunRecord | null> {
    return this.runs.getRun(orgId, id);
  }

  async listRuns(filter: RunListFilter): Promise<RunRecord[]> {
    return this.runs.listRuns(filter);
  }

  async listRunSteps(runId: string): Promise<RunStepRecord[]> {
    return this.runs.listRunSteps(runId);
  }

  async listRunEvents(runId: string): Promise<RunEventRecord[]> {
    return this.runs.listRunEvents(runId);
  }

  async lastRunEvent(runId: string): Promise<RunEventRecord | null> {
    return this.runs.lastRunEvent(runId);
  }

  async listActiveDescendants(orgId: string, runId: string): Promise<string[]> {
    return this.runs.listActiveDescendants(orgId, runId);
  }

  async claimRunnableRuns(owner: string, limit: number, leaseMs: number, now: Millis): Promise<RunRecord[]> {
    return claimRunnableRuns(this.connection, owner, limit, leaseMs, now);
  }

  async loadStepOutputs(runIds: string[]): Promise<Map<string, Record<string, unknown>>> {
    return this.runs.loadStepOutputs(runIds);
  }

  async renewLeases(
    owner: string,
    leases: HeldLease[],
    leaseMs: number,
    now: Millis,
  ): Promise<LeaseRenewal[]> {
    return this.runs.renewLeases(owner, leases, leaseMs, now);
  }

  async checkpointRuns(checkpoints: RunCheckpoint[]): Promise<boolean[]> {
    return this.runs.checkpointRuns(checkpoints);
  }

  async releaseLeases(leases: HeldLease[], now: Millis): Promise<void> {
    this.runs.releaseLeases(leases, now);
  }

  async nextAvailableAt(now: Millis): Promise<Millis | null> {
    return this.runs.nextAvailableAt(now);
  }

  async cancelRun(
    orgId: string,
    runId: string,
    now: Millis,
    events: { cancelled: RunEventInput; requested: RunEventInput },
  ): Promise<{ run: RunRecord; immediate: boolean } | null> {
    return this.runs.cancelRun(orgId, runId, now, events);
  }

  async insertEvent(event: EventRecord): Promise<void> {
    this.run(SQL.insertEvent, encodeRecord(event, EVENT_CODECS));
  }

  async listRunsWaitingForEvent(orgId: string, eventType: string): Promise<RunRecord[]> {
    return this.runs.listRunsWaitingForEvent(orgId, eventType);
  }

  async resumeWaitingRun(
    runId: string,
    eventType: string,
    payload: unknown,
    now: Millis,
    event: RunEventInput,
  ): Promise<boolean> {
    return this.runs.resumeWaitingRun(runId, eventType, payload, now, event);
  }

  /** Call inside a write transaction: the org and its grant go together. */
  private insertOrg(org: Org, grant: CreditEntry | undefined): void {
    this.run(SQL.insertOrg, encodeRecord(org, ORG_CODECS));
    if (grant) this.limits.insertEntry(grant);
  }

  /** @returns the number of rows changed. */
  private run(sql: string, ...params: unknown[]): number {
    return this.connection.statement(sql).run(...params).changes;
  }

  private one<T>(codecs: Codecs<T>, sql: string, ...params: unknown[]): T | null {
    const row = this.connection.statement(sql).get(...params);
    return row === undefined ? null : decodeRow(row, codecs);
  }

  private all(sql: string, ...params: unknown[]): unknown[] {
    return this.connection.statement(sql).all(...params);
  }
}
