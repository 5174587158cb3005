import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insufficientCredits } from '../../src/domain/errors.js';
import type { TriggerConfig, WorkflowRecord } from '../../src/domain/model.js';
import { EventService } from '../../src/services/event-service.js';
import { eachBackend } from '../support/backends.js';
import { startHarness, type Harness } from '../support/stepwise-harness.js';

const backends = eachBackend();

const email = { from: 'x@y.com', subject: 'Invoice overdue', payload: { amount: 5 }, labels: ['billing'] };

describe.each(backends)('event-triggered workflows on $name', ({ database }) => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness({ worker: false, databaseUrl: await database() });
  });
  afterEach(async () => {
    await h.close();
  });

  const trigger = (filters?: Record<string, unknown>, extra: Partial<TriggerConfig> = {}): TriggerConfig => ({
    type: 'event',
    enabled: true,
    event_type: 'gmail.new_email',
    ...(filters ? { filters } : {}),
    ...extra,
  });

  const workflow = (
    title: string,
    trigger_config: TriggerConfig,
    extra: { status?: 'active' | 'inactive'; orgId?: string } = {},
  ): Promise<WorkflowRecord> =>
    h.stepwise.workflows.create(extra.orgId ?? h.orgId, {
      title,
      trigger_config,
      status: extra.status ?? 'active',
      steps: [{ id: 'say', tool: 'log', params: { message: '{{ input.subject }}' } }],
    });

  /** The titles of the workflows an event started, from the runs it returned. */
  async function started(data: unknown, type = 'gmail.new_email', orgId = h.orgId): Promise<string[]> {
    const delivery = await h.stepwise.events.publish(orgId, type, data);
    const titles = await Promise.all(
      delivery.started_run_ids.map(async (id) => {
        const run = await h.stepwise.runs.get(orgId, id);
        return (await h.stepwise.workflows.get(orgId, run.workflow_id)).title;
      }),
    );
    return titles.sort();
  }

  it('starts each active matching workflow with the event as input, and says which runs it started', async () => {
    const wf = await workflow('any email', trigger());
    const delivery = await h.stepwise.events.publish(h.orgId, 'gmail.new_email', email);
    expect(delivery.resumed_run_ids).toEqual([]);
    expect(delivery.failed_triggers).toEqual([]);
    expect(delivery.started_run_ids).toHaveLength(1);
    const run = await h.stepwise.runs.get(h.orgId, delivery.started_run_ids[0]!);
    expect(run).toMatchObject({
      workflow_id: wf.id,
      input: email,
      status: 'pending',
      idempotency_key: `event:${delivery.event.id}:${wf.id}`,
      trigger: { type: 'event', event_id: delivery.event.id, event_type: 'gmail.new_email' },
    });
  });

  it('starts only the workflows whose equality filters match', async () => {
    await workflow('from x', trigger({ from: 'x@y.com' }));
    await workflow('from x, amount 5', trigger({ from: 'x@y.com', 'payload.amount': 5 }));
    await workflow('amount "5"', trigger({ 'payload.amount': '5' }));
    await workflow('from z', trigger({ from: 'z@y.com' }));
    expect(await started(email)).toEqual(['from x', 'from x, amount 5']);
  });

  it('applies the filter operators', async () => {
    await workflow('$in', trigger({ from: { $in: ['a@y.com', 'x@y.com'] } }));
    await workflow('$in miss', trigger({ from: { $in: ['a@y.com'] } }));
    await workflow('$exists', trigger({ 'payload.amount': { $exists: true } }));
    await workflow('$exists false', trigger({ 'payload.refund': { $exists: false } }));
    await workflow('$exists miss', trigger({ 'payload.refund': { $exists: true } }));
    await workflow('$gt $lte', trigger({ 'payload.amount': { $gt: 4, $lte: 5 } }));
    await workflow('$gte miss', trigger({ 'payload.amount': { $gte: 10 } }));
    await workflow('$lt miss', trigger({ 'payload.amount': { $lt: 5 } }));
    await workflow('$contains', trigger({ subject: { $contains: 'overdue' } }));
    await workflow('$contains array', trigger({ labels: { $contains: 'billing' } }));
    await workflow('$contains miss', trigger({ subject: { $contains: 'paid' } }));
    expect(await started(email)).toEqual([
      '$contains',
      '$contains array',
      '$exists',
      '$exists false',
      '$gt $lte',
      '$in',
    ]);
  });

  it('leaves inactive, disabled, deleted, other-type and other-org workflows alone', async () => {
    await workflow('inactive', trigger(), { status: 'inactive' });
    await workflow('disabled', trigger(undefined, { enabled: false }));
    await workflow('other type', trigger(undefined, { event_type: 'slack.message' }));
    await workflow('manual', { type: 'manual', enabled: true });
    const deleted = await workflow('deleted', trigger());
    await h.stepwise.workflows.delete(h.orgId, deleted.id);
    const other = 'org_other_' + Math.random().toString(36).slice(2);
    await h.stepwise.store.createOrg({
      id: other,
      name: other,
      plan: 'free',
      credits_period: null,
      created_at: Date.now(),
    });
    await workflow('other org', trigger(), { orgId: other });
    await workflow('active', trigger());
    expect(await started(email)).toEqual(['active']);
    expect(await started(email, 'gmail.new_email', other)).toEqual(['other org']);
  });

  it('refuses a workflow whose filters use an unknown operator, naming it', async () => {
    await expect(workflow('typo', trigger({ 'payload.amount': { $gtee: 5 } }))).rejects.toMatchObject({
      status: 400,
      field: 'trigger_config.filters.payload.amount',
    });
  });

  it('reports a workflow that refuses to start and still starts the others', async () => {
    const broke = await workflow('out of credits', trigger());
    await workflow('fine', trigger());
    const runs = {
      start: async (
        orgId: string,
        workflowId: string,
        options: Parameters<typeof h.stepwise.runs.start>[2],
      ) => {
        if (workflowId === broke.id) throw insufficientCredits('the org has 0 credits; this run needs 3');
        return h.stepwise.runs.start(orgId, workflowId, options);
      },
    };
    const events = new EventService(h.stepwise.store, h.stepwise.clock, runs);
    const delivery = await events.publish(h.orgId, 'gmail.new_email', email);
    expect(delivery.started_run_ids).toHaveLength(1);
    expect(delivery.failed_triggers).toEqual([
      {
        workflow_id: broke.id,
        code: 'INSUFFICIENT_CREDITS',
        message: 'the org has 0 credits; this run needs 3',
      },
    ]);
  });
});
