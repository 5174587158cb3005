import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StepDefinitionInput } from '../../src/domain/workflow.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { startHarness, waitForRun, waitForRunState, type Harness } from '../support/stepwise-harness.js';

let server: HttpRecorder;
let h: Harness;

beforeAll(async () => {
  server = await startHttpRecorder();
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  server.reset();
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function runWorkflow(
  steps: StepDefinitionInput[],
  input: unknown = {},
  extra: { timeout_ms?: number } = {},
) {
  const workflow = await h.stepwise.workflows.create(h.orgId, {
    title: `wf ${Math.random()}`,
    steps,
    ...extra,
  });
  const { run } = await h.stepwise.runs.start(h.orgId, workflow.id, { input });
  return { workflow, run };
}

const eventTypes = async (runId: string) =>
  (await h.stepwise.store.listRunEvents(runId)).map((event) => event.type);

describe('a run', () => {
  it('executes its steps in order, passing outputs on through templates', async () => {
    server.script('/lead', { json: { name: 'Ada', score: 41 } });
    const { run } = await runWorkflow(
      [
        { id: 'fetch', tool: 'http', params: { url: `${server.url}/lead?id={{ input.lead_id }}` } },
        {
          id: 'score',
          tool: 'transform',
          params: { expression: 'score + 1', data: '{{ steps.fetch.output.body }}' },
        },
        {
          id: 'post',
          tool: 'http',
          params: {
            method: 'POST',
            url: `${server.url}/crm`,
            json: { name: '{{ steps.fetch.output.body.name }}', score: '{{ steps.score.output }}' },
          },
        },
      ],
      { lead_id: 'L1' },
    );
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.status).toBe('completed');
    expect(done.current_step).toBe(3);
    expect(server.requestsTo('/lead')[0]!.query).toEqual({ id: 'L1' });
    expect(server.requestsTo('/crm')[0]!.json).toEqual({ name: 'Ada', score: 42 });
    expect(server.requestsTo('/crm')[0]!.headers['idempotency-key']).toBe(`${run.id}:post`);
    expect((done.output as { status: number }).status).toBe(200);
    const steps = await h.stepwise.store.listRunSteps(run.id);
    expect(steps.map((step) => [step.step_id, step.status, step.attempt])).toEqual([
      ['fetch', 'completed', 1],
      ['score', 'completed', 1],
      ['post', 'completed', 1],
    ]);
    expect(await eventTypes(run.id)).toEqual([
      'run.created',
      'run.started',
      'step.started',
      'step.completed',
      'step.started',
      'step.completed',
      'step.started',
      'step.completed',
      'run.completed',
    ]);
  });

  it('retries a failing step with backoff, as future wake-ups, until it succeeds', async () => {
    server.script('/flaky', { status: 503 }, { status: 500 }, { status: 200, json: { ok: 1 } });
    const { run } = await runWorkflow([
      {
        id: 'call',
        tool: 'http',
        params: { url: `${server.url}/flaky` },
        retry: { max_attempts: 4, backoff: 'exponential', initial_ms: 40, max_ms: 200 },
      },
    ]);
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.status).toBe('completed');
    const attempts = await h.stepwise.store.listRunSteps(run.id);
    expect(attempts.map((step) => [step.attempt, step.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'completed'],
    ]);
    expect(attempts[0]!.error?.code).toBe('HTTP_STATUS');
    const requests = server.requestsTo('/flaky');
    expect(requests[1]!.received_at - requests[0]!.received_at).toBeGreaterThanOrEqual(20);
    expect((await eventTypes(run.id)).filter((type) => type === 'step.retry_scheduled')).toHaveLength(2);
    expect(new Set(requests.map((request) => request.headers['idempotency-key']))).toEqual(
      new Set([`${run.id}:call`]),
    );
  });

  it('fails after its last attempt, with the step error on the run', async () => {
    server.script('/down', { status: 500 });
    const { run } = await runWorkflow([
      {
        id: 'call',
        tool: 'http',
        params: { url: `${server.url}/down` },
        retry: { max_attempts: 2, backoff: 'fixed', initial_ms: 10, max_ms: 10 },
      },
      { id: 'never', tool: 'log', params: { message: 'unreachable' } },
    ]);
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'HTTP_STATUS', step_id: 'call' });
    expect(server.requestsTo('/down')).toHaveLength(2);
    expect((await h.stepwise.store.listRunSteps(run.id)).some((step) => step.step_id === 'never')).toBe(
      false,
    );
  });

  it('does not retry a missing template reference, and names it', async () => {
    const { run } = await runWorkflow([
      { id: 'greet', tool: 'log', params: { message: 'hi {{ input.nobody }}' } },
    ]);
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('TEMPLATE_MISSING_REFERENCE');
    expect(done.error?.message).toContain('input.nobody');
    expect(await h.stepwise.store.listRunSteps(run.id)).toHaveLength(1);
  });

  it('aborts a step at its timeout', async () => {
    server.script('/slow', { delayMs: 5000, json: {} });
    const started = Date.now();
    const { run } = await runWorkflow([
      {
        id: 'slow',
        tool: 'http',
        params: { url: `${server.url}/slow` },
        timeout_ms: 200,
        retry: { max_attempts: 1, backoff: 'fixed', initial_ms: 0, max_ms: 0 },
      },
    ]);
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('STEP_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('fails at the run timeout, even while parked in a delay', async () => {
    const { run } = await runWorkflow(
      [{ id: 'nap', tool: 'delay', params: { duration: '1h' } }],
      {},
      { timeout_ms: 300 },
    );
    const done = await waitForRun(h.stepwise, run.id, 5000);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('RUN_TIMEOUT');
  });

  it('cancels a running step, aborting its HTTP request', async () => {
    server.script('/hang', { delayMs: 10_000, json: {} });
    const { run } = await runWorkflow([{ id: 'hang', tool: 'http', params: { url: `${server.url}/hang` } }]);
    await waitForRunState(h.stepwise, run.id, () => server.requestsTo('/hang').length > 0);
    const requestedAt = Date.now();
    await h.stepwise.runs.cancel(h.orgId, run.id);
    const done = await waitForRun(h.stepwise, run.id, 3000);
    expect(done.status).toBe('cancelled');
    expect(Date.now() - requestedAt).toBeLessThan(1000);
    expect(await eventTypes(run.id)).toEqual(
      expect.arrayContaining(['run.cancel_requested', 'run.cancelled']),
    );
    expect(h.stepwise.worker?.activeRunIds).toEqual([]);
  });

  it('cancels a parked run at once', async () => {
    const { run } = await runWorkflow([{ id: 'nap', tool: 'delay', params: { duration: '1h' } }]);
    await waitForRunState(h.stepwise, run.id, (current) => current.step_state !== null);
    const cancelled = await h.stepwise.runs.cancel(h.orgId, run.id);
    expect(cancelled.status).toBe('cancelled');
    await expect(h.stepwise.runs.cancel(h.orgId, run.id)).rejects.toMatchObject({
      code: 'RUN_ALREADY_FINISHED',
      status: 409,
    });
  });

  it('ends partial_complete when a continue_on_error step fails', async () => {
    server.script('/bad', { status: 404 });
    const { run } = await runWorkflow([
      { id: 'optional', tool: 'http', params: { url: `${server.url}/bad` }, continue_on_error: true },
      { id: 'after', tool: 'log', params: { message: 'still here' } },
    ]);
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.status).toBe('partial_complete');
    expect(done.output).toMatchObject({ message: 'still here' });
  });

  it('skips a step whose when is false, and branches with condition', async () => {
    const { run } = await runWorkflow(
      [
        {
          id: 'route',
          tool: 'condition',
          params: { data: '{{ input }}', cases: [{ when: 'tier = "gold"', goto: 'gold' }], else: 'end' },
        },
        { id: 'silver', tool: 'log', params: { message: 'silver' } },
        { id: 'gold', tool: 'log', params: { message: 'gold' }, when: 'input.vip = true' },
        { id: 'thanks', tool: 'log', params: { message: 'thanks' }, when: 'input.vip = false' },
      ],
      { tier: 'gold', vip: false },
    );
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.status).toBe('completed');
    const steps = await h.stepwise.store.listRunSteps(run.id);
    expect(steps.map((step) => [step.step_id, step.status])).toEqual([
      ['route', 'completed'],
      ['gold', 'skipped'],
      ['thanks', 'completed'],
    ]);
  });

  it('pins the workflow version it started with', async () => {
    const workflow = await h.stepwise.workflows.create(h.orgId, {
      title: 'pinned',
      steps: [
        { id: 'nap', tool: 'delay', params: { duration_ms: 300 } },
        { id: 'say', tool: 'log', params: { message: 'v1' } },
      ],
    });
    const { run } = await h.stepwise.runs.start(h.orgId, workflow.id);
    const edited = await h.stepwise.workflows.update(h.orgId, workflow.id, {
      steps: [
        { id: 'nap', tool: 'delay', params: { duration_ms: 300 } },
        { id: 'say', tool: 'log', params: { message: 'v2' } },
      ],
    });
    expect(edited.version).toBe(2);
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.workflow_version).toBe(1);
    expect(done.output).toMatchObject({ message: 'v1' });
  });

  it('returns the same run for the same idempotency key', async () => {
    const workflow = await h.stepwise.workflows.create(h.orgId, {
      title: 'once',
      steps: [{ id: 'a', tool: 'log', params: { message: 'x' } }],
    });
    const first = await h.stepwise.runs.start(h.orgId, workflow.id, { idempotency_key: 'order-17' });
    const second = await h.stepwise.runs.start(h.orgId, workflow.id, { idempotency_key: 'order-17' });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.run.id).toBe(first.run.id);
  });

  it('fills secrets into params but never stores their values', async () => {
    await h.stepwise.secrets.put(h.orgId, 'CRM_TOKEN', 'tok-123-secret');
    const { run } = await runWorkflow([
      {
        id: 'call',
        tool: 'http',
        params: { url: `${server.url}/secure`, headers: { Authorization: 'Bearer {{ secrets.CRM_TOKEN }}' } },
      },
    ]);
    await waitForRun(h.stepwise, run.id);
    expect(server.requestsTo('/secure')[0]!.headers.authorization).toBe('Bearer tok-123-secret');
    const [step] = await h.stepwise.store.listRunSteps(run.id);
    expect(JSON.stringify(step!.input)).not.toContain('tok-123-secret');
    expect(JSON.stringify(step!.input)).toContain('[secret]');
  });

  it('runs a sub-workflow and continues with its output', async () => {
    await h.stepwise.workflows.create(h.orgId, {
      title: 'child',
      slug: 'child',
      steps: [
        { id: 'nap', tool: 'delay', params: { duration_ms: 100 } },
        { id: 'double', tool: 'transform', params: { expression: 'n * 2', data: '{{ input }}' } },
      ],
    });
    const { run } = await runWorkflow(
      [
        { id: 'sub', tool: 'workflow', params: { workflow: 'child', input: { n: '{{ input.n }}' } } },
        {
          id: 'use',
          tool: 'transform',
          params: { expression: '$ + 1', data: '{{ steps.sub.output.output }}' },
        },
      ],
      { n: 20 },
    );
    const done = await waitForRun(h.stepwise, run.id);
    expect(done.status).toBe('completed');
    expect(done.output).toBe(41);
    const children = (await h.stepwise.runs.list(h.orgId)).filter(
      (candidate) => candidate.parent_run_id === run.id,
    );
    expect(children).toHaveLength(1);
    expect(children[0]!.status).toBe('completed');
  });
});

describe('waiting runs hold no worker', () => {
  it('parks 1,000 runs waiting for events with concurrency 4, and resumes them all', async () => {
    await h.close();
    h = await startHarness({ concurrency: 4 });
    const workflow = await h.stepwise.workflows.create(h.orgId, {
      title: 'approval',
      steps: [
        {
          id: 'approval',
          tool: 'wait_for_event',
          params: { event_type: 'order.approved', match: { order_id: '{{ input.order_id }}' } },
        },
        {
          id: 'ship',
          tool: 'transform',
          params: { expression: 'order_id', data: '{{ steps.approval.output.event }}' },
        },
      ],
    });
    const runs = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        h.stepwise.runs.start(h.orgId, workflow.id, { input: { order_id: `o${i % 2}` } }),
      ),
    );
    await waitForWaiting(1000, 20_000);
    expect(h.stepwise.worker?.activeRunIds).toEqual([]);

    const first = await h.stepwise.events.publish(h.orgId, 'order.approved', { order_id: 'o0' });
    expect(first.resumed_run_ids).toHaveLength(500);
    await h.stepwise.events.publish(h.orgId, 'order.approved', { order_id: 'o1' });
    for (const { run } of runs) {
      const done = await waitForRun(h.stepwise, run.id, 20_000);
      expect(done.status).toBe('completed');
      expect(done.output).toBe(run.input && (run.input as { order_id: string }).order_id);
    }
  }, 60_000);

  it('parks 1,000 delayed runs with concurrency 4, and wakes them all', async () => {
    await h.close();
    h = await startHarness({ concurrency: 4 });
    const workflow = await h.stepwise.workflows.create(h.orgId, {
      title: 'nap',
      steps: [
        { id: 'nap', tool: 'delay', params: { duration_ms: 1500 } },
        { id: 'done', tool: 'log', params: { message: 'up' } },
      ],
    });
    const runs = await Promise.all(
      Array.from({ length: 1000 }, () => h.stepwise.runs.start(h.orgId, workflow.id)),
    );
    await waitForWaiting(1000, 20_000);
    for (const { run } of runs)
      expect((await waitForRun(h.stepwise, run.id, 30_000)).status).toBe('completed');
  }, 60_000);

  async function waitForWaiting(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = await h.stepwise.runs.list(h.orgId, {
        status: ['running', 'pending', 'completed'],
        limit: 500,
      });
      const page2 = await h.stepwise.runs.list(h.orgId, {
        status: ['running', 'pending', 'completed'],
        limit: 500,
        offset: 500,
      });
      const all = [...running, ...page2];
      if (
        all.filter((run) => run.step_state !== null && run.lease_owner === null).length +
          all.filter((run) => run.status === 'completed').length >=
        count
      )
        return;
      if (Date.now() > deadline) throw new Error('runs did not all park in time');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});
