import pg from 'pg';
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
  TimeSource,
} from '../store.js';
import * as leases from './postgres-lease-queries.js';
import { PostgresDeliveryQueries } from './postgres-delivery-queries.js';
import { checkGeneratingCap, PostgresGenerationQueries } from './postgres-generation-queries.js';
import { PostgresInstanceQueries } from './postgres-instance-queries.js';
import { insertCreditEntry, PostgresLimitQueries } from './postgres-limit-queries.js';
import { PostgresListener } from './postgres-listener.js';
import { PostgresMarketplaceQueries } from './postgres-marketplace-queries.js';
import { PostgresReportQueries } from './postgres-report-queries.js';
import { PostgresScheduleQueries } from './postgres-schedule-queries.js';
import { migratePostgres } from './postgres-migrations.js';
import * as runs from './postgres-run-queries.js';
import * as tenants from './postgres-tenant-queries.js';
import * as workflows from './postgres-workflow-queries.js';
import { DATABASE_NOW_MS, withTransaction } from './postgres-rows.js';

/** Where and how wide: `poolSize` is the number of working connections (default 10), besides the listener's. */
export interface PostgresStoreConfig {
  connectionString: string;
  poolSize?: number;
  /**
   * Whose clock decides claims, lease expiry, cancels and wake-ups (see `TimeSource`).
   * Default `database`: many processes share the database, not a clock. `caller` is for
   * tests that pass their own instants.
   */
  timeSource?: TimeSource;
}

const INT8_OID = 20;

/**
 * The `Store` on PostgreSQL, for running many API and worker processes against one
 * database. Runs are claimed with `FOR UPDATE SKIP LOCKED` from a partial index, step
 * results are group-committed in one statement per batch, and writes that make runs
 * claimable NOTIFY the other processes.
 *
 * @example
 * const store = await PostgresStore.connect({ connectionString: 'postgres://localhost/stepwise' });
 * await store.migrate();
 */
export class PostgresStore implements Store {
  readonly backend = 'postgres' as const;
  private readonly listener: PostgresListener;
  readonly schedules: PostgresScheduleQueries;
  readonly deliveries: PostgresDeliveryQueries;
  readonly reports: PostgresReportQueries;
  readonly instances: PostgresInstanceQueries;
  readonly generations: PostgresGenerationQueries;
  readonly marketplace: PostgresMarketplaceQueries;
  readonly limits: PostgresLimitQueries;

  private constructor(
    private readonly pool: pg.Pool,
    connectionString: string,
    readonly timeSource: TimeSource,
  ) {
    this.listener = new PostgresListener(connectionString);
    this.schedules = new PostgresScheduleQueries(pool, timeSource);
    this.deliveries = new PostgresDeliveryQueries(pool);
    this.reports = new PostgresReportQueries(pool);
    this.instances = new PostgresInstanceQueries(pool);
    this.generations = new PostgresGenerationQueries(pool);
    this.marketplace = new PostgresMarketplaceQueries(pool);
    this.limits = new PostgresLimitQueries(pool);
  }

  /** Opens a pool and checks the database answers; does not migrate. */
  static async connect(config: PostgresStoreConfig): Promise<PostgresStore> {
    // Times are BIGINT milliseconds, far below 2^53: parse them to numbers for this pool
    // only, leaving the process-wide pg defaults alone for other libraries.
    const types = new pg.TypeOverrides();
    types.setTypeParser(INT8_OID, Number);
    const pool = new pg.Pool({
      connectionString: config.connectionString,
      max: config.poolSize ?? 10,
      types,
    });
    // An idle client that dies emits here; the pool has already discarded it, and without
    // a listener the event would crash the process.
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresStore(pool, config.connectionString, config.timeSource ?? 'database');
  }

  async readDatabaseClock(): Promise<Millis> {
    const { rows } = await this.pool.query<{ now: Millis }>(`SELECT ${DATABASE_NOW_MS} AS now`);
    return rows[0]!.now;
  }

  /** The instant a coordinating statement is given: the caller's, or null for the database's clock. */
  private decidingAt(now: Millis): Millis | null {
    return this.timeSource === 'database' ? null : now;
  }

  migrate(): Promise<void> {
    return migratePostgres(this.pool);
  }

  async close(): Promise<void> {
    await this.listener.close();
    await this.pool.end();
  }

  listen(signals: StoreSignals): Promise<() => Promise<void>> {
    return this.listener.subscribe(signals);
  }

  createOrg(org: Org, grant?: CreditEntry): Promise<void> {
    if (!grant) return tenants.createOrg(this.pool, org);
    return withTransaction(this.pool, async (client) => {
      await tenants.createOrg(client, org);
      await insertCreditEntry(client, grant);
    });
  }

  getOrg(id: string): Promise<Org | null> {
    return tenants.getOrg(this.pool, 'id', id);
  }

  getOrgByName(name: string): Promise<Org | null> {
    return tenants.getOrg(this.pool, 'name', name);
  }

  setOrgPlan(orgId: string, plan: string): Promise<boolean> {
    return tenants.setOrgPlan(this.pool, orgId, plan);
  }

  createSite(site: Site): Promise<void> {
    return tenants.createSite(this.pool, site);
  }

  getSite(orgId: string, id: string): Promise<Site | null> {
    return tenants.getSite(this.pool, orgId, 'id', id);
  }

  getSiteByName(orgId: string, name: string): Promise<Site | null> {
    return tenants.getSite(this.pool, orgId, 'name', name);
  }

  createApiKey(key: ApiKeyRecord, tenant: NewTenant = {}): Promise<void> {
    if (!tenant.org && !tenant.site) return tenants.createApiKey(this.pool, key);
    return withTransaction(this.pool, async (client) => {
      if (tenant.org) {
        await tenants.createOrg(client, tenant.org);
        if (tenant.grant) await insertCreditEntry(client, tenant.grant);
      }
      if (tenant.site) await tenants.createSite(client, tenant.site);
      await tenants.createApiKey(client, key);
    });
  }

  findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    return tenants.findApiKeyByHash(this.pool, keyHash);
  }

  listApiKeys(orgId?: string): Promise<ApiKeyRecord[]> {
    return tenants.listApiKeys(this.pool, orgId);
  }

  revokeApiKey(id: string, at: Millis): Promise<boolean> {
    return tenants.revokeApiKey(this.pool, id, at);
  }

  putSecret(orgId: string, name: string, ciphertext: string, at: Millis): Promise<void> {
    return tenants.putSecret(this.pool, orgId, name, ciphertext, at);
  }

  getSecrets(orgId: string, names: string[]): Promise<{ name: string; ciphertext: string }[]> {
    return tenants.getSecrets(this.pool, orgId, names);
  }

  listSecretNames(orgId: string): Promise<string[]> {
    return tenants.listSecretNames(this.pool, orgId);
  }

  deleteSecret(orgId: string, name: string): Promise<boolean> {
    return tenants.deleteSecret(this.pool, orgId, name);
  }

  insertWorkflow(workflow: WorkflowRecord, maxGenerating: number | null = null): Promise<void> {
    if (workflow.status !== 'generating' || maxGenerating === null) {
      return workflows.insertWorkflow(this.pool, workflow);
    }
    return withTransaction(this.pool, async (client) => {
      await checkGeneratingCap(client, workflow.org_id, maxGenerating);
      await workflows.insertWorkflow(client, workflow);
    });
  }

  updateWorkflow(workflow: WorkflowRecord, expectedVersion: number): Promise<boolean> {
    return workflows.updateWorkflow(this.pool, workflow, expectedVersion);
  }

  getWorkflow(orgId: string, id: string): Promise<WorkflowRecord | null> {
    return workflows.getWorkflow(this.pool, orgId, 'id', id);
  }

  getWorkflowBySlug(orgId: string, slug: string): Promise<WorkflowRecord | null> {
    return workflows.getWorkflow(this.pool, orgId, 'slug', slug);
  }

  listWorkflows(orgId: string, page: { limit: number; offset: number }): Promise<WorkflowRecord[]> {
    return workflows.listWorkflows(this.pool, orgId, page);
  }

  listEventTriggeredWorkflows(orgId: string, eventType: string): Promise<WorkflowRecord[]> {
    return workflows.listEventTriggeredWorkflows(this.pool, orgId, eventType);
  }

  getWorkflowVersion(workflowId: string, version: number): Promise<WorkflowDefinition | null> {
    return workflows.getWorkflowVersion(this.pool, workflowId, version);
  }

  deleteWorkflow(orgId: string, id: string, at: Millis): Promise<boolean> {
    return workflows.deleteWorkflow(this.pool, orgId, id, at);
  }

  insertRun(newRun: NewRun): Promise<{ run: RunRecord; created: boolean }> {
    // Without admission checks or a throttle, the one-statement insert: the hot path stays one round trip.
    return newRun.admission || newRun.throttle || newRun.child
      ? runs.insertCheckedRun(this.pool, newRun, this.decidingAt(newRun.run.created_at))
      : runs.insertRun(this.pool, newRun);
  }

  listActiveDescendants(orgId: string, runId: string): Promise<string[]> {
    return runs.listActiveDescendants(this.pool, orgId, runId);
  }

  getRun(orgId: string | null, id: string): Promise<RunRecord | null> {
    return runs.getRun(this.pool, orgId, id);
  }

  listRuns(filter: RunListFilter): Promise<RunRecord[]> {
    return runs.listRuns(this.pool, filter);
  }

  listRunSteps(runId: string): Promise<RunStepRecord[]> {
    return runs.listRunSteps(this.pool, runId);
  }

  listRunEvents(runId: string): Promise<RunEventRecord[]> {
    return runs.listRunEvents(this.pool, runId);
  }

  lastRunEvent(runId: string): Promise<RunEventRecord | null> {
    return runs.lastRunEvent(this.pool, runId);
  }

  claimRunnableRuns(owner: string, limit: number, leaseMs: number, now: Millis): Promise<RunRecord[]> {
    return leases.claimRunnableRuns(this.pool, owner, limit, leaseMs, this.decidingAt(now));
  }

  loadStepOutputs(runIds: string[]): Promise<Map<string, Record<string, unknown>>> {
    return leases.loadStepOutputs(this.pool, runIds);
  }

  renewLeases(owner: string, held: HeldLease[], leaseMs: number, now: Millis): Promise<LeaseRenewal[]> {
    return leases.renewLeases(this.pool, owner, held, leaseMs, this.decidingAt(now));
  }

  checkpointRuns(checkpoints: RunCheckpoint[]): Promise<boolean[]> {
    return leases.checkpointRuns(this.pool, checkpoints);
  }

  releaseLeases(held: HeldLease[], now: Millis): Promise<void> {
    return leases.releaseLeases(this.pool, held, this.decidingAt(now));
  }

  nextAvailableAt(now: Millis): Promise<Millis | null> {
    return leases.nextAvailableAt(this.pool, now);
  }

  cancelRun(
    orgId: string,
    runId: string,
    now: Millis,
    events: { cancelled: RunEventInput; requested: RunEventInput },
  ): Promise<{ run: RunRecord; immediate: boolean } | null> {
    return runs.cancelRun(this.pool, orgId, runId, now, this.decidingAt(now), events);
  }

  insertEvent(event: EventRecord): Promise<void> {
    return runs.insertEvent(this.pool, event);
  }

  listRunsWaitingForEvent(orgId: string, eventType: string): Promise<RunRecord[]> {
    return runs.listRunsWaitingForEvent(this.pool, orgId, eventType);
  }

  resumeWaitingRun(
    runId: string,
    eventType: string,
    payload: unknown,
    now: Millis,
    event: RunEventInput,
  ): Promise<boolean> {
    return runs.resumeWaitingRun(this.pool, runId, eventType, payload, now, this.decidingAt(now), event);
  }
}
