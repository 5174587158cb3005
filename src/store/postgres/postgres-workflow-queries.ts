import { DatabaseError } from 'pg';
import { conflict } from '../../domain/errors.js';
import type { Millis, WorkflowDefinition, WorkflowRecord } from '../../domain/model.js';
import {
  fromRow,
  placeholders,
  type Queryable,
  SQL_COLUMNS,
  toParam,
  WORKFLOW_COLUMNS,
} from './postgres-rows.js';
import { GENERATIONS_CHANNEL } from './postgres-generation-queries.js';

const UNIQUE_VIOLATION = '23505';
const SLUG_INDEX = 'workflows_org_slug_key';

// Both writes can collide with another live workflow's slug; that is the caller's 409, not a 500.
async function guardSlug<T>(workflow: WorkflowRecord, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (
      error instanceof DatabaseError &&
      error.code === UNIQUE_VIOLATION &&
      error.constraint === SLUG_INDEX
    ) {
      throw conflict('SLUG_TAKEN', `slug '${workflow.slug}' is already used in this org`);
    }
    throw error;
  }
}

/**
 * Inserts the workflow and its current version in one statement; one created `generating`
 * wakes the generation runners. Throws `SLUG_TAKEN` (409).
 */
export async function insertWorkflow(db: Queryable, workflow: WorkflowRecord): Promise<void> {
  const wake =
    workflow.status === 'generating' ? `, (SELECT pg_notify('${GENERATIONS_CHANNEL}', '')) AS wake` : '';
  await guardSlug(workflow, () =>
    db.query(
      `WITH inserted AS (
        INSERT INTO workflows (${SQL_COLUMNS.workflow}) VALUES (${placeholders(WORKFLOW_COLUMNS.length)})
        RETURNING id, version, definition, updated_at
      )
      INSERT INTO workflow_versions (workflow_id, version, definition, created_at)
      SELECT id, version, definition, updated_at FROM inserted${wake}`,
      WORKFLOW_COLUMNS.map((column) => toParam(column, workflow[column])),
    ),
  );
}

/**
 * Replaces the workflow when its stored version is `expectedVersion`, and stores its
 * definition as `workflow.version` unless that version exists already (an edit that kept the version).
 */
export async function updateWorkflow(
  db: Queryable,
  workflow: WorkflowRecord,
  expectedVersion: number,
): Promise<boolean> {
  const replaced = WORKFLOW_COLUMNS.filter(
    (column) => column !== 'id' && column !== 'org_id' && column !== 'created_at',
  );
  const assignments = replaced.map((column, i) => `"${column}" = $${i + 4}`);
  const values = [
    workflow.id,
    workflow.org_id,
    expectedVersion,
    ...replaced.map((column) => toParam(column, workflow[column])),
  ];
  const { rows } = await guardSlug(workflow, () =>
    db.query<{ updated: number }>(
      `WITH updated AS (
        UPDATE workflows SET ${assignments.join(', ')}
        WHERE id = $1 AND org_id = $2 AND version = $3 AND deleted_at IS NULL AND status <> 'generating'
        RETURNING id, version, definition, updated_at
      ), versioned AS (
        INSERT INTO workflow_versions (workflow_id, version, definition, created_at)
        SELECT id, version, definition, updated_at FROM updated
        ON CONFLICT (workflow_id, version) DO NOTHING
      )
      SELECT count(*) AS updated FROM updated`,
      values,
    ),
  );
  return rows[0]?.updated === 1;
}

/** One of the org's live workflows by id or by slug. */
export async function getWorkflow(
  db: Queryable,
  orgId: string,
  by: 'id' | 'slug',
  value: string,
): Promise<WorkflowRecord | null> {
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.workflow} FROM workflows WHERE org_id = $1 AND ${by} = $2 AND deleted_at IS NULL`,
    [orgId, value],
  );
  return rows[0] ? fromRow.workflow(rows[0]) : null;
}

/** The org's live workflows, newest first. */
export async function listWorkflows(
  db: Queryable,
  orgId: string,
  page: { limit: number; offset: number },
): Promise<WorkflowRecord[]> {
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.workflow} FROM workflows WHERE org_id = $1 AND deleted_at IS NULL
      ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
    [orgId, page.limit, page.offset],
  );
  return rows.map(fromRow.workflow);
}

/** The org's active workflows triggered by events of `eventType`, oldest first. */
export async function listEventTriggeredWorkflows(
  db: Queryable,
  orgId: string,
  eventType: string,
): Promise<WorkflowRecord[]> {
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.workflow} FROM workflows
      WHERE org_id = $1 AND deleted_at IS NULL AND status = 'active'
        AND trigger_config->>'type' = 'event' AND trigger_config->>'event_type' = $2
      ORDER BY created_at, id`,
    [orgId, eventType],
  );
  return rows.map(fromRow.workflow);
}

/** A stored version's definition, deleted workflow or not (runs pinned to it still need it). */
export async function getWorkflowVersion(
  db: Queryable,
  workflowId: string,
  version: number,
): Promise<WorkflowDefinition | null> {
  const { rows } = await db.query<{ definition: WorkflowDefinition }>(
    'SELECT definition FROM workflow_versions WHERE workflow_id = $1 AND version = $2',
    [workflowId, version],
  );
  return rows[0]?.definition ?? null;
}

/** Soft-deletes: the row and its versions stay for the history of its runs. */
export async function deleteWorkflow(db: Queryable, orgId: string, id: string, at: Millis): Promise<boolean> {
  const result = await db.query(
    'UPDATE workflows SET deleted_at = $3, updated_at = $3 WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL',
    [orgId, id, at],
  );
  return result.rowCount === 1;
}
