import type pg from 'pg';
import type {
  EventRecord,
  Millis,
  RunEventInput,
  RunEventRecord,
  RunRecord,
  RunStepRecord,
} from '../../domain/model.js';
import { isFinalStatus } from '../../domain/run-state.js';
import { RunAdmissionRefused, type ChildRunCheck, type NewRun, type RunListFilter } from '../store.js';
import { RUNS_CHANNEL } from './postgres-lease-queries.js';
import { childWaitKey, eventWaitKey } from '../parking.js';
import {
  fromRow,
  lockNames,
  nowOr,
  placeholders,
  type Queryable,
  RUN_COLUMNS,
  SQL_COLUMNS,
  toJson,
  toParam,
  withTransaction,
} from './postgres-rows.js';
import { enqueueRunCallbacks } from './postgres-delivery-queries.js';
import {
  checkAdmission,
  lockOrg,
  lockThrottle,
  reserveRunCredits,
  reserveThrottleWindow,
  settleRunCredits,
} from './postgres-limit-queries.js';

/** The channel a cancel request is announced on; the payload is the run id. */
export const CANCEL_CHANNEL = 'stepwise_cancel';

const eventValues = (event: RunEventInput): unknown[] => [event.type, toJson(event.data), event.at];

/**
 * Inserts a run and its first event in one statement, or finds the run that already
 * holds its idempotency key. A claimable new run notifies the workers in the same statement.
 */
export async function insertRun(
  db: Queryable,
  { run, event }: NewRun,
): Promise<{ run: RunRecord; created: boolean }> {
  const values = RUN_COLUMNS.map((column) => toParam(column, run[column]));
  const claimable = (run.status === 'pending' || run.status === 'running') && run.available_at !== null;
  const n = values.length;
  const { rows } = await db.query(
    `WITH inserted AS (
      INSERT INTO runs (${SQL_COLUMNS.run}) VALUES (${placeholders(n)})
      ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING ${SQL_COLUMNS.run}
    ), first_event AS (
      INSERT INTO run_events (run_id, type, data, at) SELECT id, $${n + 1}, $${n + 2}, $${n + 3} FROM inserted
    )
    SELECT inserted.*, true AS created FROM inserted${claimable ? `, (SELECT pg_notify('${RUNS_CHANNEL}', '')) AS wake` : ''}
    UNION ALL
    SELECT ${SQL_COLUMNS.run}, false AS created FROM runs
    WHERE org_id = $${RUN_COLUMNS.indexOf('org_id') + 1} AND idempotency_key = $${RUN_COLUMNS.indexOf('idempotency_key') + 1}
      AND NOT EXISTS (SELECT 1 FROM inserted)`,
    [...values, ...eventValues(event)],
  );
  const row = rows[0] ?? (await findByIdempotencyKey(db, run));
  if (!row) throw new Error(`run '${run.id}' was neither inserted nor found by its idempotency key`);
  return { run: fromRow.run(row), created: row.created === true };
}

/**
 * `insertRun` with admission checks or a throttle, in one transaction: lock the org row
 * (admission) and the throttle group, return the run already holding the idempotency key
 * if any, check the concurrency cap and the balance, count the start in its throttle
 * window, insert the run and reserve its credits. Refusals throw `RunAdmissionRefused`.
 */
export async function insertCheckedRun(
  pool: pg.Pool,
  newRun: NewRun,
  throttleClock: Millis | null,
): Promise<{ run: RunRecord; created: boolean }> {
  const { run, event, admission, throttle, child } = newRun;
  try {
    return await withTransaction(pool, async (client) => {
      if (admission) await lockOrg(client, run.org_id);
      if (throttle) await lockThrottle(client, throttle.group);
      if (run.idempotency_key !== null) {
        const existing = await findByIdempotencyKey(client, run);
        // A replay of an accepted start is answered with the first run, unchecked and uncounted.
        if (existing) return { run: fromRow.run(existing), created: false };
      }
      if (child) await checkChild(client, run, child);
      if (admission) await checkAdmission(client, run.org_id, admission);
      const windowStart = throttle ? await reserveThrottleWindow(client, throttle, throttleClock) : null;
      // Compared with the run's own time, not the database's: a start that waited into the
      // next window is released in the window that counted it, never in an earlier one.
      const throttled = windowStart !== null && windowStart > run.created_at;
      const result = await insertRun(
        client,
        throttled
          ? {
              run: { ...run, available_at: windowStart },
              event: { ...event, data: { ...event.data, throttled_until: windowStart } },
            }
          : { run, event },
      );
      // A concurrent start took the key after the check: its window count is undone.
      if (!result.created) throw new ReplayedStart(result.run);
      if (admission && admission.credits > 0) {
        await reserveRunCredits(client, run.org_id, run.id, admission.credits, run.created_at);
      }
      return result;
    });
  } catch (error) {
    if (error instanceof ReplayedStart) return { run: error.run, created: false };
    throw error;
  }
}

/**
 * Refuses a sub-workflow start as `NewRun.child` says. The workflow and parent rows are
 * locked FOR SHARE until the insert commits, so a deactivation or a cancel request either
 * waits for this start or is seen by it: none lands in between.
 */
async function checkChild(
  client: pg.PoolClient,
  run: RunRecord,
  { max_children }: ChildRunCheck,
): Promise<void> {
  const workflow = await client.query<{ active: boolean }>(
    `SELECT status = 'active' AND deleted_at IS NULL AS active FROM workflows WHERE id = $1 FOR SHARE`,
    [run.workflow_id],
  );
  if (!workflow.rows[0]?.active) throw new RunAdmissionRefused('workflow_inactive', 0);
  const parent = await client.query<{ stopping: boolean }>(
    `SELECT cancel_requested OR status NOT IN ('pending', 'running') AS stopping FROM runs WHERE id = $1 FOR SHARE`,
    [run.parent_run_id],
  );
  if (parent.rows[0]?.stopping !== false) throw new RunAdmissionRefused('parent_stopping', 0);
  const started = await client.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM runs WHERE parent_run_id = $1',
    [run.parent_run_id],
  );
  const n = started.rows[0]?.n ?? 0;
  if (n >= max_children) throw new RunAdmissionRefused('children', n);
}

/** The ids of the run's unfinished descendants, parents before their children, walking runs_parent_idx. */
export async function listActiveDescendants(db: Queryable, orgId: string, runId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `WITH RECURSIVE tree (id, status, depth) AS (
      SELECT id, status, 1 FROM runs WHERE parent_run_id = $1 AND org_id = $2
      UNION ALL
      SELECT runs.id, runs.status, tree.depth + 1 FROM runs JOIN tree ON runs.parent_run_id = tree.id
    )
    SELECT id FROM tree WHERE status IN ('pending', 'running') ORDER BY depth, id`,
    [runId, orgId],
  );
  return rows.map((row) => row.id);
}

/** Rolls `insertCheckedRun` back when the run turned out to be a replay. */
class ReplayedStart extends Error {
  constructor(readonly run: RunRecord) {
    super(`run '${run.id}' already holds the idempotency key`);
  }
}

// The statement's snapshot predates a concurrent insert it waited for on the unique
// index, so that run is only visible to a new statement.
async function findByIdempotencyKey(db: Queryable, run: RunRecord): Promise<Record<string, unknown> | null> {
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.run} FROM runs WHERE org_id = $1 AND idempotency_key = $2`,
    [run.org_id, run.idempotency_key],
  );
  return rows[0] ?? null;
}

/** A run by id, within the org unless `orgId` is null (the engine reads across orgs). */
export async function getRun(db: Queryable, orgId: string | null, id: string): Promise<RunRecord | null> {
  const { rows } = await db.query(
    orgId === null
      ? `SELECT ${SQL_COLUMNS.run} FROM runs WHERE id = $1`
      : `SELECT ${SQL_COLUMNS.run} FROM runs WHERE id = $1 AND org_id = $2`,
    orgId === null ? [id] : [id, orgId],
  );
  return rows[0] ? fromRow.run(rows[0]) : null;
}

/** The org's runs, newest first, optionally of one workflow, in some statuses, created in a range. */
export async function listRuns(db: Queryable, filter: RunListFilter): Promise<RunRecord[]> {
  const values: unknown[] = [filter.org_id];
  const where = ['org_id = $1'];
  if (filter.workflow_id !== undefined) {
    values.push(filter.workflow_id);
    where.push(`workflow_id = $${values.length}`);
  }
  if (filter.status !== undefined) {
    values.push(filter.status);
    where.push(`status = ANY($${values.length}::text[])`);
  }
  if (filter.created_after !== undefined) {
    values.push(filter.created_after);
    where.push(`created_at >= $${values.length}`);
  }
  if (filter.created_before !== undefined) {
    values.push(filter.created_before);
    where.push(`created_at < $${values.length}`);
  }
  values.push(filter.limit, filter.offset);
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.run} FROM runs WHERE ${where.join(' AND ')}
      ORDER BY created_at DESC, id DESC LIMIT $${values.length - 1} OFFSET $${values.length}`,
    values,
  );
  return rows.map(fromRow.run);
}

/** A run's step attempts, by step and attempt. */
export async function listRunSteps(db: Queryable, runId: string): Promise<RunStepRecord[]> {
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.step} FROM run_steps WHERE run_id = $1 ORDER BY step_index, attempt, started_at, id`,
    [runId],
  );
  return rows.map(fromRow.runStep);
}

/** A run's timeline, oldest first. */
export async function listRunEvents(db: Queryable, runId: string): Promise<RunEventRecord[]> {
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.runEvent} FROM run_events WHERE run_id = $1 ORDER BY seq`,
    [runId],
  );
  return rows.map(fromRow.runEvent);
}

/** A run's newest event, read backwards from `run_events_run_idx`. */
export async function lastRunEvent(db: Queryable, runId: string): Promise<RunEventRecord | null> {
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.runEvent} FROM run_events WHERE run_id = $1 ORDER BY seq DESC LIMIT 1`,
    [runId],
  );
  return rows[0] === undefined ? null : fromRow.runEvent(rows[0]);
}

/**
 * Cancels at once when no live lease holds the run, else flags it and notifies its
 * worker. The row lock orders this against a concurrent claim or checkpoint; whether the
 * lease is live is decided on `leaseClock` (null: the database's clock). A parent that may
 * be parking on the run is ordered by its advisory lock (see `coordinationKeys`).
 */
export async function cancelRun(
  pool: pg.Pool,
  orgId: string,
  runId: string,
  now: Millis,
  leaseClock: Millis | null,
  events: { cancelled: RunEventInput; requested: RunEventInput },
): Promise<{ run: RunRecord; immediate: boolean } | null> {
  return withTransaction(pool, async (client) => {
    const parent = await client.query<{ parent_run_id: string | null }>(
      'SELECT parent_run_id FROM runs WHERE id = $1 AND org_id = $2',
      [runId, orgId],
    );
    const parentRunId = parent.rows[0]?.parent_run_id;
    if (parentRunId) await lockNames(client, [childWaitKey(parentRunId)]);
    const locked = await client.query(
      `SELECT ${SQL_COLUMNS.run}, lease_expires_at >= ${nowOr('$3')} AS lease_live
        FROM runs WHERE id = $1 AND org_id = $2 FOR UPDATE`,
      [runId, orgId, leaseClock],
    );
    const current = locked.rows[0] ? fromRow.run(locked.rows[0]) : null;
    if (!current || isFinalStatus(current.status)) return null;
    const leased = current.lease_owner !== null && locked.rows[0].lease_live === true;
    const { rows } = leased
      ? await client.query(
          `WITH requested AS (
            UPDATE runs SET cancel_requested = true, updated_at = $2 WHERE id = $1 RETURNING ${SQL_COLUMNS.run}
          ), event AS (
            INSERT INTO run_events (run_id, type, data, at) SELECT id, $3, $4, $5 FROM requested WHERE $6
          )
          SELECT requested.* FROM requested, (SELECT pg_notify('${CANCEL_CHANNEL}', $1)) AS notified`,
          // Asking twice records one request, but notifies again in case the first was missed.
          [runId, now, ...eventValues(events.requested), !current.cancel_requested],
        )
      : await client.query(
          `WITH cancelled AS (
            UPDATE runs SET status = 'cancelled', finished_at = $2, updated_at = $2, available_at = NULL,
              lease_owner = NULL, lease_expires_at = NULL, wait_event_type = NULL, wait_match = NULL, wait_run_id = NULL
            WHERE id = $1 RETURNING ${SQL_COLUMNS.run}
          ), event AS (
            INSERT INTO run_events (run_id, type, data, at) SELECT id, $3, $4, $5 FROM cancelled
          ), parent AS (
            UPDATE runs SET available_at = $2, wait_run_id = NULL, updated_at = $2
            FROM cancelled WHERE runs.id = cancelled.parent_run_id AND runs.wait_run_id = cancelled.id
            RETURNING runs.id
          )
          SELECT cancelled.*, (SELECT count(pg_notify('${RUNS_CHANNEL}', '')) FROM parent) AS woke FROM cancelled`,
          [runId, now, ...eventValues(events.cancelled)],
        );
    // A run cancelled while no worker held it never reaches the engine's final checkpoint,
    // so its callbacks are queued here, in the same transaction.
    if (!leased) {
      await enqueueRunCallbacks(client, [runId]);
      await settleRunCredits(client, [runId]);
    }
    return { run: fromRow.run(rows[0]), immediate: !leased };
  });
}

/**
 * Records an incoming event under the advisory lock that parking on its type takes, so a
 * run parking at the same moment either sees the event or is parked before it is stored.
 */
export async function insertEvent(pool: pg.Pool, event: EventRecord): Promise<void> {
  await withTransaction(pool, async (client) => {
    await lockNames(client, [eventWaitKey(event.org_id, event.type)]);
    await client.query(`INSERT INTO events (${SQL_COLUMNS.event}) VALUES ($1, $2, $3, $4, $5)`, [
      event.id,
      event.org_id,
      event.type,
      toJson(event.data),
      event.created_at,
    ]);
  });
}

/** The org's unfinished runs suspended on `eventType`, oldest first. */
export async function listRunsWaitingForEvent(
  db: Queryable,
  orgId: string,
  eventType: string,
): Promise<RunRecord[]> {
  const { rows } = await db.query(
    `SELECT ${SQL_COLUMNS.run} FROM runs
      WHERE org_id = $1 AND wait_event_type = $2 AND status IN ('pending', 'running')
      ORDER BY created_at, id`,
    [orgId, eventType],
  );
  return rows.map(fromRow.run);
}

/**
 * Wakes a parked run still waiting on `eventType`, writes its event and notifies the
 * workers, in one statement. A run under a live lease (on `leaseClock`; null: the
 * database's clock) is left to its holder; an expired lease is cleared, fencing its holder.
 */
export async function resumeWaitingRun(
  db: Queryable,
  runId: string,
  eventType: string,
  payload: unknown,
  now: Millis,
  leaseClock: Millis | null,
  event: RunEventInput,
): Promise<boolean> {
  const { rows } = await db.query(
    `WITH woken AS (
      UPDATE runs SET wait_event_type = NULL, wait_match = NULL, resume_payload = $3, available_at = $4,
        updated_at = $4, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND wait_event_type = $2 AND status IN ('pending', 'running')
        AND (lease_owner IS NULL OR lease_expires_at < ${nowOr('$8')})
      RETURNING id
    ), event AS (
      INSERT INTO run_events (run_id, type, data, at) SELECT id, $5, $6, $7 FROM woken
    )
    SELECT woken.id FROM woken, (SELECT pg_notify('${RUNS_CHANNEL}', '')) AS notified`,
    [runId, eventType, toJson(payload), now, ...eventValues(event), leaseClock],
  );
  return rows.length > 0;
}
