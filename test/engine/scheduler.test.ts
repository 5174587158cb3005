import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.js';
import { createStepwise, type Stepwise } from '../../src/app/stepwise.js';
import type { RunRecord, WorkflowRecord } from '../../src/domain/model.js';
import type { CatchUpPolicy, OverlapPolicy } from '../../src/domain/schedule.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import { waitFor, waitForRun, waitForRunState } from '../support/stepwise-harness.js';

/** A clock the test moves by hand; the worker and scheduler read time only from it. */
class FakeClock {
  constructor(private at: number) {}
  now = (): number => this.at;
  set(iso: string): void {
    this.at = Date.parse(iso);
  }
}

let clock: FakeClock;
let stepwise: Stepwise;
let orgId: string;
let dataDir: string;
let scheduler: Scheduler;

beforeEach(async () => {
  clock = new FakeClock(Date.parse('2025-06-01T08:30:00Z'));
  dataDir = mkdtempSync(path.join(tmpdir(), 'stepwise-scheduler-'));
  const config = loadConfig({
    STEPWISE_DATA_DIR: dataDir,
    STEPWISE_SQLITE_SYNCHRONOUS: 'NORMAL',
    LOG_LEVEL: 'silent',
    // Catch-up fires more runs at once than the free plan's concurrency cap.
    STEPWISE_DEFAULT_PLAN: 'unlimited',
  });
  config.worker = { concurrency: 8, leaseMs: 60_000, pollMs: 20, shutdownGraceMs: 200 };
  stepwise = await createStepwise(config, { clock, logger: pino({ level: 'silent' }) });
  orgId = stepwise.defaultOrgId;
  scheduler = newScheduler();
});

afterEach(async () => {
  await stepwise.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const newScheduler = (): Scheduler =>
  new Scheduler({ store: stepwise.store, clock, runs: stepwise.runs, log: () => undefined });

const logWorkflow = (): Promise<WorkflowRecord> =>
  stepwise.workflows.create(orgId, {
    title: `report ${Math.random()}`,
    steps: [{ id: 'say', tool: 'log', params: { message: 'tick {{ input.n }}' } }],
  });

/** A workflow whose run takes 30 minutes of the fake clock: it parks on a delay. */
const slowWorkflow = (): Promise<WorkflowRecord> =>
  stepwise.workflows.create(orgId, {
    title: `slow ${Math.random()}`,
    steps: [{ id: 'wait', tool: 'delay', params: { duration: '30m' } }],
  });

async function scheduleRuns(scheduleId: string): Promise<RunRecord[]> {
  const runs = await stepwise.store.listRuns({ org_id: orgId, limit: 500, offset: 0 });
  return runs
    .filter((run) => run.trigger.schedule_id === scheduleId)
    .sort((a, b) => String(a.trigger.fire_at).localeCompare(String(b.trigger.fire_at)));
}

const fireTimes = async (scheduleId: string): Promise<string[]> =>
  (await scheduleRuns(scheduleId)).map((run) => String(run.trigger.fire_at));

describe('the scheduler, on a fake clock', () => {
  it('fires a cron schedule once per slot, however often and by however many schedulers it ticks', async () => {
    const workflow = await logWorkflow();
    const schedule = await stepwise.schedules.createCron(orgId, workflow.id, {
      cron: '0 * * * *',
      timezone: 'Europe/Berlin',
      input: { n: 1 },
    });
    expect(new Date(schedule.next_fire_at!).toISOString()).toBe('2025-06-01T09:00:00.000Z');

    clock.set('2025-06-01T08:59:59.900Z');
    expect(await scheduler.tick()).toEqual([]);

    clock.set('2025-06-01T09:00:00.250Z');
    const [runId] = await scheduler.tick();
    expect(await scheduler.tick()).toEqual([]);
    expect(await newScheduler().tick()).toEqual([]);
    const run = await stepwise.runs.get(orgId, runId!);
    expect(run.trigger).toEqual({
      type: 'schedule',
      schedule_id: schedule.id,
      fire_at: '2025-06-01T09:00:00.000Z',
    });
    expect(run.input).toEqual({ n: 1 });
    expect(run.idempotency_key).toBe(`schedule:${schedule.id}:2025-06-01T09:00:00.000Z`);

    clock.set('2025-06-01T10:00:01Z');
    await Promise.all([scheduler.tick(), newScheduler().tick(), newScheduler().tick()]);
    expect(await fireTimes(schedule.id)).toEqual(['2025-06-01T09:00:00.000Z', '2025-06-01T10:00:00.000Z']);
    const firings = await stepwise.schedules.firings(orgId, schedule.id);
    expect(firings.map((f) => new Date(f.fire_at).toISOString())).toEqual([
      '2025-06-01T10:00:00.000Z',
      '2025-06-01T09:00:00.000Z',
    ]);
    const after = await stepwise.schedules.get(orgId, schedule.id);
    expect(after).toMatchObject({ status: 'active', status_reason: null });
    expect(new Date(after.next_fire_at!).toISOString()).toBe('2025-06-01T11:00:00.000Z');
  });

  it('after downtime: latest fires the last missed slot once, none fires nothing, all fires each', async () => {
    const workflow = await logWorkflow();
    const create = (catch_up: CatchUpPolicy) =>
      stepwise.schedules.createCron(orgId, workflow.id, { cron: '0 * * * *', timezone: 'UTC', catch_up });
    const latest = await create('latest');
    const none = await create('none');
    const all = await create('all');

    clock.set('2025-06-01T12:30:00Z'); // the scheduler was down from 08:30 to 12:30
    await scheduler.tick();
    expect(await fireTimes(latest.id)).toEqual(['2025-06-01T12:00:00.000Z']);
    expect(await fireTimes(none.id)).toEqual([]);
    expect(await fireTimes(all.id)).toEqual([
      '2025-06-01T09:00:00.000Z',
      '2025-06-01T10:00:00.000Z',
      '2025-06-01T11:00:00.000Z',
      '2025-06-01T12:00:00.000Z',
    ]);
    for (const schedule of [latest, none, all]) {
      const after = await stepwise.schedules.get(orgId, schedule.id);
      expect(new Date(after.next_fire_at!).toISOString()).toBe('2025-06-01T13:00:00.000Z');
    }
  });

  it('fires a one-off exactly once, then says it completed', async () => {
    const workflow = await logWorkflow();
    const once = await stepwise.schedules.scheduleOnce(orgId, workflow.id, {
      scheduledDate: '2025-06-01T10:00:00',
      timezone: 'GMT_plus_1',
      input: { n: 7 },
    });
    expect(new Date(once.run_at!).toISOString()).toBe('2025-06-01T09:00:00.000Z');

    clock.set('2025-06-01T08:59:59Z');
    expect(await scheduler.tick()).toEqual([]);
    clock.set('2025-06-01T09:00:00.100Z');
    const started = await Promise.all([scheduler.tick(), newScheduler().tick()]);
    expect(started.flat()).toHaveLength(1);
    clock.set('2025-06-02T09:00:00Z');
    expect(await scheduler.tick()).toEqual([]);

    const [run] = await scheduleRuns(once.id);
    expect(run?.input).toEqual({ n: 7 });
    const after = await stepwise.schedules.get(orgId, once.id);
    expect(after).toMatchObject({ status: 'completed', next_fire_at: null });
    expect(after.status_reason).toBe(`fired at 2025-06-01T09:00:00.000Z, starting run '${run!.id}'`);
    expect(await stepwise.schedules.firings(orgId, once.id)).toHaveLength(1);
  });

  it('fires at once a slot that fell due while its loop was busy, not a tick later', async () => {
    const workflow = await logWorkflow();
    const once = await stepwise.schedules.scheduleOnce(orgId, workflow.id, {
      scheduledDate: '2025-06-01T09:00:00Z',
    });
    clock.set('2025-06-01T08:59:59.900Z');
    const loop = new Scheduler(
      { store: stepwise.store, clock, runs: stepwise.runs, log: () => undefined },
      { tickMs: 60_000 },
    );
    // The first round finds nothing due; by the time it is done, the slot has passed.
    const claim = stepwise.store.schedules.claimDueSchedules.bind(stepwise.store.schedules);
    let rounds = 0;
    stepwise.store.schedules.claimDueSchedules = async (...args) => {
      const claimed = await claim(...args);
      rounds += 1;
      if (rounds === 1) clock.set('2025-06-01T09:00:00.200Z');
      return claimed;
    };
    loop.start();
    try {
      await waitFor(async () => (await scheduleRuns(once.id)).length === 1, 5_000, 'the slot to fire');
    } finally {
      await loop.stop();
    }
    expect(await fireTimes(once.id)).toEqual(['2025-06-01T09:00:00.000Z']);
  });

  it('marks the schedule of a workflow deleted behind its back workflow_missing when it comes due', async () => {
    const workflow = await logWorkflow();
    const schedule = await stepwise.schedules.createCron(orgId, workflow.id, { cron: '*/5 * * * *' });
    // Straight through the store: no hook tells the schedule, so the scheduler must notice.
    await stepwise.store.deleteWorkflow(orgId, workflow.id, clock.now());
    clock.set('2025-06-01T08:35:00Z');
    expect(await scheduler.tick()).toEqual([]);
    const after = await stepwise.schedules.get(orgId, schedule.id);
    expect(after).toMatchObject({ status: 'workflow_missing', next_fire_at: null });
    expect(after.status_reason).toBe(`workflow '${workflow.id}' no longer exists`);
    clock.set('2025-06-01T09:00:00Z');
    expect(await scheduler.tick()).toEqual([]);
  });

  it('marks the schedules of a workflow deleted through the service workflow_missing at once', async () => {
    const workflow = await logWorkflow();
    const cron = await stepwise.schedules.createCron(orgId, workflow.id, { cron: '*/5 * * * *' });
    const once = await stepwise.schedules.scheduleOnce(orgId, workflow.id, { scheduledDate: '2025-06-02' });
    await stepwise.workflows.delete(orgId, workflow.id);
    for (const id of [cron.id, once.id]) {
      expect(await stepwise.schedules.get(orgId, id)).toMatchObject({
        status: 'workflow_missing',
        status_reason: `workflow '${workflow.id}' was deleted`,
        next_fire_at: null,
      });
    }
  });

  describe('overlap, against a workflow whose runs take 30 minutes', () => {
    beforeEach(async () => {
      await stepwise.startWorker();
    });

    /** A schedule every 10 minutes whose 09:00 run is parked on its delay until 09:30. */
    async function firstRunParked(overlap: OverlapPolicy, catch_up: CatchUpPolicy = 'latest') {
      const workflow = await slowWorkflow();
      clock.set('2025-06-01T08:55:00Z');
      const schedule = await stepwise.schedules.createCron(orgId, workflow.id, {
        cron: '*/10 * * * *',
        overlap,
        catch_up,
      });
      clock.set('2025-06-01T09:00:00Z');
      await scheduler.tick();
      const [first] = await scheduleRuns(schedule.id);
      const parked = await waitForRunState(stepwise, first!.id, (run) => run.current_step === 1);
      expect(parked.status).toBe('running');
      return { schedule, first: parked };
    }

    /** Lets the parked run finish: the clock passes its wake-up and the worker completes it. */
    async function finish(run: RunRecord, now: string): Promise<void> {
      clock.set(now);
      expect((await waitForRun(stepwise, run.id)).status).toBe('completed');
    }

    it('allow: starts the next run while the previous one still runs', async () => {
      const { schedule } = await firstRunParked('allow');
      clock.set('2025-06-01T09:10:00Z');
      await scheduler.tick();
      const runs = await scheduleRuns(schedule.id);
      expect(runs.map((run) => run.trigger.fire_at)).toEqual([
        '2025-06-01T09:00:00.000Z',
        '2025-06-01T09:10:00.000Z',
      ]);
    });

    it('skip: drops the slots that come due while the previous run is unfinished, and says so', async () => {
      const { schedule, first } = await firstRunParked('skip');
      clock.set('2025-06-01T09:10:00Z');
      expect(await scheduler.tick()).toEqual([]);
      const skipped = await stepwise.schedules.get(orgId, schedule.id);
      expect(skipped.status_reason).toBe(
        `the firing at 2025-06-01T09:10:00.000Z was skipped: run '${first.id}' was still running`,
      );
      expect(new Date(skipped.next_fire_at!).toISOString()).toBe('2025-06-01T09:20:00.000Z');
      await finish(first, '2025-06-01T09:30:00Z');
      await scheduler.tick();
      expect(await fireTimes(schedule.id)).toEqual(['2025-06-01T09:00:00.000Z', '2025-06-01T09:30:00.000Z']);
    });

    it('queue: the slot waits for the previous run to finish, then starts', async () => {
      const { schedule, first } = await firstRunParked('queue');
      clock.set('2025-06-01T09:10:00Z');
      expect(await scheduler.tick()).toEqual([]);
      const waiting = await stepwise.schedules.get(orgId, schedule.id);
      expect(waiting.status_reason).toBe(
        `the firing at 2025-06-01T09:10:00.000Z waits for run '${first.id}' to finish`,
      );
      expect(new Date(waiting.next_fire_at!).toISOString()).toBe('2025-06-01T09:10:00.000Z');
      clock.set('2025-06-01T09:10:05Z');
      expect(await scheduler.tick()).toEqual([]);

      // The first run finishes at 09:30; by then 09:10 and 09:20 were missed, so catch-up
      // latest starts one run, for the 09:30 slot that is on time.
      await finish(first, '2025-06-01T09:30:02Z');
      expect(await scheduler.tick()).toHaveLength(1);
      expect(await fireTimes(schedule.id)).toEqual(['2025-06-01T09:00:00.000Z', '2025-06-01T09:30:00.000Z']);
    });

    it('queue with catch-up all: every waiting slot runs, one after the other', async () => {
      const { schedule, first } = await firstRunParked('queue', 'all');
      clock.set('2025-06-01T09:10:00Z');
      await scheduler.tick();
      await finish(first, '2025-06-01T09:30:02Z');
      const [second] = await scheduler.tick();
      expect((await stepwise.runs.get(orgId, second!)).trigger.fire_at).toBe('2025-06-01T09:10:00.000Z');
      // 09:20 and 09:30 wait behind the 09:10 run, which has just started.
      clock.set('2025-06-01T09:30:05Z');
      expect(await scheduler.tick()).toEqual([]);
      expect(await fireTimes(schedule.id)).toEqual(['2025-06-01T09:00:00.000Z', '2025-06-01T09:10:00.000Z']);
    });

    it('cancel_previous: cancels the unfinished run and starts the new one', async () => {
      const { schedule, first } = await firstRunParked('cancel_previous');
      clock.set('2025-06-01T09:10:00Z');
      const [second] = await scheduler.tick();
      expect((await waitForRun(stepwise, first.id)).status).toBe('cancelled');
      const events = await stepwise.store.listRunEvents(first.id);
      expect(events.find((event) => event.type === 'run.cancelled')?.data).toEqual({
        reason: "replaced by the schedule's firing at 2025-06-01T09:10:00.000Z",
      });
      expect((await stepwise.runs.get(orgId, second!)).status).not.toBe('cancelled');
      expect(await fireTimes(schedule.id)).toEqual(['2025-06-01T09:00:00.000Z', '2025-06-01T09:10:00.000Z']);
    });
  });
});

describe('the scheduler loop, on the real clock', () => {
  it('wakes for a slot due sooner than its tick, and stops', async () => {
    // A fresh process on the system clock: the loop's own timers decide when it fires.
    await stepwise.close();
    const config = loadConfig({ STEPWISE_DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    stepwise = await createStepwise(config, { logger: pino({ level: 'silent' }) });
    orgId = stepwise.defaultOrgId;
    const workflow = await logWorkflow();
    const runAt = Date.now() + 300;
    const once = await stepwise.schedules.scheduleOnce(orgId, workflow.id, {
      scheduledDate: new Date(runAt).toISOString(),
    });
    stepwise.startScheduler({ tickMs: 60_000 });
    const deadline = Date.now() + 5000;
    while ((await stepwise.schedules.get(orgId, once.id)).status === 'active' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [run] = await stepwise.store.listRuns({ org_id: orgId, limit: 10, offset: 0 });
    expect(run?.trigger.schedule_id).toBe(once.id);
    // Fired on time although the tick is a minute: the loop slept only until the slot.
    expect(run!.created_at - runAt).toBeGreaterThanOrEqual(0);
    expect(run!.created_at - runAt).toBeLessThan(1000);
    await stepwise.scheduler?.stop();
  });
});
