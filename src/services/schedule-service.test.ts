import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TriggerConfig, WorkflowRecord } from '../domain/model.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { createDefaultToolRegistry } from '../tools/registry.js';
import { ScheduleService, triggerScheduleId } from './schedule-service.js';
import { WorkflowService } from './workflow-service.js';

const ORG = 'org_acme';
let now = Date.parse('2025-06-01T08:30:00Z');
const clock = { now: () => now };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

let store: SqliteStore;
let schedules: ScheduleService;
let workflows: WorkflowService;

beforeEach(async () => {
  now = Date.parse('2025-06-01T08:30:00Z');
  store = SqliteStore.open({ path: ':memory:' });
  await store.migrate();
  await store.createOrg({ id: ORG, name: 'acme', plan: 'free', credits_period: null, created_at: now });
  schedules = new ScheduleService(store, clock);
  workflows = new WorkflowService(store, createDefaultToolRegistry(), clock, {
    saved: async (workflow) => void (await schedules.syncFromWorkflow(workflow)),
    deleted: (orgId, id) => schedules.workflowDeleted(orgId, id),
  });
});

afterEach(async () => {
  await store.close();
});

const create = (trigger_config?: TriggerConfig, slug?: string): Promise<WorkflowRecord> =>
  workflows.create(ORG, {
    title: 'Daily email summary',
    slug,
    steps: [{ id: 'say', tool: 'log', params: { message: 'hi' } }],
    ...(trigger_config ? { trigger_config } : {}),
  });

const scheduled = (overrides: Partial<TriggerConfig> = {}): TriggerConfig => ({
  type: 'scheduled',
  enabled: true,
  schedule: '0 9 * * 1-5',
  timezone: 'America/New_York',
  ...overrides,
});

const triggerSchedule = (workflow: WorkflowRecord) => schedules.get(ORG, triggerScheduleId(workflow.id));

describe('createCron', () => {
  it('stores a cron schedule with its first slot, found by workflow slug too', async () => {
    await create(undefined, 'summary');
    const schedule = await schedules.createCron(ORG, 'summary', {
      cron: '0 9 * * *',
      timezone: 'GMT_plus_5_30',
      input: { to: 'ada@example.com' },
      overlap: 'skip',
    });
    expect(schedule).toMatchObject({
      origin: 'api',
      kind: 'cron',
      cron: '0 9 * * *',
      timezone: 'GMT_plus_5_30',
      catch_up: 'latest',
      overlap: 'skip',
      input: { to: 'ada@example.com' },
      status: 'active',
      status_reason: null,
    });
    expect(iso(schedule.next_fire_at)).toBe('2025-06-02T03:30:00.000Z');
    expect(await schedules.list(ORG, { workflow_id: schedule.workflow_id })).toEqual([schedule]);
  });

  it('refuses bad input with a 400 naming the field, and an unknown workflow with a 404', async () => {
    const wf = await create();
    const bad: [Parameters<ScheduleService['createCron']>[2], string][] = [
      [{ cron: '0 25 * * *' }, 'cron'],
      [{ cron: '0 0 30 2 *' }, 'cron'],
      [{ cron: '0 9 * * *', timezone: 'Moon/Base' }, 'timezone'],
      [{ cron: '0 9 * * *', catch_up: 'some' as never }, 'catch_up'],
      [{ cron: '0 9 * * *', overlap: 'replace' as never }, 'overlap'],
      [{ cron: '0 9 * * *', input: { big: 'x'.repeat(1_000_001) } }, 'input'],
    ];
    for (const [input, field] of bad) {
      await expect(schedules.createCron(ORG, wf.id, input)).rejects.toMatchObject({ status: 400, field });
    }
    await expect(schedules.createCron(ORG, 'wf_nope', { cron: '0 9 * * *' })).rejects.toMatchObject({
      status: 404,
    });
    await expect(schedules.createCron('org_other', wf.id, { cron: '0 9 * * *' })).rejects.toMatchObject({
      status: 404,
    });
  });
});

describe('scheduleOnce (document 002)', () => {
  it('takes a date with Z as that instant, and one without an offset in the time zone', async () => {
    const wf = await create();
    const exact = await schedules.scheduleOnce(ORG, wf.id, {
      scheduledDate: '2026-07-01T09:00:00.000Z',
      timezone: 'GMT_plus_1',
    });
    expect(exact).toMatchObject({ kind: 'once', timezone: 'GMT_plus_1', status: 'active', cron: null });
    expect(iso(exact.run_at)).toBe('2026-07-01T09:00:00.000Z');
    expect(exact.next_fire_at).toBe(exact.run_at);
    const local = await schedules.scheduleOnce(ORG, wf.id, {
      scheduledDate: '2026-07-01T09:00:00',
      timezone: 'Europe/Berlin',
    });
    expect(iso(local.run_at)).toBe('2026-07-01T07:00:00.000Z');
  });

  it('refuses a date in the past, a bad date or zone with a 400 naming the field', async () => {
    const wf = await create();
    await expect(
      schedules.scheduleOnce(ORG, wf.id, { scheduledDate: '2025-06-01T08:29:59Z' }),
    ).rejects.toMatchObject({ status: 400, field: 'scheduledDate' });
    await expect(schedules.scheduleOnce(ORG, wf.id, { scheduledDate: 'next tuesday' })).rejects.toMatchObject(
      {
        status: 400,
        field: 'scheduledDate',
      },
    );
    await expect(
      schedules.scheduleOnce(ORG, wf.id, { scheduledDate: '2026-07-01T09:00:00', timezone: 'GMT_plus_1_5' }),
    ).rejects.toMatchObject({ status: 400, field: 'timezone' });
  });
});

describe('cancel, firings, delete', () => {
  it('cancels for good, and keeps other orgs out', async () => {
    const wf = await create();
    const schedule = await schedules.createCron(ORG, wf.id, { cron: '*/5 * * * *' });
    await expect(schedules.cancel('org_other', schedule.id)).rejects.toMatchObject({ status: 404 });
    await expect(schedules.firings('org_other', schedule.id)).rejects.toMatchObject({ status: 404 });
    const cancelled = await schedules.cancel(ORG, schedule.id);
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      status_reason: 'cancelled by request',
      next_fire_at: null,
    });
    expect(await schedules.get(ORG, schedule.id)).toEqual(cancelled);
    await schedules.delete(ORG, schedule.id);
    await expect(schedules.get(ORG, schedule.id)).rejects.toMatchObject({ status: 404 });
  });
});

describe('a workflow’s scheduled trigger', () => {
  it('gets a schedule when the workflow is created, in its time zone', async () => {
    const wf = await create(scheduled());
    const schedule = await triggerSchedule(wf);
    expect(schedule).toMatchObject({
      origin: 'trigger',
      workflow_id: wf.id,
      cron: '0 9 * * 1-5',
      timezone: 'America/New_York',
      status: 'active',
    });
    expect(iso(schedule.next_fire_at)).toBe('2025-06-02T13:00:00.000Z'); // Monday 09:00 EDT
  });

  it('pauses on deactivation or a disabled trigger, and resumes from the next slot', async () => {
    const wf = await create(scheduled());
    await workflows.update(ORG, wf.id, { status: 'inactive' });
    expect(await triggerSchedule(wf)).toMatchObject({
      status: 'paused',
      status_reason: `workflow '${wf.id}' is inactive`,
      next_fire_at: null,
    });
    now = Date.parse('2025-06-03T14:00:00Z');
    await workflows.update(ORG, wf.id, { status: 'active' });
    const resumed = await triggerSchedule(wf);
    expect(resumed).toMatchObject({ status: 'active', status_reason: null });
    expect(iso(resumed.next_fire_at)).toBe('2025-06-04T13:00:00.000Z');
    await workflows.update(ORG, wf.id, { trigger_config: scheduled({ enabled: false }) });
    expect(await triggerSchedule(wf)).toMatchObject({
      status: 'paused',
      status_reason: `workflow '${wf.id}' has its trigger disabled`,
    });
  });

  it('follows a new cron and policies, and keeps the slot when the trigger did not change', async () => {
    const wf = await create(scheduled());
    const before = await triggerSchedule(wf);
    now = before.next_fire_at! + 500; // edited just as the slot comes due
    await workflows.update(ORG, wf.id, { title: 'renamed' });
    expect((await triggerSchedule(wf)).next_fire_at).toBe(before.next_fire_at);
    await workflows.update(ORG, wf.id, {
      trigger_config: scheduled({
        schedule: '*/15 * * * *',
        timezone: 'UTC',
        catch_up: 'all',
        overlap: 'queue',
      }),
    });
    const after = await triggerSchedule(wf);
    expect(after).toMatchObject({ cron: '*/15 * * * *', timezone: 'UTC', catch_up: 'all', overlap: 'queue' });
    expect(iso(after.next_fire_at)).toBe('2025-06-02T13:15:00.000Z');
  });

  it('says why a trigger cannot fire instead of going silent', async () => {
    const never = await create(scheduled({ schedule: '0 0 30 2 *' }));
    expect(await triggerSchedule(never)).toMatchObject({
      status: 'exhausted',
      status_reason: "'0 0 30 2 *' has no occurrence after 2025-06-01T08:30:00.000Z",
    });
    const badPolicy = await create(scheduled({ overlap: 'sometimes' }));
    const failed = await triggerSchedule(badPolicy);
    expect(failed.status).toBe('failed');
    expect(failed.status_reason).toMatch(/^trigger_config\.overlap: 'sometimes' is not one of/);
  });

  it('is cancelled when the trigger stops being scheduled, and marked when the workflow is deleted', async () => {
    const wf = await create(scheduled());
    await workflows.update(ORG, wf.id, { trigger_config: { type: 'manual', enabled: true } });
    expect(await triggerSchedule(wf)).toMatchObject({
      status: 'cancelled',
      status_reason: `workflow '${wf.id}' no longer has a scheduled trigger`,
    });
    await workflows.update(ORG, wf.id, { trigger_config: scheduled() });
    expect((await triggerSchedule(wf)).status).toBe('active');
    await workflows.delete(ORG, wf.id);
    expect(await triggerSchedule(wf)).toMatchObject({
      status: 'workflow_missing',
      status_reason: `workflow '${wf.id}' was deleted`,
    });
  });

  it('does not make a schedule for a workflow that never had a scheduled trigger', async () => {
    const wf = await create({ type: 'event', enabled: true, event_type: 'gmail.new_email' });
    expect(await schedules.syncFromWorkflow(wf)).toBeNull();
    expect(await schedules.list(ORG)).toEqual([]);
  });
});
