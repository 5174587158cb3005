import type { WorkflowGeneration } from '../../domain/generation.js';
import type { Millis, WorkflowRecord } from '../../domain/model.js';
import { GenerationCapReached, type ClaimedGeneration, type GenerationStore } from '../generation-store.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { decodeRow, encodeRecord, jsonOrNull, WORKFLOW_CODECS } from './sqlite-rows.js';

const LIVE = 'deleted_at IS NULL';

const SQL = {
  generatingInOrg: `SELECT count(*) AS n FROM workflows WHERE org_id = ? AND status = 'generating' AND ${LIVE}`,
  request: `UPDATE workflows SET status = 'generating', generation = ?, generation_lease_owner = NULL,
    generation_lease_expires_at = NULL, generation_claims = 0, updated_at = ?
    WHERE org_id = ? AND id = ? AND ${LIVE} AND status <> 'generating' RETURNING *`,
  // Turns between orgs, as the PostgreSQL claim explains. Walks workflows_generating_idx:
  // the generating workflows are few, as each org has a cap on them.
  claimable: `WITH in_flight AS (
      SELECT org_id, count(*) AS n FROM workflows
      WHERE status = 'generating' AND ${LIVE} AND generation_lease_expires_at > @now GROUP BY org_id
    ), turns AS (
      SELECT w.id, w.updated_at,
        row_number() OVER (PARTITION BY w.org_id ORDER BY w.updated_at, w.id) + coalesce(f.n, 0) AS turn
      FROM workflows w LEFT JOIN in_flight f ON f.org_id = w.org_id
      WHERE w.status = 'generating' AND w.${LIVE}
        AND (w.generation_lease_expires_at IS NULL OR w.generation_lease_expires_at <= @now)
    )
    SELECT id FROM turns ORDER BY turn, updated_at, id LIMIT @limit`,
  lease: `UPDATE workflows SET generation_lease_owner = ?, generation_lease_expires_at = ?,
    generation_claims = generation_claims + 1 WHERE id = ? RETURNING *`,
  renew: `UPDATE workflows SET generation_lease_expires_at = ?
    WHERE id = ? AND generation_lease_owner = ? AND status = 'generating' AND ${LIVE}`,
  progress: `UPDATE workflows SET generation = ?
    WHERE id = ? AND generation_lease_owner = ? AND status = 'generating' AND ${LIVE}`,
  release: `UPDATE workflows SET generation = ?, generation_lease_owner = NULL, generation_lease_expires_at = NULL,
    generation_claims = generation_claims - 1
    WHERE id = ? AND generation_lease_owner = ? AND status = 'generating' AND ${LIVE}`,
  finish: `UPDATE workflows SET title = @title, description = @description, status = @status,
    trigger_config = @trigger_config, credit_cost = @credit_cost, metadata = @metadata, version = @version,
    definition = @definition, generation = @generation, updated_at = @updated_at,
    generation_lease_owner = NULL, generation_lease_expires_at = NULL
    WHERE id = @id AND org_id = @org_id AND generation_lease_owner = @owner AND status = 'generating' AND ${LIVE}`,
  insertVersion: `INSERT INTO workflow_versions (workflow_id, version, definition, created_at)
    VALUES (@id, @version, @definition, @updated_at) ON CONFLICT (workflow_id, version) DO NOTHING`,
} as const;

const toWorkflow = (row: unknown): WorkflowRecord => decodeRow(row, WORKFLOW_CODECS);

/**
 * Refuses one more generating workflow for an org at `maxGenerating`; call it inside the
 * write transaction that would add one, where no other writer can add one in between.
 * @throws GenerationCapReached
 */
export function checkGeneratingCap(
  connection: SqliteConnection,
  orgId: string,
  maxGenerating: number | null | undefined,
): void {
  if (maxGenerating === null || maxGenerating === undefined) return;
  const { n } = connection.statement(SQL.generatingInOrg).get(orgId) as { n: number };
  if (n >= maxGenerating) throw new GenerationCapReached(n);
}

/** The GenerationStore of the SQLite backend: claims in one immediate transaction on the single writer. */
export class SqliteGenerationQueries implements GenerationStore {
  constructor(private readonly connection: SqliteConnection) {}

  async requestGeneration(
    orgId: string,
    workflowId: string,
    generation: WorkflowGeneration,
    now: Millis,
    maxGenerating: number | null = null,
  ): Promise<WorkflowRecord | null> {
    const row = this.connection.write((signals) => {
      checkGeneratingCap(this.connection, orgId, maxGenerating);
      const marked = this.connection
        .statement(SQL.request)
        .get(jsonOrNull(generation), now, orgId, workflowId);
      if (marked !== undefined) signals.push({ kind: 'generationsAvailable' });
      return marked;
    });
    return row === undefined ? null : toWorkflow(row);
  }

  async claimGenerations(
    owner: string,
    limit: number,
    leaseMs: number,
    now: Millis,
  ): Promise<ClaimedGeneration[]> {
    return this.connection.write(() => {
      const due = this.connection.statement(SQL.claimable).all({ now, limit }) as { id: string }[];
      const lease = this.connection.statement(SQL.lease);
      return due.map(({ id }) => {
        const row = lease.get(owner, now + leaseMs, id) as { generation_claims: number };
        return { workflow: toWorkflow(row), claims: row.generation_claims };
      });
    });
  }

  async renewGenerationLease(
    owner: string,
    workflowId: string,
    leaseMs: number,
    now: Millis,
  ): Promise<boolean> {
    return this.connection.statement(SQL.renew).run(now + leaseMs, workflowId, owner).changes > 0;
  }

  async saveGenerationProgress(
    owner: string,
    workflowId: string,
    generation: WorkflowGeneration,
  ): Promise<boolean> {
    return this.connection.statement(SQL.progress).run(jsonOrNull(generation), workflowId, owner).changes > 0;
  }

  async releaseGeneration(
    owner: string,
    workflowId: string,
    generation: WorkflowGeneration,
  ): Promise<boolean> {
    return this.connection.write((signals) => {
      const released = this.connection.statement(SQL.release).run(jsonOrNull(generation), workflowId, owner);
      if (released.changes > 0) signals.push({ kind: 'generationsAvailable' });
      return released.changes > 0;
    });
  }

  async finishGeneration(owner: string, workflow: WorkflowRecord): Promise<boolean> {
    const params = { ...encodeRecord(workflow, WORKFLOW_CODECS), owner };
    return this.connection.write(() => {
      if (this.connection.statement(SQL.finish).run(params).changes === 0) return false;
      this.connection.statement(SQL.insertVersion).run(params);
      return true;
    });
  }
}
