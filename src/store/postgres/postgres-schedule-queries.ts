import type pg from 'pg';
import { conflict } from '../../domain/errors.js';
import type { Millis } from '../../domain/model.js';
import type { ScheduleFiring, ScheduleRecord } from '../../domain/schedule.js';
import type { ScheduleAdvance, ScheduleListFilter, ScheduleStore } from '../schedule-store.js';
import type { TimeSource } from '../store.js';
import { columnList, nowOr, placeholders, toParam } from './postgres-rows.js';

// An object rather than an array so the compiler fails when a record field has no column.
const SCHEDULE_COLUMN_SET = {
  id: true,
  org_id: true,
  workflow_id: true,
  origin: true,
  kind: true,
  cron: true,
  timezone: true,
  run_at: true,
  next_fire_at: true,
  catch_up: true,
  overlap: true,
  input: true,
  status: true,
  status_reason: true,
  created_at: true,
  updated_at: true,
} as const satisfies Record<keyof ScheduleRecord, true>;
const SCHEDULE_COLUMNS = Object.keys(SCHEDULE_COLUMN_SET) as (keyof ScheduleRecord)[];
const FIRING_COLUMNS: (keyof ScheduleFiring)[] = ['schedule_id', 'fire_at', 'run_id', 'created_at'];

// What an update may change: a schedule never moves to another org, workflow or origin.
const FIXED_COLUMNS = new Set<string>(['id', 'org_id', 'workflow_id', 'origin', 'created_at']);
const REPLACED_COLUMNS = SCHEDULE_COLUMNS.filter((column) => !FIXED_COLUMNS.has(column));

const SELECT = columnList(SCHEDULE_COLUMNS);
const RETURNING = columnList(SCHEDULE_COLUMNS, 'schedules');

// The pool parses BIGINT to numbers and JSONB to values; mapping only drops the lease columns.
function pick<T>(row: Record<string, unknown>, columns: readonly string[]): T {
  const record: Record<string, unknown> = {};
  for (const column of columns) record[column] = row[column] ?? null;
  return record as T;
}
const toSchedule = (row: Record<string, unknown>): ScheduleRecord => pick(row, SCHEDULE_COLUMNS);

/**
 * The claim; parameters: owner, limit, now (null: the database's clock), lease ms.
 * `FOR UPDATE SKIP LOCKED` lets schedulers claim side by side without waiting, and one that
 * read a row just before another claimed it re-checks the lease on the new row version, so
 * a schedule has one holder at a time.
 */
const CLAIM_SQL = `
UPDATE schedules SET lease_owner = $1, lease_expires_at = ${nowOr('$3')} + $4::bigint
FROM (
  SELECT id FROM schedules
  WHERE status = 'active' AND next_fire_at <= ${nowOr('$3')}
    AND (lease_expires_at IS NULL OR lease_expires_at <= ${nowOr('$3')})
  ORDER BY next_fire_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
) AS due
WHERE schedules.id = due.id
RETURNING ${RETURNING}`;

/** The ScheduleStore of the PostgreSQL backend. */
export class PostgresScheduleQueries implements ScheduleStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly timeSource: TimeSource,
  ) {}

  async createSchedule(schedule: ScheduleRecord): Promise<void> {
    const result = await this.pool.query(
      `INSERT INTO schedules (${SELECT}) VALUES (${placeholders(SCHEDULE_COLUMNS.length)})
        ON CONFLICT (id) DO NOTHING`,
      SCHEDULE_COLUMNS.map((column) => toParam(column, schedule[column])),
    );
    if (result.rowCount === 0) throw conflict('SCHEDULE_EXISTS', `schedule '${schedule.id}' already exists`);
  }

  async getSchedule(orgId: string, id: string): Promise<ScheduleRecord | null> {
    const { rows } = await this.pool.query(`SELECT ${SELECT} FROM schedules WHERE org_id = $1 AND id = $2`, [
      orgId,
      id,
    ]);
    return rows[0] ? toSchedule(rows[0]) : null;
  }

  async listSchedules(filter: ScheduleListFilter): Promise<ScheduleRecord[]> {
    const { rows } = await this.pool.query(
      `SELECT ${SELECT} FROM schedules WHERE org_id = $1 AND ($2::text IS NULL OR workflow_id = $2)
        ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`,
      [filter.org_id, filter.workflow_id ?? null, filter.limit, filter.offset],
    );
    return rows.map(toSchedule);
  }

  async updateSchedule(schedule: ScheduleRecord): Promise<boolean> {
    const assignments = REPLACED_COLUMNS.map((column, i) => `"${column}" = $${i + 3}`);
    const result = await this.pool.query(
      `UPDATE schedules SET ${assignments.join(', ')}, lease_owner = NULL, lease_expires_at = NULL
        WHERE org_id = $1 AND id = $2`,
      [schedule.org_id, schedule.id, ...REPLACED_COLUMNS.map((column) => toParam(column, schedule[column]))],
    );
    return result.rowCount === 1;
  }

  async deleteSchedule(orgId: string, id: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ deleted: number }>(
      `WITH deleted AS (
        DELETE FROM schedules WHERE org_id = $1 AND id = $2 RETURNING id
      ), firings AS (
        DELETE FROM schedule_firings WHERE schedule_id IN (SELECT id FROM deleted)
      )
      SELECT count(*)::int AS deleted FROM deleted`,
      [orgId, id],
    );
    return rows[0]?.deleted === 1;
  }

  async claimDueSchedules(
    owner: string,
    limit: number,
    leaseMs: number,
    now: Millis,
  ): Promise<ScheduleRecord[]> {
    const { rows } = await this.pool.query({
      name: 'stepwise_claim_schedules',
      text: CLAIM_SQL,
      values: [owner, limit, this.timeSource === 'database' ? null : now, leaseMs],
    });
    // RETURNING follows the join's order, not the subquery's: restore earliest-first.
    return rows.map(toSchedule).sort((a, b) => (a.next_fire_at ?? 0) - (b.next_fire_at ?? 0));
  }

  async advanceSchedule(id: string, owner: string, advance: ScheduleAdvance): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE schedules SET next_fire_at = $3, status = $4, status_reason = $5, updated_at = $6,
        lease_owner = CASE WHEN $7::bigint IS NULL THEN NULL ELSE lease_owner END, lease_expires_at = $7
        WHERE id = $1 AND lease_owner = $2`,
      [
        id,
        owner,
        advance.next_fire_at,
        advance.status,
        advance.status_reason,
        advance.updated_at,
        advance.hold_until,
      ],
    );
    return result.rowCount === 1;
  }

  async nextDueAt(now: Millis): Promise<Millis | null> {
    const { rows } = await this.pool.query<{ next: Millis | null }>(
      "SELECT min(next_fire_at) AS next FROM schedules WHERE status = 'active' AND next_fire_at > $1",
      [now],
    );
    return rows[0]?.next ?? null;
  }

  async recordFiring(scheduleId: string, fireAt: Millis, runId: string | null, at: Millis): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO schedule_firings (${columnList(FIRING_COLUMNS)}) VALUES ($1, $2, $3, $4)
        ON CONFLICT (schedule_id, fire_at) DO NOTHING`,
      [scheduleId, fireAt, runId, at],
    );
    return result.rowCount === 1;
  }

  async listFirings(scheduleId: string, limit: number): Promise<ScheduleFiring[]> {
    const { rows } = await this.pool.query(
      `SELECT ${columnList(FIRING_COLUMNS)} FROM schedule_firings WHERE schedule_id = $1
        ORDER BY fire_at DESC LIMIT $2`,
      [scheduleId, limit],
    );
    return rows.map((row: Record<string, unknown>) => pick<ScheduleFiring>(row, FIRING_COLUMNS));
  }
}
