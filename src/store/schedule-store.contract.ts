import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StepwiseError } from '../domain/errors.js';
import type { Millis } from '../domain/model.js';
import type { ScheduleRecord } from '../domain/schedule.js';
import type { ScheduleAdvance } from './schedule-store.js';
import type { Store } from './store.js';
import type { StoreContractOptions } from './store-fixtures.js';

const T0: Millis = 1_700_000_000_000;
const LEASE_MS = 30_000;

let counter = 0;
/** Unique across tests, so backends that share one database between tests stay isolated. */
const uid = (prefix: string): string => `${prefix}_${++counter}_${Math.random().toString(36).slice(2, 10)}`;

/** An active hourly cron schedule of `orgId`, due at T0. */
export const makeSchedule = (orgId: string, overrides: Partial<ScheduleRecord> = {}): ScheduleRecord => ({
  id: uid('sch'),
  org_id: orgId,
  workflow_id: uid('wf'),
  origin: 'api',
  kind: 'cron',
  cron: '0 * * * *',
  timezone: 'Europe/Berlin',
  run_at: null,
  next_fire_at: T0,
  catch_up: 'latest',
  overlap: 'allow',
  input: { report: 'daily', recipients: ['a@example.com'] },
  status: 'active',
  status_reason: null,
  created_at: T0,
  updated_at: T0,
  ...overrides,
});

const advance = (overrides: Partial<ScheduleAdvance> = {}): ScheduleAdvance => ({
  next_fire_at: T0 + 3_600_000,
  status: 'active',
  status_reason: null,
  hold_until: null,
  updated_at: T0 + 1,
  ...overrides,
});

/**
 * The behaviour every `ScheduleStore` must have: CRUD scoped to an org, claims that hand
 * each due schedule to one scheduler at a time, and firings recorded once per slot.
 *
 * @example
 * runScheduleStoreContract({ name: 'sqlite', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runScheduleStoreContract(options: StoreContractOptions): void {
  describe(`ScheduleStore contract: ${options.name}`, () => {
    let store: Store;
    let orgId: string;

    beforeEach(async () => {
      store = await options.createStore();
      await store.migrate();
      orgId = uid('org');
    });

    afterEach(async () => {
      await store.close();
    });

    const create = async (overrides: Partial<ScheduleRecord> = {}): Promise<ScheduleRecord> => {
      const schedule = makeSchedule(orgId, overrides);
      await store.schedules.createSchedule(schedule);
      return schedule;
    };

    describe('create, read, list', () => {
      it('reads back what it stored, and nothing of it from another org', async () => {
        const once = await create({ kind: 'once', cron: null, run_at: T0, timezone: 'GMT_plus_5_30' });
        expect(await store.schedules.getSchedule(orgId, once.id)).toEqual(once);
        expect(await store.schedules.getSchedule('org_other', once.id)).toBeNull();
        expect(await store.schedules.getSchedule(orgId, 'sch_missing')).toBeNull();
      });

      it('refuses a second schedule with the same id with SCHEDULE_EXISTS', async () => {
        const schedule = await create();
        const again = store.schedules.createSchedule({ ...schedule, cron: '*/5 * * * *' });
        await expect(again).rejects.toMatchObject({ code: 'SCHEDULE_EXISTS', status: 409 });
        await expect(again).rejects.toBeInstanceOf(StepwiseError);
        expect((await store.schedules.getSchedule(orgId, schedule.id))?.cron).toBe('0 * * * *');
      });

      it('lists the org’s schedules newest first, by workflow, a page at a time', async () => {
        const a = await create({ created_at: T0 });
        const b = await create({ created_at: T0 + 1, workflow_id: a.workflow_id });
        const c = await create({ created_at: T0 + 2 });
        await store.schedules.createSchedule(makeSchedule('org_other', { workflow_id: a.workflow_id }));
        const ids = (list: ScheduleRecord[]) => list.map((schedule) => schedule.id);
        const all = await store.schedules.listSchedules({ org_id: orgId, limit: 10, offset: 0 });
        expect(ids(all)).toEqual([c.id, b.id, a.id]);
        const ofWorkflow = { org_id: orgId, workflow_id: a.workflow_id, limit: 10, offset: 0 };
        expect(ids(await store.schedules.listSchedules(ofWorkflow))).toEqual([b.id, a.id]);
        const page = await store.schedules.listSchedules({ org_id: orgId, limit: 1, offset: 1 });
        expect(ids(page)).toEqual([b.id]);
      });
    });

    describe('update and delete', () => {
      it('replaces what may change and keeps org, workflow, origin and creation time', async () => {
        const schedule = await create({ origin: 'trigger' });
        const changed: ScheduleRecord = {
          ...schedule,
          workflow_id: 'wf_elsewhere',
          origin: 'api',
          created_at: T0 + 99,
          cron: '*/15 * * * * *',
          timezone: 'UTC',
          next_fire_at: T0 + 15_000,
          catch_up: 'all',
          overlap: 'queue',
          input: { changed: true },
          status: 'paused',
          status_reason: 'the workflow is inactive',
          updated_at: T0 + 5,
        };
        expect(await store.schedules.updateSchedule(changed)).toBe(true);
        expect(await store.schedules.getSchedule(orgId, schedule.id)).toEqual({
          ...changed,
          workflow_id: schedule.workflow_id,
          origin: 'trigger',
          created_at: T0,
        });
        expect(await store.schedules.updateSchedule({ ...changed, id: 'sch_missing' })).toBe(false);
        expect(await store.schedules.updateSchedule({ ...changed, org_id: 'org_other' })).toBe(false);
      });

      it('deletes a schedule with its firings, only in its own org', async () => {
        const schedule = await create();
        await store.schedules.recordFiring(schedule.id, T0, 'run_1', T0);
        expect(await store.schedules.deleteSchedule('org_other', schedule.id)).toBe(false);
        expect(await store.schedules.deleteSchedule(orgId, schedule.id)).toBe(true);
        expect(await store.schedules.getSchedule(orgId, schedule.id)).toBeNull();
        expect(await store.schedules.listFirings(schedule.id, 10)).toEqual([]);
        expect(await store.schedules.deleteSchedule(orgId, schedule.id)).toBe(false);
      });
    });

    describe('claims', () => {
      it('claims active due schedules earliest first, up to the limit', async () => {
        const late = await create({ next_fire_at: T0 - 10 });
        const early = await create({ next_fire_at: T0 - 20 });
        await create({ next_fire_at: T0 - 30, status: 'paused', status_reason: 'inactive' });
        await create({ next_fire_at: T0 + 1 });
        await create({ next_fire_at: null, status: 'exhausted', status_reason: 'no future occurrence' });
        const first = await store.schedules.claimDueSchedules('a', 1, LEASE_MS, T0);
        expect(first.map((s) => s.id)).toEqual([early.id]);
        const rest = await store.schedules.claimDueSchedules('b', 10, LEASE_MS, T0);
        expect(rest.map((s) => s.id)).toEqual([late.id]);
        expect(await store.schedules.claimDueSchedules('c', 10, LEASE_MS, T0)).toEqual([]);
      });

      it('hands a schedule whose claim expired to another scheduler', async () => {
        const schedule = await create();
        await store.schedules.claimDueSchedules('a', 10, LEASE_MS, T0);
        expect(await store.schedules.claimDueSchedules('b', 10, LEASE_MS, T0 + LEASE_MS - 1)).toEqual([]);
        const taken = await store.schedules.claimDueSchedules('b', 10, LEASE_MS, T0 + LEASE_MS);
        expect(taken.map((s) => s.id)).toEqual([schedule.id]);
        // The first holder lost it: its write-back is refused.
        expect(await store.schedules.advanceSchedule(schedule.id, 'a', advance())).toBe(false);
        expect(await store.schedules.advanceSchedule(schedule.id, 'b', advance())).toBe(true);
      });

      it('gives each schedule to exactly one of several concurrent claimers', async () => {
        const schedules = await Promise.all(Array.from({ length: 12 }, () => create()));
        const owners = ['a', 'b', 'c', 'd', 'e', 'f'];
        const claims = await Promise.all(
          owners.map((owner) => store.schedules.claimDueSchedules(owner, 3, LEASE_MS, T0)),
        );
        const claimed = claims.flat().map((s) => s.id);
        expect(claimed.sort()).toEqual(schedules.map((s) => s.id).sort());
      });

      it('advances a claimed schedule and releases it, or holds it until a time', async () => {
        const schedule = await create();
        await store.schedules.claimDueSchedules('a', 10, LEASE_MS, T0);
        const next = advance({ next_fire_at: T0 + 60_000, status_reason: 'the 09:00 firing was skipped' });
        expect(await store.schedules.advanceSchedule(schedule.id, 'a', next)).toBe(true);
        expect(await store.schedules.getSchedule(orgId, schedule.id)).toMatchObject({
          next_fire_at: T0 + 60_000,
          status: 'active',
          status_reason: 'the 09:00 firing was skipped',
          updated_at: T0 + 1,
        });
        // Released: due again at its next slot, for anyone.
        const again = await store.schedules.claimDueSchedules('b', 10, LEASE_MS, T0 + 60_000);
        expect(again.map((s) => s.id)).toEqual([schedule.id]);
        const held = advance({ next_fire_at: T0 + 60_000, hold_until: T0 + 61_000 });
        expect(await store.schedules.advanceSchedule(schedule.id, 'b', held)).toBe(true);
        expect(await store.schedules.claimDueSchedules('c', 10, LEASE_MS, T0 + 60_500)).toEqual([]);
        const after = await store.schedules.claimDueSchedules('c', 10, LEASE_MS, T0 + 61_000);
        expect(after.map((s) => s.id)).toEqual([schedule.id]);
      });

      it('refuses a write-back after the schedule was updated meanwhile', async () => {
        const schedule = await create();
        await store.schedules.claimDueSchedules('a', 10, LEASE_MS, T0);
        await store.schedules.updateSchedule({
          ...schedule,
          status: 'cancelled',
          status_reason: 'by request',
        });
        expect(await store.schedules.advanceSchedule(schedule.id, 'a', advance())).toBe(false);
        expect((await store.schedules.getSchedule(orgId, schedule.id))?.status).toBe('cancelled');
      });

      it('ends a schedule for good through a write-back', async () => {
        const schedule = await create({ kind: 'once', cron: null, run_at: T0 });
        await store.schedules.claimDueSchedules('a', 10, LEASE_MS, T0);
        const done = advance({ next_fire_at: null, status: 'completed', status_reason: 'fired once' });
        expect(await store.schedules.advanceSchedule(schedule.id, 'a', done)).toBe(true);
        expect(await store.schedules.claimDueSchedules('b', 10, LEASE_MS, T0 + 10 * LEASE_MS)).toEqual([]);
        expect((await store.schedules.getSchedule(orgId, schedule.id))?.status).toBe('completed');
      });

      it('tells the earliest future slot of an active schedule', async () => {
        expect(await store.schedules.nextDueAt(T0)).toBeNull();
        await create({ next_fire_at: T0 - 5 });
        await create({ next_fire_at: T0 + 500, status: 'paused', status_reason: 'inactive' });
        await create({ next_fire_at: T0 + 900 });
        await create({ next_fire_at: T0 + 700 });
        expect(await store.schedules.nextDueAt(T0)).toBe(T0 + 700);
      });
    });

    describe('firings', () => {
      it('records a slot once: the second recorder of the same slot gets false', async () => {
        const schedule = await create();
        expect(await store.schedules.recordFiring(schedule.id, T0, 'run_1', T0 + 3)).toBe(true);
        expect(await store.schedules.recordFiring(schedule.id, T0, 'run_2', T0 + 4)).toBe(false);
        expect(await store.schedules.recordFiring(schedule.id, T0 + 60_000, 'run_3', T0 + 60_001)).toBe(true);
        expect(await store.schedules.listFirings(schedule.id, 10)).toEqual([
          { schedule_id: schedule.id, fire_at: T0 + 60_000, run_id: 'run_3', created_at: T0 + 60_001 },
          { schedule_id: schedule.id, fire_at: T0, run_id: 'run_1', created_at: T0 + 3 },
        ]);
        expect(await store.schedules.listFirings(schedule.id, 1)).toHaveLength(1);
      });

      it('lets exactly one of several racing recorders win a slot', async () => {
        const schedule = await create();
        const results = await Promise.all(
          ['a', 'b', 'c', 'd', 'e'].map((who) =>
            store.schedules.recordFiring(schedule.id, T0, `run_${who}`, T0),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.schedules.listFirings(schedule.id, 10)).toHaveLength(1);
      });
    });
  });
}
