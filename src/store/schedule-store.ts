import type { Millis } from '../domain/model.js';
import type { ScheduleFiring, ScheduleRecord, ScheduleStatus } from '../domain/schedule.js';

export interface ScheduleListFilter {
  org_id: string;
  workflow_id?: string;
  limit: number;
  offset: number;
}

/** What a scheduler writes back when it is done with a schedule it claimed. */
export interface ScheduleAdvance {
  next_fire_at: Millis | null;
  status: ScheduleStatus;
  status_reason: string | null;
  /**
   * Keeps the schedule unclaimable until then (a `queue`d slot waiting for the previous run,
   * a retry after a transient error); null lets any scheduler claim it once it is due.
   */
  hold_until: Millis | null;
  updated_at: Millis;
}

/**
 * Schedules and their firings (cron and one-off triggers). Every backend implements it and
 * `runScheduleStoreContract` holds them to it. Methods taking `orgId` never touch another
 * org's rows.
 */
export interface ScheduleStore {
  /** Throws `SCHEDULE_EXISTS` (409) when the id is taken. */
  createSchedule(schedule: ScheduleRecord): Promise<void>;
  getSchedule(orgId: string, id: string): Promise<ScheduleRecord | null>;
  /** Newest first. */
  listSchedules(filter: ScheduleListFilter): Promise<ScheduleRecord[]>;
  /**
   * Replaces every field but `id`, `org_id`, `workflow_id`, `origin` and `created_at`, and
   * drops any claim on it, so a scheduler still holding it cannot write stale state back.
   * @returns false when the schedule does not exist.
   */
  updateSchedule(schedule: ScheduleRecord): Promise<boolean>;
  /** Deletes the schedule and its firings. @returns false when it does not exist. */
  deleteSchedule(orgId: string, id: string): Promise<boolean>;

  /**
   * Claims up to `limit` active schedules with `next_fire_at <= now` that no live claim
   * holds, earliest first, for `leaseMs`. Safe with many schedulers on one database: a
   * schedule is claimed by one of them at a time.
   */
  claimDueSchedules(owner: string, limit: number, leaseMs: number, now: Millis): Promise<ScheduleRecord[]>;
  /**
   * Writes a claimed schedule's new state and ends the claim.
   * @returns false when `owner` no longer holds it (its claim expired and another took it,
   * or the schedule was updated meanwhile); nothing is written then.
   */
  advanceSchedule(id: string, owner: string, advance: ScheduleAdvance): Promise<boolean>;
  /** The earliest `next_fire_at` after `now` of any active schedule, for a precise wake-up. */
  nextDueAt(now: Millis): Promise<Millis | null>;

  /**
   * Records that slot `fireAt` of the schedule started `runId`. The (schedule, fire time)
   * key makes this happen once.
   * @returns false when the slot was already recorded (another scheduler got there first).
   */
  recordFiring(scheduleId: string, fireAt: Millis, runId: string | null, at: Millis): Promise<boolean>;
  /** The schedule's firings, newest slot first. */
  listFirings(scheduleId: string, limit: number): Promise<ScheduleFiring[]>;
}
