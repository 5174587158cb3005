import { conflict } from '../../domain/errors.js';
import type { Millis } from '../../domain/model.js';
import type { ScheduleFiring, ScheduleRecord } from '../../domain/schedule.js';
import type { ScheduleAdvance, ScheduleListFilter, ScheduleStore } from '../schedule-store.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { type Codecs, decodeRow, encodeRecord, insertSql } from './sqlite-rows.js';

const SCHEDULE_CODECS: Codecs<ScheduleRecord> = {
  id: 'value',
  org_id: 'value',
  workflow_id: 'value',
  origin: 'value',
  kind: 'value',
  cron: 'value',
  timezone: 'value',
  run_at: 'value',
  next_fire_at: 'value',
  catch_up: 'value',
  overlap: 'value',
  input: 'json',
  status: 'value',
  status_reason: 'value',
  created_at: 'value',
  updated_at: 'value',
};

const FIRING_CODECS: Codecs<ScheduleFiring> = {
  schedule_id: 'value',
  fire_at: 'value',
  run_id: 'value',
  created_at: 'value',
};

// What an update may change: a schedule never moves to another org, workflow or origin.
const FIXED_COLUMNS = new Set(['id', 'org_id', 'workflow_id', 'origin', 'created_at']);
const REPLACED = Object.keys(SCHEDULE_CODECS)
  .filter((column) => !FIXED_COLUMNS.has(column))
  .map((column) => `"${column}" = @${column}`)
  .join(', ');

const SQL = {
  insert: `${insertSql('schedules', SCHEDULE_CODECS)} ON CONFLICT (id) DO NOTHING`,
  byId: 'SELECT * FROM schedules WHERE org_id = ? AND id = ?',
  update: `UPDATE schedules SET ${REPLACED}, lease_owner = NULL, lease_expires_at = NULL
    WHERE org_id = @org_id AND id = @id`,
  deleteFirings: `DELETE FROM schedule_firings
    WHERE schedule_id = (SELECT id FROM schedules WHERE org_id = ? AND id = ?)`,
  delete: 'DELETE FROM schedules WHERE org_id = ? AND id = ?',
  // The subquery's WHERE and ORDER BY follow schedules_due_idx, so a claim reads only due rows.
  claim: `UPDATE schedules SET lease_owner = @owner, lease_expires_at = @until
    WHERE id IN (
      SELECT id FROM schedules
      WHERE status = 'active' AND next_fire_at <= @now AND (lease_expires_at IS NULL OR lease_expires_at <= @now)
      ORDER BY next_fire_at LIMIT @limit
    ) RETURNING *`,
  advance: `UPDATE schedules SET next_fire_at = @next_fire_at, status = @status, status_reason = @status_reason,
    updated_at = @updated_at, lease_owner = CASE WHEN @hold_until IS NULL THEN NULL ELSE lease_owner END,
    lease_expires_at = @hold_until
    WHERE id = @id AND lease_owner = @owner`,
  nextDueAt: `SELECT MIN(next_fire_at) AS at FROM schedules WHERE status = 'active' AND next_fire_at > ?`,
  recordFiring: `${insertSql('schedule_firings', FIRING_CODECS)} ON CONFLICT (schedule_id, fire_at) DO NOTHING`,
  firings: 'SELECT * FROM schedule_firings WHERE schedule_id = ? ORDER BY fire_at DESC LIMIT ?',
} as const;

const toSchedule = (row: unknown): ScheduleRecord => decodeRow(row, SCHEDULE_CODECS);

/** The ScheduleStore of the SQLite backend: every write through the single writer connection. */
export class SqliteScheduleQueries implements ScheduleStore {
  constructor(private readonly connection: SqliteConnection) {}

  async createSchedule(schedule: ScheduleRecord): Promise<void> {
    if (this.run(SQL.insert, encodeRecord(schedule, SCHEDULE_CODECS)) === 0) {
      throw conflict('SCHEDULE_EXISTS', `schedule '${schedule.id}' already exists`);
    }
  }

  async getSchedule(orgId: string, id: string): Promise<ScheduleRecord | null> {
    const row = this.connection.statement(SQL.byId).get(orgId, id);
    return row === undefined ? null : toSchedule(row);
  }

  async listSchedules(filter: ScheduleListFilter): Promise<ScheduleRecord[]> {
    const byWorkflow = filter.workflow_id === undefined ? '' : 'AND workflow_id = @workflow_id';
    const sql = `SELECT * FROM schedules WHERE org_id = @org_id ${byWorkflow}
      ORDER BY created_at DESC, id DESC LIMIT @limit OFFSET @offset`;
    return this.connection
      .statement(sql)
      .all({ ...filter, workflow_id: filter.workflow_id ?? null })
      .map(toSchedule);
  }

  async updateSchedule(schedule: ScheduleRecord): Promise<boolean> {
    return this.run(SQL.update, encodeRecord(schedule, SCHEDULE_CODECS)) > 0;
  }

  async deleteSchedule(orgId: string, id: string): Promise<boolean> {
    return this.connection.write(() => {
      this.run(SQL.deleteFirings, orgId, id);
      return this.run(SQL.delete, orgId, id) > 0;
    });
  }

  async claimDueSchedules(
    owner: string,
    limit: number,
    leaseMs: number,
    now: Millis,
  ): Promise<ScheduleRecord[]> {
    const rows = this.connection.write(() =>
      this.connection.statement(SQL.claim).all({ owner, until: now + leaseMs, now, limit }),
    );
    // RETURNING follows the update's order, not the subquery's: restore earliest-first.
    return rows.map(toSchedule).sort((a, b) => (a.next_fire_at ?? 0) - (b.next_fire_at ?? 0));
  }

  async advanceSchedule(id: string, owner: string, advance: ScheduleAdvance): Promise<boolean> {
    return this.run(SQL.advance, { ...advance, id, owner }) > 0;
  }

  async nextDueAt(now: Millis): Promise<Millis | null> {
    return (this.connection.statement(SQL.nextDueAt).get(now) as { at: Millis | null }).at;
  }

  async recordFiring(scheduleId: string, fireAt: Millis, runId: string | null, at: Millis): Promise<boolean> {
    const firing: ScheduleFiring = {
      schedule_id: scheduleId,
      fire_at: fireAt,
      run_id: runId,
      created_at: at,
    };
    return this.run(SQL.recordFiring, encodeRecord(firing, FIRING_CODECS)) > 0;
  }

  async listFirings(scheduleId: string, limit: number): Promise<ScheduleFiring[]> {
    return this.connection
      .statement(SQL.firings)
      .all(scheduleId, limit)
      .map((row) => decodeRow(row, FIRING_CODECS));
  }

  /** @returns the number of rows changed. */
  private run(sql: string, ...params: unknown[]): number {
    return this.connection.statement(sql).run(...params).changes;
  }
}
