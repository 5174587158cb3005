import type pg from 'pg';
import type { EventRecord, Millis, RunRecord } from '../../domain/model.js';
import { isFinalStatus } from '../../domain/run-state.js';
import { coordinationKeys, firstMatch, parkedWait, resumedByEndedChild, resumedByEvent } from '../parking.js';
import type { HeldLease, LeaseRenewal, RunCheckpoint } from '../store.js';
import {
  columnList,
  fromRow,
  lockNames,
  nowOr,
  PROGRESS_COLUMN_TYPES,
  type Queryable,
  RUN_COLUMNS,
  toJson,
  withTransaction,
} from './postgres-rows.js';
import { notifyDeliveriesSql, runCallbacksInsertSql } from './postgres-delivery-queries.js';
import { runCreditsSettleSql } from './postgres-limit-queries.js';

/** The channel a transaction notifies when it made runs claimable; the payload is empty so notifications coalesce. */
export const RUNS_CHANNEL = 'stepwise_runs';

const RUNNABLE = `status IN ('pending', 'running') AND available_at IS NOT NULL`;

/**
 * The claim statement; parameters: owner, limit, now (null: the database's clock), lease ms.
 * Fair between orgs: a run's queue is its (org, priority). `queues` lists the queues with
 * runnable runs by a loose index scan of `runs_org_claim_idx` (one probe per queue, not a
 * walk of the backlog); `heads` keeps those with a run due now; `served` takes at most
 * `limit` orgs, those whose oldest due run has waited longest; each served org gets
 * `share` = ceil(limit / orgs) of its due runs, highest priority first, locked with SKIP
 * LOCKED as they are read; they are taken turn by turn (every org's first, then every
 * org's second, …). Every scan is an index range scan of `runs_org_claim_idx`; sorts only
 * see the rows of the served queues, at most `limit` per queue. An org with fewer due runs
 * than its share leaves the rest of the limit to the next claim.
 * Each claim bumps `lease_epoch`, the token that fences the claim's later writes.
 */
export const CLAIM_RUNS_SQL = `
WITH RECURSIVE queues AS (
  (SELECT org_id, priority FROM runs WHERE ${RUNNABLE} ORDER BY org_id, priority LIMIT 1)
  UNION ALL
  SELECT next.org_id, next.priority FROM queues CROSS JOIN LATERAL (
    SELECT org_id, priority FROM runs
    WHERE ${RUNNABLE} AND (org_id, priority) > (queues.org_id, queues.priority)
    ORDER BY org_id, priority LIMIT 1
  ) AS next
), heads AS (
  SELECT queues.org_id, queues.priority, head.available_at FROM queues CROSS JOIN LATERAL (
    SELECT available_at FROM runs
    WHERE ${RUNNABLE} AND org_id = queues.org_id AND priority = queues.priority AND available_at <= ${nowOr('$3')}
    ORDER BY available_at LIMIT 1
  ) AS head
), served AS (
  SELECT org_id FROM heads GROUP BY org_id ORDER BY min(available_at) LIMIT $2::int
), share AS (
  SELECT ceil($2::int::numeric / greatest(count(*), 1))::int AS per_org FROM served
), candidates AS (
  SELECT due.id, due.available_at,
    row_number() OVER (PARTITION BY heads.org_id ORDER BY heads.priority DESC, due.available_at) AS turn
  FROM heads JOIN served USING (org_id) CROSS JOIN LATERAL (
    SELECT id, available_at FROM runs
    WHERE ${RUNNABLE} AND org_id = heads.org_id AND priority = heads.priority AND available_at <= ${nowOr('$3')}
    ORDER BY available_at
    LIMIT (SELECT per_org FROM share)
    FOR UPDATE SKIP LOCKED
  ) AS due
), claimed AS (
  SELECT id, available_at, turn FROM candidates
  WHERE turn <= (SELECT per_org FROM share)
  ORDER BY turn, available_at
  LIMIT $2::int
)
UPDATE runs SET status = 'running', lease_owner = $1, lease_expires_at = ${nowOr('$3')} + $4::bigint,
  available_at = ${nowOr('$3')} + $4::bigint, lease_epoch = runs.lease_epoch + 1
FROM claimed
WHERE runs.id = claimed.id
RETURNING ${columnList(RUN_COLUMNS, 'runs')}, claimed.available_at AS claimed_available_at, claimed.turn AS claimed_turn`;

/** Leases up to `limit` runnable runs, shared fairly between orgs (see `CLAIM_RUNS_SQL`), in one statement. */
export async function claimRunnableRuns(
  db: Queryable,
  owner: string,
  limit: number,
  leaseMs: number,
  now: Millis | null,
): Promise<RunRecord[]> {
  const { rows } = await db.query({
    name: 'stepwise_claim_runs',
    text: CLAIM_RUNS_SQL,
    values: [owner, limit, now, leaseMs],
  });
  // RETURNING follows the join's order, not the claim's: restore turn by turn, oldest first.
  rows.sort(
    (a, b) =>
      Number(a.claimed_turn) - Number(b.claimed_turn) || a.claimed_available_at - b.claimed_available_at,
  );
  return rows.map(fromRow.run);
}

/** Extends the leases still held under their epochs; a run missing from the answer was lost. */
export async function renewLeases(
  db: Queryable,
  owner: string,
  leases: HeldLease[],
  leaseMs: number,
  now: Millis | null,
): Promise<LeaseRenewal[]> {
  if (leases.length === 0) return [];
  const { rows } = await db.query<LeaseRenewal>({
    name: 'stepwise_renew_leases',
    text: `UPDATE runs SET lease_expires_at = ${nowOr('$4')} + $5::bigint, available_at = ${nowOr('$4')} + $5::bigint
      FROM unnest($2::text[], $3::bigint[]) AS held(id, epoch)
      WHERE runs.id = held.id AND runs.lease_epoch = held.epoch AND runs.lease_owner = $1
        AND runs.status IN ('pending', 'running')
      RETURNING runs.id, runs.cancel_requested`,
    values: [owner, leases.map((l) => l.id), leases.map((l) => l.lease_epoch), now, leaseMs],
  });
  return rows;
}

/** Hands runs back claimable at `now`, and wakes the workers when any was released. */
export async function releaseLeases(db: Queryable, leases: HeldLease[], now: Millis | null): Promise<void> {
  if (leases.length === 0) return;
  await db.query(
    `WITH released AS (
      UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL, available_at = ${nowOr('$3')}
      FROM unnest($1::text[], $2::bigint[]) AS held(id, epoch)
      WHERE runs.id = held.id AND runs.lease_epoch = held.epoch AND runs.lease_owner IS NOT NULL
      RETURNING runs.id
    )
    SELECT pg_notify('${RUNS_CHANNEL}', '') FROM released LIMIT 1`,
    [leases.map((l) => l.id), leases.map((l) => l.lease_epoch), now],
  );
}

/** The earliest future `available_at` of a runnable run, read from the claim index. */
export async function nextAvailableAt(db: Queryable, now: Millis): Promise<Millis | null> {
  const { rows } = await db.query<{ next: Millis | null }>(
    `SELECT min(available_at) AS next FROM runs
      WHERE status IN ('pending', 'running') AND available_at IS NOT NULL AND available_at > $1`,
    [now],
  );
  return rows[0]?.next ?? null;
}

/** The output of the latest completed attempt of each step, per run; every asked run gets an entry. */
export async function loadStepOutputs(
  db: Queryable,
  runIds: string[],
): Promise<Map<string, Record<string, unknown>>> {
  const outputs = new Map<string, Record<string, unknown>>(runIds.map((id) => [id, {}]));
  if (runIds.length === 0) return outputs;
  const { rows } = await db.query<{ run_id: string; step_id: string; output: unknown }>(
    `SELECT DISTINCT ON (run_id, step_id) run_id, step_id, output FROM run_steps
      WHERE run_id = ANY($1::text[]) AND status = 'completed'
      ORDER BY run_id, step_id, iteration DESC, attempt DESC`,
    [runIds],
  );
  for (const row of rows) {
    const forRun = outputs.get(row.run_id);
    if (forRun) forRun[row.step_id] = row.output ?? null;
  }
  return outputs;
}

// A checkpoint writes the lease columns only to clear them (it parks or ends the run): a
// lease and its `available_at` are the claim's and the renewals' to set. A cancel requested
// while the worker was parking the run (a delay, an event wait) reached an execution that
// had already finished with it: the run is made claimable at once instead, so a worker
// claims it, sees the request and cancels it.
const LEASE_SET = `lease_owner = CASE WHEN v.lease_owner IS NULL THEN NULL ELSE runs.lease_owner END,
  lease_expires_at = CASE WHEN v.lease_owner IS NULL THEN NULL ELSE runs.lease_expires_at END,
  available_at = CASE WHEN v.lease_owner IS NOT NULL THEN runs.available_at
    WHEN runs.cancel_requested AND v.status IN ('pending', 'running') THEN v.updated_at
    ELSE v.available_at END`;
const LEASE_COLUMNS = new Set(['lease_owner', 'lease_expires_at', 'available_at']);
const PROGRESS_SET = Object.keys(PROGRESS_COLUMN_TYPES)
  .filter((column) => !LEASE_COLUMNS.has(column))
  .map((column) => `${column} = v.${column}`)
  .concat(LEASE_SET)
  .join(', ');
const PROGRESS_TYPES = Object.entries(PROGRESS_COLUMN_TYPES)
  .map(([column, type]) => `${column} ${type}`)
  .join(', ');

// One statement, so a batch costs one round trip and one commit whatever its size.
// Steps and events are written only for runs whose lease check passed (`cp` names the
// checkpoint's run); a waiting parent is woken only by a child whose update succeeded.
// A run that became final gets its callback deliveries and its credit settlement here
// (see runCallbacksInsertSql, runCreditsSettleSql), and dispatchers are notified of them.
// Workers are notified when a parent wakes, and when a run leaves its worker still
// runnable (a retry or a delay), so every worker re-arms its wake-up timer.
// The epoch test is IS NOT DISTINCT FROM so the planner cannot join on it: most runs of a
// batch share an epoch, and a merge join on such a key compared every run with every other (n²).
const CHECKPOINT_SQL = `
WITH progress AS (
  UPDATE runs SET ${PROGRESS_SET}, credits_consumed = CASE WHEN v.status IN ('completed', 'partial_complete')
    THEN runs.credits_reserved ELSE runs.credits_consumed END
  FROM jsonb_to_recordset($1::jsonb) AS v(id text, lease_epoch bigint, ${PROGRESS_TYPES})
  WHERE runs.id = v.id AND runs.lease_epoch IS NOT DISTINCT FROM v.lease_epoch AND runs.lease_owner IS NOT NULL
  RETURNING runs.id, runs.status, runs.available_at, runs.lease_owner, runs.org_id, runs.workflow_id,
    runs.finished_at, runs.updated_at, runs.credits_reserved
), steps AS (
  INSERT INTO run_steps (id, run_id, step_id, step_index, iteration, attempt, tool, status, input, output, error,
    started_at, finished_at)
  SELECT s.id, s.run_id, s.step_id, s.step_index, s.iteration, s.attempt, s.tool, s.status,
    COALESCE(s.input, 'null'::jsonb), s.output, s.error, s.started_at, s.finished_at
  FROM jsonb_to_recordset($2::jsonb) AS s(cp text, id text, run_id text, step_id text, step_index integer,
    iteration integer, attempt integer, tool text, status text, input jsonb, output jsonb, error jsonb,
    started_at bigint, finished_at bigint)
  WHERE s.cp IN (SELECT id FROM progress)
  ON CONFLICT (id) DO NOTHING
), events AS (
  INSERT INTO run_events (run_id, type, data, at)
  SELECT e.run_id, e.type, COALESCE(e.data, '{}'::jsonb), e.at
  FROM ROWS FROM (jsonb_to_recordset($3::jsonb) AS (cp text, run_id text, type text, data jsonb, at bigint))
    WITH ORDINALITY AS e(cp, run_id, type, data, at, ord)
  WHERE e.cp IN (SELECT id FROM progress)
  ORDER BY e.ord
), callbacks AS (${runCallbacksInsertSql('progress')}
), callbacks_wake AS (${notifyDeliveriesSql('callbacks')}
), credits AS (${runCreditsSettleSql('progress')}
), parents AS (
  UPDATE runs SET available_at = w.at, wait_run_id = NULL, updated_at = w.at
  FROM jsonb_to_recordset($4::jsonb) AS w(parent text, child text, at bigint)
  WHERE runs.id = w.parent AND runs.wait_run_id = w.child
    AND w.child IN (SELECT id FROM progress) AND runs.id NOT IN (SELECT id FROM progress)
  RETURNING runs.id
), wake AS (
  SELECT pg_notify('${RUNS_CHANNEL}', '') FROM (
    SELECT 1 FROM parents
    UNION ALL
    SELECT 1 FROM progress
    WHERE lease_owner IS NULL AND available_at IS NOT NULL AND status IN ('pending', 'running')
    LIMIT 1
  ) AS claimable
)
SELECT ARRAY(SELECT id FROM progress) AS ids, (SELECT count(*) FROM wake) AS notified,
  (SELECT notified FROM callbacks_wake) AS notified_deliveries`;

/**
 * Applies checkpoints as one group commit. The usual batch (each run once, none parking on
 * a wait) is a single statement. A batch that parks runs on an event or a child run, or ends
 * a child whose parent may wait, runs in a transaction that first takes the advisory locks
 * of those waits (see `coordinationKeys`), so what could wake a parking run is either seen
 * by the park or sees the parked run. When a run appears more than once, its checkpoints
 * apply in order, one statement per repetition.
 * @returns for each checkpoint, whether its lease still held.
 */
export async function checkpointRuns(pool: pg.Pool, checkpoints: RunCheckpoint[]): Promise<boolean[]> {
  if (checkpoints.length === 0) return [];
  const keys = coordinationKeys(checkpoints);
  const applied = new Map<RunCheckpoint, boolean>();
  const run = async (target: Queryable) => {
    if (keys.length > 0) await lockNames(target, keys);
    for (const round of splitRounds(checkpoints)) {
      // One statement writes the whole round from one snapshot: a child ending in it would
      // not see its parent parking in it, so the parent sees the child's end here instead.
      const ending = new Set(round.filter((c) => isFinalStatus(c.progress.status)).map((c) => c.run_id));
      const settled = await Promise.all(
        round.map((checkpoint) => settleParkedWait(target, checkpoint, ending)),
      );
      const ids = await applyRound(target, settled);
      for (const checkpoint of round) applied.set(checkpoint, ids.has(checkpoint.run_id));
    }
  };
  const single = keys.length === 0 && splitRounds(checkpoints).length === 1;
  await (single ? run(pool) : withTransaction(pool, run));
  return checkpoints.map((checkpoint) => applied.get(checkpoint) ?? false);
}

/**
 * A parking checkpoint, resumed instead when what it waits for already happened: an event
 * of its org and type stored since the wait began that matches, or its child run ended.
 */
async function settleParkedWait(
  db: Queryable,
  checkpoint: RunCheckpoint,
  endingAlongside: ReadonlySet<string>,
): Promise<RunCheckpoint> {
  const wait = parkedWait(checkpoint);
  if (wait === null) return checkpoint;
  if (wait.kind === 'run') {
    if (endingAlongside.has(wait.run_id)) return resumedByEndedChild(checkpoint);
    const { rows } = await db.query<{ status: string }>('SELECT status FROM runs WHERE id = $1', [
      wait.run_id,
    ]);
    const status = rows[0]?.status;
    return status !== undefined && isFinalStatus(status as RunRecord['status'])
      ? resumedByEndedChild(checkpoint)
      : checkpoint;
  }
  // An event the run already received (its run.woke names it) does not count twice.
  const { rows } = await db.query<EventRecord>(
    `SELECT id, org_id, type, data, created_at FROM events
      WHERE org_id = $1 AND type = $2 AND created_at >= $3
        AND id NOT IN (SELECT data->>'event_id' FROM run_events
          WHERE run_id = $4 AND type = 'run.woke' AND data ? 'event_id')
      ORDER BY created_at, id`,
    [wait.org_id, wait.event_type, wait.since, checkpoint.run_id],
  );
  const event = firstMatch(wait, rows);
  return event ? resumedByEvent(checkpoint, event) : checkpoint;
}

/** Groups checkpoints so no run appears twice in a group; the n-th checkpoint of a run goes to group n. */
function splitRounds(checkpoints: RunCheckpoint[]): RunCheckpoint[][] {
  const rounds: RunCheckpoint[][] = [];
  const seen = new Map<string, number>();
  for (const checkpoint of checkpoints) {
    const index = seen.get(checkpoint.run_id) ?? 0;
    seen.set(checkpoint.run_id, index + 1);
    (rounds[index] ??= []).push(checkpoint);
  }
  return rounds;
}

async function applyRound(db: Queryable, checkpoints: RunCheckpoint[]): Promise<Set<string>> {
  const progress = checkpoints.map((c) => ({ ...c.progress, id: c.run_id, lease_epoch: c.lease_epoch }));
  const steps = checkpoints.flatMap((c) => c.steps.map((step) => ({ ...step, cp: c.run_id })));
  const events = checkpoints.flatMap((c) => c.events.map((event) => ({ ...event, cp: c.run_id })));
  const wakes = checkpoints.flatMap((c) =>
    c.wake_parent_run_id
      ? [{ parent: c.wake_parent_run_id, child: c.run_id, at: c.progress.updated_at }]
      : [],
  );
  const { rows } = await db.query<{ ids: string[] }>({
    name: 'stepwise_checkpoint_runs',
    text: CHECKPOINT_SQL,
    values: [toJson(progress), toJson(steps), toJson(events), toJson(wakes)],
  });
  return new Set(rows[0]?.ids ?? []);
}
