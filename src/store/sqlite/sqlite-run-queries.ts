import type {
  EventRecord,
  Millis,
  RunEventInput,
  RunEventRecord,
  RunRecord,
  RunStepRecord,
} from '../../domain/model.js';
import { isFinalStatus, type RunStatus } from '../../domain/run-state.js';
import { firstMatch, parkedWait, resumedByEndedChild, resumedByEvent } from '../parking.js';
import {
  RunAdmissionRefused,
  type ChildRunCheck,
  type HeldLease,
  type LeaseRenewal,
  type NewRun,
  type RunCheckpoint,
  type RunListFilter,
} from '../store.js';
import type { SqliteConnection, StoreSignal } from './sqlite-connection.js';
import { enqueueRunCallbacks } from './sqlite-delivery-queries.js';
import {
  checkAdmission,
  reserveRunCredits,
  reserveThrottleWindow,
  settleRunCredits,
} from './sqlite-limit-queries.js';
import {
  RUN_CODECS,
  RUN_EVENT_CODECS,
  RUN_EVENT_INPUT_CODECS,
  RUN_PROGRESS_CODECS,
  RUN_STEP_CODECS,
  EVENT_CODECS,
  assignmentsSql,
  decodeRow,
  encodeRecord,
  insertSql,
  jsonOrNull,
} from './sqlite-rows.js';

const RUNNABLE = `status IN ('pending', 'running') AND available_at IS NOT NULL`;

const {
  available_at: _availableAt,
  lease_owner: _leaseOwner,
  lease_expires_at: _leaseExpiresAt,
  ...PROGRESS_BESIDES_LEASE
} = RUN_PROGRESS_CODECS;

const SQL = {
  insertRun: `${insertSql('runs', RUN_CODECS)} RETURNING *`,
  insertStep: insertSql('run_steps', RUN_STEP_CODECS),
  insertEvent: insertSql('run_events', RUN_EVENT_INPUT_CODECS),
  runById: 'SELECT * FROM runs WHERE id = ?',
  runInOrg: 'SELECT * FROM runs WHERE id = ? AND org_id = ?',
  runByIdempotencyKey: 'SELECT * FROM runs WHERE org_id = ? AND idempotency_key = ?',
  stepsOfRun: 'SELECT * FROM run_steps WHERE run_id = ? ORDER BY step_index, attempt, started_at',
  eventsOfRun: 'SELECT * FROM run_events WHERE run_id = ? ORDER BY seq',
  lastEventOfRun: 'SELECT * FROM run_events WHERE run_id = ? ORDER BY seq DESC LIMIT 1',
  completedOutputs: `SELECT run_id, step_id, output FROM run_steps
    WHERE run_id IN (SELECT value FROM json_each(?)) AND status = 'completed'
    ORDER BY iteration, attempt, finished_at`,
  renewLease: `UPDATE runs SET lease_expires_at = @until, available_at = @until
    WHERE id = @id AND lease_epoch = @epoch AND lease_owner = @owner AND status IN ('pending', 'running')
    RETURNING id, cancel_requested`,
  // Fenced by the claim's epoch. The lease columns are written only to clear them (the run
  // parks or ends); a lease and its available_at are the claim's and renewals' to set. A
  // run ending completed or partial_complete has consumed what it reserved. A cancel
  // requested while the worker was parking the run reached an execution already done with
  // it: the run is made claimable at once, so a worker claims it and cancels it.
  checkpoint: `UPDATE runs SET ${assignmentsSql(PROGRESS_BESIDES_LEASE)},
    lease_owner = CASE WHEN @lease_owner IS NULL THEN NULL ELSE lease_owner END,
    lease_expires_at = CASE WHEN @lease_owner IS NULL THEN NULL ELSE lease_expires_at END,
    available_at = CASE WHEN @lease_owner IS NOT NULL THEN available_at
      WHEN cancel_requested = 1 AND @status IN ('pending', 'running') THEN @updated_at
      ELSE @available_at END,
    credits_consumed = CASE WHEN @status IN ('completed', 'partial_complete') THEN credits_reserved ELSE credits_consumed END
    WHERE id = @run_id AND lease_epoch = @lease_epoch AND lease_owner IS NOT NULL`,
  // An event the run already received (its run.woke names it) does not count twice.
  eventsSince: `SELECT * FROM events WHERE org_id = @org_id AND type = @type AND created_at >= @since
    AND id NOT IN (SELECT json_extract(data, '$.event_id') FROM run_events
      WHERE run_id = @run_id AND type = 'run.woke' AND json_extract(data, '$.event_id') IS NOT NULL)
    ORDER BY created_at, rowid`,
  runStatus: 'SELECT status FROM runs WHERE id = ?',
  workflowStatus: 'SELECT status, deleted_at FROM workflows WHERE id = ?',
  childCount: 'SELECT count(*) AS n FROM runs WHERE parent_run_id = ?',
  // Walks runs_parent_idx level by level; finished runs are walked through (their children
  // may still run) but not returned.
  activeDescendants: `WITH RECURSIVE tree (id, status, depth) AS (
      SELECT id, status, 1 FROM runs WHERE parent_run_id = ? AND org_id = ?
      UNION ALL
      SELECT runs.id, runs.status, tree.depth + 1 FROM runs JOIN tree ON runs.parent_run_id = tree.id
    )
    SELECT id FROM tree WHERE status IN ('pending', 'running') ORDER BY depth, id`,
  wakeParent: `UPDATE runs SET available_at = @at, wait_run_id = NULL, updated_at = @at
    WHERE id = @parent_id AND wait_run_id = @child_id`,
  releaseLease: `UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL, available_at = ?
    WHERE id = ? AND lease_epoch = ? AND lease_owner IS NOT NULL`,
  nextAvailableAt: `SELECT MIN(available_at) AS at FROM runs WHERE ${RUNNABLE} AND available_at > ?`,
  cancelNow: `UPDATE runs SET status = 'cancelled', finished_at = @now, updated_at = @now,
    lease_owner = NULL, lease_expires_at = NULL, available_at = NULL,
    wait_event_type = NULL, wait_match = NULL, wait_run_id = NULL
    WHERE id = @id RETURNING *`,
  requestCancel: 'UPDATE runs SET cancel_requested = 1, updated_at = @now WHERE id = @id RETURNING *',
  // Without INDEXED BY the planner walks the whole org by created_at to skip a sort.
  waitingForEvent: `SELECT * FROM runs INDEXED BY runs_waiting_idx
    WHERE org_id = ? AND wait_event_type = ? AND status = 'running' ORDER BY created_at, id`,
  // A run a live lease holds is its holder's; an expired lease is cleared, fencing its holder.
  resume: `UPDATE runs SET wait_event_type = NULL, wait_match = NULL, resume_payload = @payload,
    available_at = @now, updated_at = @now, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = @id AND wait_event_type = @event_type AND status = 'running'
      AND (lease_owner IS NULL OR lease_expires_at < @now)`,
} as const;

const toRun = (row: unknown): RunRecord => decodeRow(row, RUN_CODECS);

/** Run, step and timeline statements of `SqliteStore`: the engine's hot path. */
export class SqliteRunQueries {
  constructor(private readonly connection: SqliteConnection) {}

  insertRun({
    run,
    event,
    admission,
    throttle,
    child,
  }: NewRun): Promise<{ run: RunRecord; created: boolean }> {
    return this.connection.writeSoon((signals) => {
      if (run.idempotency_key !== null) {
        const existing = this.get(SQL.runByIdempotencyKey, run.org_id, run.idempotency_key);
        if (existing !== undefined) return { run: toRun(existing), created: false };
      }
      if (child) this.checkChild(run, child);
      if (admission) checkAdmission(this.connection, run.org_id, admission);
      const windowStart = throttle ? reserveThrottleWindow(this.connection, throttle, run.created_at) : null;
      const throttled = windowStart !== null && windowStart > run.created_at;
      const stored = throttled ? { ...run, available_at: windowStart } : run;
      const inserted = toRun(this.connection.statement(SQL.insertRun).get(encodeRecord(stored, RUN_CODECS)));
      if (admission && admission.credits > 0) {
        reserveRunCredits(this.connection, run.org_id, run.id, admission.credits, run.created_at);
      }
      this.insertEvent(
        throttled ? { ...event, data: { ...event.data, throttled_until: windowStart } } : event,
      );
      const claimable = !isFinalStatus(inserted.status) && inserted.available_at !== null;
      if (claimable) signals.push({ kind: 'runsAvailable' });
      return { run: inserted, created: true };
    });
  }

  /** Refuses a sub-workflow start as `NewRun.child` says; the caller's transaction makes it atomic. */
  private checkChild(run: RunRecord, { max_children }: ChildRunCheck): void {
    const workflow = this.get(SQL.workflowStatus, run.workflow_id) as
      { status: string; deleted_at: Millis | null } | undefined;
    if (workflow?.status !== 'active' || workflow.deleted_at !== null) {
      throw new RunAdmissionRefused('workflow_inactive', 0);
    }
    const parent = this.get(SQL.runById, run.parent_run_id) as
      { status: RunStatus; cancel_requested: number } | undefined;
    if (!parent || isFinalStatus(parent.status) || parent.cancel_requested === 1) {
      throw new RunAdmissionRefused('parent_stopping', 0);
    }
    const { n } = this.get(SQL.childCount, run.parent_run_id) as { n: number };
    if (n >= max_children) throw new RunAdmissionRefused('children', n);
  }

  /** The ids of the run's unfinished descendants, parents before their children. */
  listActiveDescendants(orgId: string, runId: string): string[] {
    return (this.all(SQL.activeDescendants, runId, orgId) as { id: string }[]).map((row) => row.id);
  }

  getRun(orgId: string | null, id: string): RunRecord | null {
    const row = orgId === null ? this.get(SQL.runById, id) : this.get(SQL.runInOrg, id, orgId);
    return row === undefined ? null : toRun(row);
  }

  listRuns(filter: RunListFilter): RunRecord[] {
    const where = ['org_id = ?'];
    const params: unknown[] = [filter.org_id];
    if (filter.workflow_id !== undefined) {
      where.push('workflow_id = ?');
      params.push(filter.workflow_id);
    }
    if (filter.status !== undefined) {
      where.push('status IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(filter.status));
    }
    if (filter.created_after !== undefined) {
      where.push('created_at >= ?');
      params.push(filter.created_after);
    }
    if (filter.created_before !== undefined) {
      where.push('created_at < ?');
      params.push(filter.created_before);
    }
    const sql = `SELECT * FROM runs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`;
    return this.all(sql, ...params, filter.limit, filter.offset).map(toRun);
  }

  listRunSteps(runId: string): RunStepRecord[] {
    return this.all(SQL.stepsOfRun, runId).map((row) => decodeRow(row, RUN_STEP_CODECS));
  }

  listRunEvents(runId: string): RunEventRecord[] {
    return this.all(SQL.eventsOfRun, runId).map((row) => decodeRow(row, RUN_EVENT_CODECS));
  }

  lastRunEvent(runId: string): RunEventRecord | null {
    const row = this.get(SQL.lastEventOfRun, runId);
    return row === undefined ? null : decodeRow(row, RUN_EVENT_CODECS);
  }

  loadStepOutputs(runIds: string[]): Map<string, Record<string, unknown>> {
    const outputs = new Map<string, Record<string, unknown>>(runIds.map((id) => [id, {}]));
    const rows = this.all(SQL.completedOutputs, JSON.stringify(runIds)) as {
      run_id: string;
      step_id: string;
      output: string | null;
    }[];
    // Rows come in ascending attempt order, so the latest completed attempt is written last.
    for (const row of rows) {
      const ofRun = outputs.get(row.run_id) ?? {};
      ofRun[row.step_id] = row.output === null ? null : JSON.parse(row.output);
      outputs.set(row.run_id, ofRun);
    }
    return outputs;
  }

  renewLeases(owner: string, leases: HeldLease[], leaseMs: number, now: Millis): LeaseRenewal[] {
    return this.connection.write(() => {
      const renew = this.connection.statement(SQL.renewLease);
      return leases.flatMap(({ id, lease_epoch }) => {
        const row = renew.get({ id, epoch: lease_epoch, owner, until: now + leaseMs }) as
          { id: string; cancel_requested: number } | undefined;
        return row === undefined ? [] : [{ id: row.id, cancel_requested: row.cancel_requested === 1 }];
      });
    });
  }

  checkpointRuns(checkpoints: RunCheckpoint[]): boolean[] {
    return this.connection.write((signals) =>
      checkpoints.map((submitted) => {
        const checkpoint = this.settleParkedWait(submitted);
        const { changes } = this.connection.statement(SQL.checkpoint).run({
          ...encodeRecord(checkpoint.progress, RUN_PROGRESS_CODECS),
          run_id: checkpoint.run_id,
          lease_epoch: checkpoint.lease_epoch,
        });
        if (changes === 0) return false;
        for (const step of checkpoint.steps) {
          this.connection.statement(SQL.insertStep).run(encodeRecord(step, RUN_STEP_CODECS));
        }
        for (const event of checkpoint.events) this.insertEvent(event);
        if (isFinalStatus(checkpoint.progress.status)) {
          const { finished_at, updated_at } = checkpoint.progress;
          enqueueRunCallbacks(this.connection, checkpoint.run_id, finished_at ?? updated_at, signals);
          settleRunCredits(this.connection, checkpoint.run_id, finished_at ?? updated_at);
        }
        if (checkpoint.wake_parent_run_id) {
          this.wakeParent(
            checkpoint.wake_parent_run_id,
            checkpoint.run_id,
            checkpoint.progress.updated_at,
            signals,
          );
        }
        if (checkpoint !== submitted) signals.push({ kind: 'runsAvailable' });
        return true;
      }),
    );
  }

  /**
   * A parking checkpoint, resumed instead when what it waits for already happened: an
   * event of its org and type stored since the wait began that matches, or its child run
   * ended. One writer makes this and the park one step for every other write.
   */
  private settleParkedWait(checkpoint: RunCheckpoint): RunCheckpoint {
    const wait = parkedWait(checkpoint);
    if (wait === null) return checkpoint;
    if (wait.kind === 'run') {
      const row = this.get(SQL.runStatus, wait.run_id) as { status: RunStatus } | undefined;
      return row !== undefined && isFinalStatus(row.status) ? resumedByEndedChild(checkpoint) : checkpoint;
    }
    const candidates = this.all(SQL.eventsSince, {
      org_id: wait.org_id,
      type: wait.event_type,
      since: wait.since,
      run_id: checkpoint.run_id,
    });
    const events = candidates.map((row) => decodeRow(row, EVENT_CODECS) as EventRecord);
    const event = firstMatch(wait, events);
    return event ? resumedByEvent(checkpoint, event) : checkpoint;
  }

  releaseLeases(leases: HeldLease[], now: Millis): void {
    this.connection.write((signals) => {
      const release = this.connection.statement(SQL.releaseLease);
      const released = leases.reduce(
        (count, { id, lease_epoch }) => count + release.run(now, id, lease_epoch).changes,
        0,
      );
      if (released > 0) signals.push({ kind: 'runsAvailable' });
    });
  }

  nextAvailableAt(now: Millis): Millis | null {
    const row = this.get(SQL.nextAvailableAt, now) as { at: Millis | null };
    return row.at;
  }

  cancelRun(
    orgId: string,
    runId: string,
    now: Millis,
    events: { cancelled: RunEventInput; requested: RunEventInput },
  ): { run: RunRecord; immediate: boolean } | null {
    return this.connection.write((signals) => {
      const row = this.get(SQL.runInOrg, runId, orgId);
      if (row === undefined) return null;
      const before = toRun(row);
      if (isFinalStatus(before.status)) return null;
      const leaseIsLive =
        before.lease_owner !== null && before.lease_expires_at !== null && before.lease_expires_at >= now;
      if (!leaseIsLive) {
        const run = toRun(this.connection.statement(SQL.cancelNow).get({ id: runId, now }));
        enqueueRunCallbacks(this.connection, runId, now, signals);
        settleRunCredits(this.connection, runId, now);
        this.insertEvent(events.cancelled);
        if (before.parent_run_id !== null) this.wakeParent(before.parent_run_id, runId, now, signals);
        return { run, immediate: true };
      }
      const run = toRun(this.connection.statement(SQL.requestCancel).get({ id: runId, now }));
      // Asking twice records one request, but signals again in case the first was missed.
      if (!before.cancel_requested) this.insertEvent(events.requested);
      signals.push({ kind: 'cancelRequested', runId });
      return { run, immediate: false };
    });
  }

  listRunsWaitingForEvent(orgId: string, eventType: string): RunRecord[] {
    return this.all(SQL.waitingForEvent, orgId, eventType).map(toRun);
  }

  resumeWaitingRun(
    runId: string,
    eventType: string,
    payload: unknown,
    now: Millis,
    event: RunEventInput,
  ): boolean {
    return this.connection.write((signals) => {
      const { changes } = this.connection.statement(SQL.resume).run({
        id: runId,
        event_type: eventType,
        payload: jsonOrNull(payload),
        now,
      });
      if (changes === 0) return false;
      this.insertEvent(event);
      signals.push({ kind: 'runsAvailable' });
      return true;
    });
  }

  private wakeParent(parentId: string, childId: string, at: Millis, signals: StoreSignal[]): void {
    const { changes } = this.connection
      .statement(SQL.wakeParent)
      .run({ parent_id: parentId, child_id: childId, at });
    if (changes > 0) signals.push({ kind: 'runsAvailable' });
  }

  private insertEvent(event: RunEventInput): void {
    this.connection.statement(SQL.insertEvent).run(encodeRecord(event, RUN_EVENT_INPUT_CODECS));
  }

  private get(sql: string, ...params: unknown[]): unknown {
    return this.connection.statement(sql).get(...params);
  }

  private all(sql: string, ...params: unknown[]): unknown[] {
    return this.connection.statement(sql).all(...params);
  }
}
