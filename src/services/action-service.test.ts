import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, waitForRun, type Harness } from '../../test/support/stepwise-harness.js';
import { newId } from '../domain/ids.js';
import type { WorkflowRecord } from '../domain/model.js';
import type { Principal } from '../domain/scopes.js';
import { MAX_WAIT_MS, UnknownActionError } from './action-service.js';

// A whole process on a temp SQLite file, with its worker, so started runs really finish.
let h: Harness;
let principal: Principal;
let otherOrg: Principal;
let shopSiteId: string;
let enrichLead: WorkflowRecord;

beforeAll(async () => {
  h = await startHarness();
  const keys = h.stepwise.keys;
  principal = await keys.authenticate(
    (await keys.create({ orgName: 'default', scopes: ['workflows:write'] })).key,
  );
  otherOrg = await keys.authenticate(
    (await keys.create({ orgName: 'other', scopes: ['workflows:write'] })).key,
  );
  shopSiteId = newId('site');
  await h.stepwise.store.createSite({
    id: shopSiteId,
    org_id: h.orgId,
    name: 'shop',
    created_at: Date.now(),
  });
  enrichLead = await h.stepwise.workflows.create(h.orgId, {
    title: 'Enrich a lead',
    slug: 'enrichLead',
    steps: [{ id: 'echo', tool: 'transform', params: { expression: 'site_id', data: '{{ input }}' } }],
  });
  await h.stepwise.workflows.create(h.orgId, {
    title: 'Lead research',
    slug: 'leadResearch',
    steps: [{ id: 'nap', tool: 'delay', params: { duration: '1h' } }],
  });
});
afterAll(async () => {
  await h.close();
});

const actions = () => h.stepwise.actions;

describe('ActionService.resolve', () => {
  it('finds the workflow by slug or by id', async () => {
    expect((await actions().resolve(h.orgId, 'enrichLead')).id).toBe(enrichLead.id);
    expect((await actions().resolve(h.orgId, enrichLead.id)).slug).toBe('enrichLead');
  });

  it("refuses an unknown action with a 404 UNKNOWN_ACTION listing the org's actions, sorted", async () => {
    const refusal = await actions()
      .resolve(h.orgId, 'enrichLeads')
      .catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(UnknownActionError);
    expect(refusal).toMatchObject({
      code: 'UNKNOWN_ACTION',
      status: 404,
      field: 'action',
      action: 'enrichLeads',
      actions: expect.arrayContaining(['enrichLead', 'leadResearch']),
    });
    const listed = (refusal as UnknownActionError).actions;
    expect(listed).toEqual([...listed].sort());
    expect((refusal as Error).message).toContain('enrichLead, ');
  });

  it("neither resolves nor lists another org's workflows", async () => {
    await expect(actions().resolve(otherOrg.org_id, 'enrichLead')).rejects.toMatchObject({
      code: 'UNKNOWN_ACTION',
      actions: [],
      message: expect.stringContaining('(none yet)'),
    });
    await expect(actions().resolve(otherOrg.org_id, enrichLead.id)).rejects.toBeInstanceOf(
      UnknownActionError,
    );
  });
});

describe('ActionService.start', () => {
  it("runs the action with the payload as input, on the key's site by default", async () => {
    const started = await actions().start({ principal, action: 'enrichLead', payload: { lead_id: 'L1' } });
    expect(started).toMatchObject({
      workflow: { id: enrichLead.id },
      created: true,
      site_id: principal.site_id,
    });
    const run = await waitForRun(h.stepwise, started.run.id);
    expect(run).toMatchObject({
      status: 'completed',
      site_id: principal.site_id,
      input: { lead_id: 'L1', site_id: principal.site_id },
      output: principal.site_id,
      trigger: { type: 'api', action: 'enrichLead', key_id: principal.key_id },
    });
    expect(run.trigger).not.toHaveProperty('via');
  });

  it('runs on the requested site of the org, and records the adapter that asked', async () => {
    const { run } = await actions().start({
      principal,
      action: 'enrichLead',
      payload: { site_id: shopSiteId },
      via: 'mcp',
    });
    expect(run).toMatchObject({ site_id: shopSiteId, input: { site_id: shopSiteId } });
    expect(run.trigger).toEqual({ type: 'api', via: 'mcp', action: 'enrichLead', key_id: principal.key_id });
  });

  it("refuses a site_id that is not the org's (400 naming it) before looking at the action", async () => {
    const before = (await h.stepwise.runs.list(h.orgId, { limit: 500 })).length;
    for (const site_id of [otherOrg.site_id, 'site_nope', 7]) {
      for (const action of ['enrichLead', 'noSuchAction']) {
        await expect(actions().start({ principal, action, payload: { site_id } })).rejects.toMatchObject({
          code: 'VALIDATION_FAILED',
          status: 400,
          field: 'site_id',
        });
      }
    }
    expect((await h.stepwise.runs.list(h.orgId, { limit: 500 })).length).toBe(before);
  });

  it('returns the run it started before for a repeated idempotency key', async () => {
    const request = { principal, action: 'enrichLead', payload: {}, idempotencyKey: 'action-once' };
    const first = await actions().start(request);
    const again = await actions().start(request);
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ created: false, run: { id: first.run.id } });
  });
});

describe('ActionService.waitForEnd', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers with the run once it has ended', async () => {
    const { run } = await actions().start({ principal, action: 'enrichLead', payload: {} });
    const ended = await actions().waitForEnd(run, 10_000);
    expect(ended).toMatchObject({ id: run.id, status: 'completed', output: principal.site_id });
  });

  it('answers with the run as it is when the timeout passes first', async () => {
    const { run } = await actions().start({ principal, action: 'leadResearch', payload: {} });
    const started = Date.now();
    const current = await actions().waitForEnd(run, 150);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(current.status).toMatch(/^(pending|running)$/);
    await h.stepwise.runs.cancel(h.orgId, run.id);
  });

  it(`never waits longer than ${MAX_WAIT_MS} ms, whatever the caller asks`, async () => {
    const { run } = await actions().start({ principal, action: 'leadResearch', payload: {} });
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // Only the wall clock is faked, so the polling (and the worker) keep their real timers.
    vi.useFakeTimers({ toFake: ['Date'] });
    let answered = false;
    const waiting = actions()
      .waitForEnd(run, 10 * MAX_WAIT_MS)
      .finally(() => (answered = true));
    vi.setSystemTime(Date.now() + MAX_WAIT_MS - 1);
    await pause(300);
    expect(answered).toBe(false);
    vi.setSystemTime(Date.now() + 1);
    await pause(300);
    expect(answered).toBe(true);
    expect((await waiting).status).toMatch(/^(pending|running)$/);
    vi.useRealTimers();
    await h.stepwise.runs.cancel(h.orgId, run.id);
  });
});
