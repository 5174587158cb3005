import type pg from 'pg';
import type { WorkflowGeneration } from '../../domain/generation.js';
import type { Millis, WorkflowRecord } from '../../domain/model.js';
import { GenerationCapReached, type ClaimedGeneration, type GenerationStore } from '../generation-store.js';
import { lockOrg } from './postgres-limit-queries.js';
import { columnList, fromRow, SQL_COLUMNS, toJson, toParam, withTransaction } from './postgres-rows.js';

/** Every process's generation runner listens here, so a request in one wakes them all at once. */
export const GENERATIONS_CHANNEL = 'stepwise_generations';

const LIVE = 'deleted_at IS NULL';
const LEASED = `generation_lease_owner = $2 AND status = 'generating' AND ${LIVE}`;

const SQL = {
  request: `WITH requested AS (
      UPDATE workflows SET status = 'generating', generation = $3, generation_lease_owner = NULL,
        generation_lease_expires_at = NULL, generation_claims = 0, updated_at = $4
      WHERE org_id = $1 AND id = $2 AND ${LIVE} AND status <> 'generating' RETURNING ${SQL_COLUMNS.workflow}
    )
    SELECT requested.* FROM requested, (SELECT pg_notify('${GENERATIONS_CHANNEL}', '')) AS wake`,
  // Takes turns between orgs: an org's k-th waiting generation gets turn k plus those it has
  // running (under a live lease); lowest turns first, oldest request first among equals, so
  // one org's queue never holds up another org's generation for more than a turn. SKIP
  // LOCKED over a few times `limit` candidates: processes claiming at once take different
  // workflows instead of queueing on one.
  claim: `WITH in_flight AS (
      SELECT org_id, count(*) AS n FROM workflows
      WHERE status = 'generating' AND ${LIVE} AND generation_lease_expires_at > $3 GROUP BY org_id
    ), turns AS (
      SELECT g.id, g.updated_at,
        row_number() OVER (PARTITION BY g.org_id ORDER BY g.updated_at, g.id) + coalesce(f.n, 0) AS turn
      FROM workflows g LEFT JOIN in_flight f ON f.org_id = g.org_id
      WHERE g.status = 'generating' AND g.${LIVE}
        AND (g.generation_lease_expires_at IS NULL OR g.generation_lease_expires_at <= $3)
    ), candidates AS (
      SELECT id, turn, updated_at FROM turns ORDER BY turn, updated_at, id LIMIT $2::int * 4
    )
    UPDATE workflows w SET generation_lease_owner = $1, generation_lease_expires_at = $3::bigint + $4::bigint,
    generation_claims = w.generation_claims + 1
    FROM (
      SELECT x.id FROM workflows x JOIN candidates c ON c.id = x.id
      WHERE x.status = 'generating' AND x.${LIVE}
        AND (x.generation_lease_expires_at IS NULL OR x.generation_lease_expires_at <= $3)
      ORDER BY c.turn, c.updated_at, c.id LIMIT $2
      FOR UPDATE OF x SKIP LOCKED
    ) AS due
    WHERE w.id = due.id
    RETURNING ${columnList(['generation_claims'], 'w')}, ${SQL_COLUMNS.workflow.replace(/"(\w+)"/g, 'w."$1"')}`,
  renew: `UPDATE workflows SET generation_lease_expires_at = $3::bigint + $4::bigint WHERE id = $1 AND ${LEASED}`,
  progress: `UPDATE workflows SET generation = $3 WHERE id = $1 AND ${LEASED}`,
  release: `WITH released AS (
      UPDATE workflows SET generation = $3, generation_lease_owner = NULL, generation_lease_expires_at = NULL,
        generation_claims = generation_claims - 1 WHERE id = $1 AND ${LEASED} RETURNING id
    )
    SELECT released.id FROM released, (SELECT pg_notify('${GENERATIONS_CHANNEL}', '')) AS wake`,
  finish: `WITH finished AS (
      UPDATE workflows SET title = $3, description = $4, status = $5, trigger_config = $6, credit_cost = $7,
        metadata = $8, version = $9, definition = $10, generation = $11, updated_at = $12,
        generation_lease_owner = NULL, generation_lease_expires_at = NULL
      WHERE id = $1 AND ${LEASED}
      RETURNING id, version, definition, updated_at
    ), versioned AS (
      INSERT INTO workflow_versions (workflow_id, version, definition, created_at)
      SELECT id, version, definition, updated_at FROM finished
      ON CONFLICT (workflow_id, version) DO NOTHING
    )
    SELECT count(*)::int AS finished FROM finished`,
} as const;

/**
 * Refuses one more generating workflow for an org at `maxGenerating`. Takes the org's row
 * lock (as run admissions do) until the caller's transaction ends, so requests of one org
 * are counted one after another in every process.
 * @throws GenerationCapReached
 */
export async function checkGeneratingCap(
  client: pg.PoolClient,
  orgId: string,
  maxGenerating: number,
): Promise<void> {
  await lockOrg(client, orgId);
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM workflows WHERE org_id = $1 AND status = 'generating' AND ${LIVE}`,
    [orgId],
  );
  const n = rows[0]?.n ?? 0;
  if (n >= maxGenerating) throw new GenerationCapReached(n);
}

/** The GenerationStore of the PostgreSQL backend: claims with `FOR UPDATE SKIP LOCKED`. */
export class PostgresGenerationQueries implements GenerationStore {
  constructor(private readonly pool: pg.Pool) {}

  async requestGeneration(
    orgId: string,
    workflowId: string,
    generation: WorkflowGeneration,
    now: Millis,
    maxGenerating: number | null = null,
  ): Promise<WorkflowRecord | null> {
    const params = [orgId, workflowId, toJson(generation), now];
    const { rows } =
      maxGenerating === null
        ? await this.pool.query(SQL.request, params)
        : await withTransaction(this.pool, async (client) => {
            await checkGeneratingCap(client, orgId, maxGenerating);
            return client.query(SQL.request, params);
          });
    return rows[0] ? fromRow.workflow(rows[0]) : null;
  }

  async claimGenerations(
    owner: string,
    limit: number,
    leaseMs: number,
    now: Millis,
  ): Promise<ClaimedGeneration[]> {
    const { rows } = await this.pool.query(SQL.claim, [owner, limit, now, leaseMs]);
    return rows.map((row: Record<string, unknown>) => ({
      workflow: fromRow.workflow(row),
      claims: Number(row.generation_claims),
    }));
  }

  async renewGenerationLease(
    owner: string,
    workflowId: string,
    leaseMs: number,
    now: Millis,
  ): Promise<boolean> {
    const result = await this.pool.query(SQL.renew, [workflowId, owner, now, leaseMs]);
    return result.rowCount === 1;
  }

  async saveGenerationProgress(
    owner: string,
    workflowId: string,
    generation: WorkflowGeneration,
  ): Promise<boolean> {
    const result = await this.pool.query(SQL.progress, [workflowId, owner, toJson(generation)]);
    return result.rowCount === 1;
  }

  async releaseGeneration(
    owner: string,
    workflowId: string,
    generation: WorkflowGeneration,
  ): Promise<boolean> {
    const result = await this.pool.query(SQL.release, [workflowId, owner, toJson(generation)]);
    return result.rowCount === 1;
  }

  async finishGeneration(owner: string, workflow: WorkflowRecord): Promise<boolean> {
    const { rows } = await this.pool.query<{ finished: number }>(SQL.finish, [
      workflow.id,
      owner,
      workflow.title,
      workflow.description,
      workflow.status,
      toParam('trigger_config', workflow.trigger_config),
      workflow.credit_cost,
      toParam('metadata', workflow.metadata),
      workflow.version,
      toParam('definition', workflow.definition),
      toParam('generation', workflow.generation),
      workflow.updated_at,
    ]);
    return rows[0]?.finished === 1;
  }
}
