import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../domain/clock.js';
import { iso } from '../domain/clock.js';
import { StepwiseError } from '../domain/errors.js';
import type { Millis, RunRecord, RunTrigger } from '../domain/model.js';
import { isFinalStatus } from '../domain/run-state.js';
import { firingIdempotencyKey, planFirings, type ScheduleRecord } from '../domain/schedule.js';
import type { ScheduleAdvance } from '../store/schedule-store.js';
import type { Store } from '../store/store.js';
import { sleepUntilNextDue, WakeUp } from './wake-up.js';

export interface SchedulerConfig {
  /** Longest sleep between looks for due schedules; the scheduler wakes sooner for a nearer slot. */
  tickMs: number;
  /** Schedules claimed per round. */
  batchSize: number;
  /** How long a claim lasts; a crashed scheduler's schedules are picked up after this. */
  leaseMs: number;
  /** How late a slot may fire and still be on time; later slots are missed and the catch-up policy decides. */
  graceMs: number;
}

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = {
  tickMs: 1000,
  batchSize: 20,
  leaseMs: 30_000,
  graceMs: 10_000,
};

/** How the scheduler starts and cancels runs; `RunService` is one. */
export interface ScheduleRunPort {
  start(
    orgId: string,
    workflowId: string,
    options: { input: unknown; idempotency_key: string; trigger: RunTrigger },
  ): Promise<{ run: RunRecord; created: boolean }>;
  cancel(orgId: string, runId: string, options: { reason: string }): Promise<unknown>;
}

export interface SchedulerDeps {
  store: Store;
  clock: Clock;
  runs: ScheduleRunPort;
  log(level: 'info' | 'warn' | 'error', message: string, data: Record<string, unknown>): void;
}

type StartOutcome =
  | { kind: 'started'; run: RunRecord }
  | { kind: 'missing'; reason: string }
  | { kind: 'refused'; reason: string };

/** How far a firing got: the slot in hand (where a retry resumes) and the runs it started. */
interface FiringProgress {
  slot: Millis | null;
  started: string[];
}

/**
 * Fires due schedules: claims them under a lease (so several schedulers on one PostgreSQL
 * share the work), starts one run per slot through the run port with the idempotency key
 * `schedule:<id>:<fire time>` (so a slot never starts two runs, whoever fires it), applies
 * the catch-up and overlap policies, records the firing, and moves `next_fire_at` on.
 * Sleeps until the nearest slot, at most `tickMs`.
 */
export class Scheduler {
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}:scheduler`;
  private readonly config: SchedulerConfig;
  private running = false;
  private loopDone: Promise<void> | null = null;
  private readonly wakeUp = new WakeUp();
  /** When the last round looked for due schedules. */
  private lookedAt = 0;

  constructor(
    private readonly deps: SchedulerDeps,
    config: Partial<SchedulerConfig> = {},
  ) {
    this.config = { ...DEFAULT_SCHEDULER_CONFIG, ...config };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops after the round in flight; claims it still holds expire on their own. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeUp.signal();
    await this.loopDone;
  }

  /**
   * One round: claims and fires every schedule due at the clock's now, batch after batch.
   * @returns the ids of the runs started.
   */
  async tick(): Promise<string[]> {
    const started: string[] = [];
    for (;;) {
      const now = this.deps.clock.now();
      this.lookedAt = now;
      const { batchSize, leaseMs } = this.config;
      const claimed = await this.deps.store.schedules.claimDueSchedules(this.owner, batchSize, leaseMs, now);
      const results = await Promise.all(claimed.map((schedule) => this.fireSafely(schedule, now)));
      started.push(...results.flat());
      if (claimed.length < batchSize) return started;
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        await this.tick();
      } catch (error) {
        this.deps.log('error', 'claiming schedules failed; retrying after the tick interval', {
          error: String(error),
        });
      }
      if (!this.running) break;
      const sleepMs = await sleepUntilNextDue(
        (at) => this.deps.store.schedules.nextDueAt(at),
        this.lookedAt,
        () => this.deps.clock.now(),
        this.config.tickMs,
      );
      await this.wakeUp.sleep(sleepMs);
    }
  }

  /** Fires one claimed schedule; a transient failure puts it back to be retried a tick later. */
  private async fireSafely(schedule: ScheduleRecord, now: Millis): Promise<string[]> {
    const progress: FiringProgress = { slot: schedule.next_fire_at, started: [] };
    try {
      await this.fire(schedule, now, progress);
    } catch (error) {
      this.deps.log('error', 'firing a schedule failed; it is retried', {
        schedule_id: schedule.id,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      await this.advance(schedule, {
        next_fire_at: progress.slot,
        status: schedule.status,
        status_reason: schedule.status_reason,
        hold_until: now + Math.max(this.config.tickMs, 1000),
        updated_at: now,
      }).catch(() => undefined);
    }
    return progress.started;
  }

  private async fire(schedule: ScheduleRecord, now: Millis, progress: FiringProgress): Promise<void> {
    const plan = planFirings(schedule, now, this.config.graceMs);
    let previous = plan.fire.length > 0 ? await this.previousRun(schedule) : null;
    let note: string | null = schedule.status_reason;
    for (const slot of plan.fire) {
      progress.slot = slot;
      if (previous && !isFinalStatus(previous.status)) {
        if (schedule.overlap === 'skip') {
          note = `the firing at ${iso(slot)} was skipped: run '${previous.id}' was still running`;
          continue;
        }
        if (schedule.overlap === 'queue') {
          const waiting = `the firing at ${iso(slot)} waits for run '${previous.id}' to finish`;
          await this.advance(schedule, this.keep(slot, waiting, now + this.config.tickMs, now));
          return;
        }
        if (schedule.overlap === 'cancel_previous') await this.cancelQuietly(previous, slot);
      }
      const outcome = await this.startRun(schedule, slot);
      if (outcome.kind === 'missing') {
        this.deps.log('warn', 'a schedule lost its workflow', {
          schedule_id: schedule.id,
          reason: outcome.reason,
        });
        await this.advance(schedule, this.end('workflow_missing', outcome.reason, now));
        return;
      }
      if (outcome.kind === 'refused') {
        const reason = `the firing at ${iso(slot)} did not start a run: ${outcome.reason}`;
        if (schedule.kind === 'once') {
          await this.advance(schedule, this.end('failed', reason, now));
          return;
        }
        note = reason;
        continue;
      }
      previous = outcome.run;
      progress.started.push(outcome.run.id);
      note = null;
      await this.deps.store.schedules.recordFiring(schedule.id, slot, outcome.run.id, now);
    }
    await this.advance(schedule, this.settle(schedule, plan.fire, plan.next_fire_at, previous, note, now));
  }

  /** The state after a round that fired what it planned. */
  private settle(
    schedule: ScheduleRecord,
    fired: Millis[],
    next: Millis | null,
    lastRun: RunRecord | null,
    note: string | null,
    now: Millis,
  ): ScheduleAdvance {
    if (schedule.kind === 'once') {
      if (fired.length > 0) {
        return this.end('completed', `fired at ${iso(fired[0]!)}, starting run '${lastRun?.id ?? '?'}'`, now);
      }
      const due = iso(schedule.run_at ?? now);
      return this.end(
        'exhausted',
        `its date ${due} passed while no scheduler ran, and catch_up is none`,
        now,
      );
    }
    if (next === null) {
      return this.end('exhausted', `'${schedule.cron}' has no occurrence after ${iso(now)}`, now);
    }
    return this.keep(next, note, null, now);
  }

  private keep(next: Millis, note: string | null, holdUntil: Millis | null, now: Millis): ScheduleAdvance {
    return {
      next_fire_at: next,
      status: 'active',
      status_reason: note,
      hold_until: holdUntil,
      updated_at: now,
    };
  }

  private end(status: ScheduleAdvance['status'], reason: string, now: Millis): ScheduleAdvance {
    return { next_fire_at: null, status, status_reason: reason, hold_until: null, updated_at: now };
  }

  private async advance(schedule: ScheduleRecord, advance: ScheduleAdvance): Promise<void> {
    const written = await this.deps.store.schedules.advanceSchedule(schedule.id, this.owner, advance);
    // Not an error: the schedule was edited, cancelled or re-claimed meanwhile, and that state wins.
    if (!written)
      this.deps.log('info', 'a schedule changed while it was firing', { schedule_id: schedule.id });
  }

  private async startRun(schedule: ScheduleRecord, slot: Millis): Promise<StartOutcome> {
    try {
      const { run } = await this.deps.runs.start(schedule.org_id, schedule.workflow_id, {
        input: schedule.input,
        idempotency_key: firingIdempotencyKey(schedule.id, slot),
        trigger: { type: 'schedule', schedule_id: schedule.id, fire_at: iso(slot) },
      });
      return { kind: 'started', run };
    } catch (error) {
      // Rate limits, outages and bugs pass: they are retried. A 4xx is about this schedule.
      if (!(error instanceof StepwiseError) || error.status === 429 || error.status >= 500) throw error;
      return error.status === 404
        ? { kind: 'missing', reason: `workflow '${schedule.workflow_id}' no longer exists` }
        : { kind: 'refused', reason: error.message };
    }
  }

  /** The run of the schedule's newest firing, if any. */
  private async previousRun(schedule: ScheduleRecord): Promise<RunRecord | null> {
    if (schedule.overlap === 'allow') return null;
    const [last] = await this.deps.store.schedules.listFirings(schedule.id, 1);
    return last?.run_id ? this.deps.store.getRun(schedule.org_id, last.run_id) : null;
  }

  private async cancelQuietly(run: RunRecord, slot: Millis): Promise<void> {
    try {
      await this.deps.runs.cancel(run.org_id, run.id, {
        reason: `replaced by the schedule's firing at ${iso(slot)}`,
      });
    } catch (error) {
      // It finished in the meantime: nothing left to cancel.
      if (!(error instanceof StepwiseError) || error.code !== 'RUN_ALREADY_FINISHED') throw error;
    }
  }
}
