import type { Clock } from '../domain/clock.js';
import { iso } from '../domain/clock.js';
import { notFound, StepwiseError, validationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { Millis, WorkflowRecord } from '../domain/model.js';
import {
  CATCH_UP_POLICIES,
  localDateToInstant,
  nextFireAfter,
  OVERLAP_POLICIES,
  parseCron,
  parseTimezone,
  type CatchUpPolicy,
  type CronSpec,
  type OverlapPolicy,
  type ScheduleFiring,
  type ScheduleRecord,
  type ScheduleStatus,
} from '../domain/schedule.js';
import type { Store } from '../store/store.js';

/** A recurring schedule, as `createCron` accepts it. */
export interface CronScheduleInput {
  /** 5 fields (minute precision) or 6 (leading seconds). */
  cron: string;
  /** IANA name, `UTC` (default) or `GMT_plus_1` style. */
  timezone?: string;
  input?: unknown;
  catch_up?: CatchUpPolicy;
  overlap?: OverlapPolicy;
}

/** A one-off schedule, in document 002's terms. */
export interface OnceScheduleInput {
  /** ISO 8601; without an offset it is wall-clock time in `timezone`. */
  scheduledDate: string;
  /** IANA name, `UTC` (default) or `GMT_plus_1` style. */
  timezone?: string;
  input?: unknown;
}

const MAX_INPUT_BYTES = 1_000_000;
/** Statuses a schedule never leaves by itself; a deleted workflow does not rewrite them. */
const SETTLED: ReadonlySet<ScheduleStatus> = new Set(['completed', 'cancelled', 'workflow_missing']);

/** The id of the schedule that mirrors a workflow's scheduled trigger: one per workflow. */
export const triggerScheduleId = (workflowId: string): string => `sch_${workflowId}`;

/**
 * Cron and one-off schedules: created by request, or kept in step with a workflow whose
 * `trigger_config.type` is `scheduled`. The `Scheduler` fires them.
 */
export class ScheduleService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Schedules `workflowRef` (id or slug) on a cron expression. */
  async createCron(orgId: string, workflowRef: string, raw: CronScheduleInput): Promise<ScheduleRecord> {
    const workflow = await this.workflow(orgId, workflowRef);
    const zone = parseTimezone(raw.timezone ?? 'UTC');
    const spec = parseCron(raw.cron, zone);
    const now = this.clock.now();
    const next = nextFireAfter(spec, now);
    if (next === null) {
      throw validationError('cron', `cron: '${spec.expression}' has no occurrence after ${iso(now)}`);
    }
    return this.insert({
      ...this.base(workflow, 'api', raw.input, now),
      kind: 'cron',
      cron: spec.expression,
      timezone: zone.name,
      next_fire_at: next,
      catch_up: policy(raw.catch_up, CATCH_UP_POLICIES, 'catch_up', 'latest'),
      overlap: policy(raw.overlap, OVERLAP_POLICIES, 'overlap', 'allow'),
    });
  }

  /**
   * Runs `workflowRef` once at `scheduledDate` (document 002's `POST /v1/workflows/schedule`).
   * @throws StepwiseError 400 naming `scheduledDate` when it is in the past, `timezone` when unknown.
   */
  async scheduleOnce(orgId: string, workflowRef: string, raw: OnceScheduleInput): Promise<ScheduleRecord> {
    const zone = parseTimezone(raw.timezone ?? 'UTC');
    const runAt = localDateToInstant(raw.scheduledDate, zone);
    const now = this.clock.now();
    if (runAt < now) {
      throw validationError(
        'scheduledDate',
        `scheduledDate: ${iso(runAt)} is in the past (it is now ${iso(now)}); give a future date`,
      );
    }
    const workflow = await this.workflow(orgId, workflowRef);
    return this.insert({
      ...this.base(workflow, 'api', raw.input, now),
      kind: 'once',
      cron: null,
      timezone: zone.name,
      run_at: runAt,
      next_fire_at: runAt,
      catch_up: 'latest',
      overlap: 'allow',
    });
  }

  async get(orgId: string, id: string): Promise<ScheduleRecord> {
    const schedule = await this.store.schedules.getSchedule(orgId, id);
    if (!schedule) throw notFound('schedule', id);
    return schedule;
  }

  /** Newest first; `workflow_id` narrows to one workflow. */
  list(
    orgId: string,
    filter: { workflow_id?: string; limit?: number; offset?: number } = {},
  ): Promise<ScheduleRecord[]> {
    return this.store.schedules.listSchedules({
      org_id: orgId,
      workflow_id: filter.workflow_id,
      limit: Math.min(Math.max(filter.limit ?? 50, 1), 500),
      offset: Math.max(filter.offset ?? 0, 0),
    });
  }

  /** The slots that started runs, newest first. */
  async firings(orgId: string, id: string, limit = 50): Promise<ScheduleFiring[]> {
    const schedule = await this.get(orgId, id);
    return this.store.schedules.listFirings(schedule.id, Math.min(Math.max(limit, 1), 500));
  }

  /** Stops a schedule for good; its runs already started are left alone. */
  async cancel(orgId: string, id: string): Promise<ScheduleRecord> {
    const schedule = await this.get(orgId, id);
    if (schedule.status === 'cancelled' || schedule.status === 'completed') return schedule;
    return this.save({
      ...schedule,
      status: 'cancelled',
      status_reason: 'cancelled by request',
      next_fire_at: null,
    });
  }

  /** Deletes a schedule and its firing history. */
  async delete(orgId: string, id: string): Promise<void> {
    if (!(await this.store.schedules.deleteSchedule(orgId, id))) throw notFound('schedule', id);
  }

  /**
   * Brings the schedule mirroring `workflow`'s trigger in line with it, after the workflow
   * was created, edited, activated or deactivated: active while the workflow is active and
   * its `scheduled` trigger enabled, `paused` otherwise, `cancelled` once the trigger is no
   * longer `scheduled`. A trigger that cannot fire (a bad cron, no future occurrence) is
   * stored with status `failed` / `exhausted` and the reason, not thrown: the workflow is
   * already saved. `trigger_config.catch_up` and `trigger_config.overlap` set the policies.
   * @returns the schedule, or null when the workflow never had a scheduled trigger.
   */
  async syncFromWorkflow(workflow: WorkflowRecord): Promise<ScheduleRecord | null> {
    const existing = await this.store.schedules.getSchedule(workflow.org_id, triggerScheduleId(workflow.id));
    const trigger = workflow.trigger_config;
    const now = this.clock.now();
    if (trigger.type !== 'scheduled' || !trigger.schedule) {
      if (!existing || existing.status === 'cancelled') return existing;
      const reason = `workflow '${workflow.id}' no longer has a scheduled trigger`;
      return this.save({ ...existing, status: 'cancelled', status_reason: reason, next_fire_at: null });
    }
    const desired: ScheduleRecord = {
      ...(existing ?? this.base(workflow, 'trigger', {}, now)),
      kind: 'cron',
      run_at: null,
      updated_at: now,
      ...this.triggerState(workflow, existing, now),
    };
    if (!existing) return this.insert(desired);
    return this.save(desired);
  }

  /** Marks every live schedule of a deleted workflow `workflow_missing`, so none goes silent. */
  async workflowDeleted(orgId: string, workflowId: string): Promise<void> {
    const reason = `workflow '${workflowId}' was deleted`;
    for (let offset = 0; ; offset += 500) {
      const page = await this.store.schedules.listSchedules({
        org_id: orgId,
        workflow_id: workflowId,
        limit: 500,
        offset,
      });
      for (const schedule of page) {
        if (SETTLED.has(schedule.status)) continue;
        await this.save({
          ...schedule,
          status: 'workflow_missing',
          status_reason: reason,
          next_fire_at: null,
        });
      }
      if (page.length < 500) return;
    }
  }

  private triggerState(
    workflow: WorkflowRecord,
    existing: ScheduleRecord | null,
    now: Millis,
  ): Pick<
    ScheduleRecord,
    'cron' | 'timezone' | 'status' | 'status_reason' | 'next_fire_at' | 'catch_up' | 'overlap'
  > {
    const trigger = workflow.trigger_config;
    let settings: Pick<ScheduleRecord, 'cron' | 'timezone' | 'catch_up' | 'overlap'>;
    let spec: CronSpec;
    try {
      const zone = parseTimezone(trigger.timezone ?? 'UTC', 'trigger_config.timezone');
      spec = parseCron(trigger.schedule, zone, 'trigger_config.schedule');
      settings = {
        cron: spec.expression,
        timezone: zone.name,
        catch_up: policy(trigger.catch_up, CATCH_UP_POLICIES, 'trigger_config.catch_up', 'latest'),
        overlap: policy(trigger.overlap, OVERLAP_POLICIES, 'trigger_config.overlap', 'allow'),
      };
    } catch (error) {
      if (!(error instanceof StepwiseError)) throw error;
      return {
        cron: trigger.schedule ?? null,
        timezone: String(trigger.timezone ?? 'UTC'),
        catch_up: existing?.catch_up ?? 'latest',
        overlap: existing?.overlap ?? 'allow',
        status: 'failed',
        status_reason: error.message,
        next_fire_at: null,
      };
    }
    const stopped = (status: ScheduleStatus, reason: string) => ({
      ...settings,
      status,
      status_reason: reason,
      next_fire_at: null,
    });
    if (workflow.status !== 'active')
      return stopped('paused', `workflow '${workflow.id}' is ${workflow.status}`);
    if (trigger.enabled === false)
      return stopped('paused', `workflow '${workflow.id}' has its trigger disabled`);
    // An unchanged active schedule keeps its slot, so an edit landing as it comes due does not skip it.
    const kept =
      existing?.status === 'active' &&
      existing.cron === settings.cron &&
      existing.timezone === settings.timezone
        ? existing.next_fire_at
        : null;
    const next = kept ?? nextFireAfter(spec, now);
    if (next === null)
      return stopped('exhausted', `'${spec.expression}' has no occurrence after ${iso(now)}`);
    return { ...settings, status: 'active', status_reason: null, next_fire_at: next };
  }

  private base(
    workflow: WorkflowRecord,
    origin: ScheduleRecord['origin'],
    input: unknown,
    now: Millis,
  ): Omit<ScheduleRecord, 'kind' | 'cron' | 'timezone' | 'next_fire_at' | 'catch_up' | 'overlap'> {
    const value = input ?? {};
    if (JSON.stringify(value).length > MAX_INPUT_BYTES) {
      throw validationError('input', 'input: a run input is at most 1 MB of JSON');
    }
    return {
      id: origin === 'trigger' ? triggerScheduleId(workflow.id) : newId('sch'),
      org_id: workflow.org_id,
      workflow_id: workflow.id,
      origin,
      run_at: null,
      input: value,
      status: 'active',
      status_reason: null,
      created_at: now,
      updated_at: now,
    };
  }

  private async insert(schedule: ScheduleRecord): Promise<ScheduleRecord> {
    try {
      await this.store.schedules.createSchedule(schedule);
      return schedule;
    } catch (error) {
      // Two syncs of one new workflow raced: the other created the row, so this one updates it.
      if (
        error instanceof StepwiseError &&
        error.code === 'SCHEDULE_EXISTS' &&
        schedule.origin === 'trigger'
      ) {
        return this.save(schedule);
      }
      throw error;
    }
  }

  private async save(schedule: ScheduleRecord): Promise<ScheduleRecord> {
    const saved = { ...schedule, updated_at: this.clock.now() };
    if (!(await this.store.schedules.updateSchedule(saved))) throw notFound('schedule', schedule.id);
    return saved;
  }

  private async workflow(orgId: string, ref: string): Promise<WorkflowRecord> {
    const workflow =
      (await this.store.getWorkflow(orgId, ref)) ?? (await this.store.getWorkflowBySlug(orgId, ref));
    if (!workflow) throw notFound('workflow', ref);
    return workflow;
  }
}

function policy<T extends string>(value: unknown, allowed: readonly T[], field: string, fallback: T): T {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw validationError(field, `${field}: '${String(value)}' is not one of ${allowed.join(', ')}`);
}
