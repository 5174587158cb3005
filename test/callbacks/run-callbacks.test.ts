import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryDetail } from '../../src/store/delivery-store.js';
import type { StepDefinitionInput } from '../../src/domain/workflow.js';
import { startHttpRecorder, type HttpRecorder, type RecordedRequest } from '../support/http-recorder.js';
import {
  startHarness,
  waitFor,
  waitForRun,
  waitForRunState,
  type Harness,
} from '../support/stepwise-harness.js';

/** Retries within milliseconds instead of 10 s, so a test sees the whole schedule. */
const FAST_DISPATCH = { pollMs: 20, retry: { initialMs: 50, maxMs: 200, giveUpAfterMs: 60_000 } };
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let server: HttpRecorder;
let h: Harness;

beforeAll(async () => {
  server = await startHttpRecorder();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await h.close();
  server.reset();
});

async function start(env: Record<string, string> = {}): Promise<void> {
  h = await startHarness({ env });
  await h.stepwise.startDispatcher(FAST_DISPATCH);
}

async function runWorkflow(
  steps: StepDefinitionInput[],
  callbacks: { callback_url?: string; metadata?: Record<string, unknown> },
) {
  const workflow = await h.stepwise.workflows.create(h.orgId, {
    title: `wf ${Math.random()}`,
    steps,
    ...callbacks,
  });
  const { run } = await h.stepwise.runs.start(h.orgId, workflow.id, { input: { name: 'Ada' } });
  return { workflow, run };
}

const greet: StepDefinitionInput[] = [
  { id: 'greet', tool: 'transform', params: { expression: "'Hello, ' & name", data: '{{ input }}' } },
];

/** Waits until every delivery of the run is delivered or failed, and returns them. */
async function settledDeliveries(runId: string, expected = 1): Promise<DeliveryDetail[]> {
  let deliveries: DeliveryDetail[] = [];
  await waitFor(
    async () => {
      deliveries = await h.stepwise.deliveries.listRunDeliveries(h.orgId, runId);
      return deliveries.length === expected && deliveries.every((d) => d.status !== 'pending');
    },
    10_000,
    `${expected} settled deliveries of ${runId}`,
  );
  return deliveries;
}

function verify(secret: string, request: RecordedRequest): unknown {
  const header = (name: string) => String(request.headers[name]);
  return new Webhook(secret).verify(request.body, {
    'webhook-id': header('webhook-id'),
    'webhook-timestamp': header('webhook-timestamp'),
    'webhook-signature': header('webhook-signature'),
  });
}

describe('run-result callbacks', () => {
  it('POSTs a completed run once, signed with the org secret, in the documented shape', async () => {
    await start();
    const { workflow, run } = await runWorkflow(greet, { callback_url: `${server.url}/hook` });
    const done = await waitForRun(h.stepwise, run.id);
    const [delivery] = await settledDeliveries(run.id);
    // A duplicate send would arrive within a few polls.
    await new Promise((resolve) => setTimeout(resolve, 150));

    const posts = server.requestsTo('/hook');
    expect(posts).toHaveLength(1);
    const post = posts[0]!;
    expect(post.method).toBe('POST');
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.headers['webhook-id']).toBe(delivery!.id);
    const secret = await h.stepwise.deliveries.getSigningSecret(h.orgId);
    expect(secret).toMatch(/^whsec_/);
    expect(verify(secret, post)).toEqual(post.json);
    const rotated = await h.stepwise.deliveries.rotateSigningSecret(h.orgId);
    expect(rotated).not.toBe(secret);
    expect(() => verify(rotated, post)).toThrow();

    expect(post.json).toEqual({
      type: 'run.completed',
      timestamp: new Date(done.finished_at!).toISOString(),
      data: {
        runId: run.id,
        jobId: run.id,
        workflowId: workflow.id,
        status: 'completed',
        output: 'Hello, Ada',
        error: null,
        startedAt: expect.stringMatching(ISO),
        finishedAt: new Date(done.finished_at!).toISOString(),
        durationMs: done.finished_at! - done.started_at!,
      },
    });
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 200 });
    const events = await h.stepwise.store.listRunEvents(run.id);
    expect(events.at(-1)).toMatchObject({
      type: 'callback.delivered',
      data: { delivery_id: delivery!.id, url: `${server.url}/hook`, attempts: 1, status_code: 200 },
    });
  });

  it('retries a failing receiver with the same webhook-id until it answers 2xx, recording each attempt', async () => {
    await start();
    server.script('/flaky', { status: 500 }, { status: 503 }, { status: 204 });
    const { run } = await runWorkflow(greet, { callback_url: `${server.url}/flaky` });
    const [delivery] = await settledDeliveries(run.id);

    expect(delivery).toMatchObject({
      status: 'delivered',
      attempts: 3,
      last_status_code: 204,
      last_error: null,
    });
    expect(delivery!.attempt_log.map((a) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, 500, 'the receiver answered HTTP 500'],
      [2, 503, 'the receiver answered HTTP 503'],
      [3, 204, null],
    ]);
    for (const attempt of delivery!.attempt_log) expect(attempt.duration_ms).toBeGreaterThanOrEqual(0);
    const posts = server.requestsTo('/flaky');
    expect(posts.map((post) => post.headers['webhook-id'])).toEqual([
      delivery!.id,
      delivery!.id,
      delivery!.id,
    ]);
    expect(new Set(posts.map((post) => post.body)).size).toBe(1);
    const callbackEvents = (await h.stepwise.store.listRunEvents(run.id)).filter((event) =>
      event.type.startsWith('callback.'),
    );
    expect(callbackEvents).toMatchObject([
      { type: 'callback.delivered', data: { attempts: 3, status_code: 204 } },
    ]);
  });

  it('delivers a failed run with its error', async () => {
    await start();
    server.script('/broken', { status: 400, json: { error: 'bad lead' } });
    const { run } = await runWorkflow(
      [{ id: 'fetch', tool: 'http', params: { url: `${server.url}/broken` }, retry: { max_attempts: 1 } }],
      { callback_url: `${server.url}/hook` },
    );
    expect((await waitForRun(h.stepwise, run.id)).status).toBe('failed');
    await settledDeliveries(run.id);
    const body = server.requestsTo('/hook')[0]!.json as { type: string; data: Record<string, unknown> };
    expect(body.type).toBe('run.failed');
    expect(body.data).toMatchObject({ status: 'failed', output: null, error: { step_id: 'fetch' } });
  });

  it('delivers a run cancelled mid-step and a run cancelled while it waits', async () => {
    await start();
    server.script('/slow', { delayMs: 5000 });
    const callbacks = { callback_url: `${server.url}/hook` };
    const { run: busy } = await runWorkflow(
      [{ id: 'slow', tool: 'http', params: { url: `${server.url}/slow` } }],
      callbacks,
    );
    const { run: parked } = await runWorkflow(
      [{ id: 'nap', tool: 'delay', params: { duration: '1h' } }],
      callbacks,
    );
    await waitFor(() => server.requestsTo('/slow').length === 1, 10_000, 'the slow step to start');
    await waitForRunState(
      h.stepwise,
      parked.id,
      (run) => run.status === 'running' && run.lease_owner === null,
    );
    await h.stepwise.runs.cancel(h.orgId, busy.id);
    await h.stepwise.runs.cancel(h.orgId, parked.id);

    for (const run of [busy, parked]) {
      expect((await waitForRun(h.stepwise, run.id)).status).toBe('cancelled');
      await settledDeliveries(run.id);
    }
    const bodies = server
      .requestsTo('/hook')
      .map((post) => post.json as { type: string; data: { runId: string } });
    expect(bodies.map((body) => [body.data.runId, body.type]).sort()).toEqual(
      [
        [busy.id, 'run.cancelled'],
        [parked.id, 'run.cancelled'],
      ].sort(),
    );
  });

  it('sends to callbackUrl and webhook.url when they differ, once when they are the same', async () => {
    await start();
    const { run: both } = await runWorkflow(greet, {
      callback_url: `${server.url}/a`,
      metadata: { webhook: { url: `${server.url}/b` } },
    });
    const { run: same } = await runWorkflow(greet, {
      callback_url: `${server.url}/c`,
      metadata: { webhook: { url: `${server.url}/c` } },
    });
    expect((await settledDeliveries(both.id, 2)).map((d) => d.status)).toEqual(['delivered', 'delivered']);
    await settledDeliveries(same.id, 1);
    expect(server.requestsTo('/a')).toHaveLength(1);
    expect(server.requestsTo('/b')).toHaveLength(1);
    expect(server.requestsTo('/c')).toHaveLength(1);
    expect(server.requestsTo('/a')[0]!.headers['webhook-id']).not.toBe(
      server.requestsTo('/b')[0]!.headers['webhook-id'],
    );
  });

  it('fails a private URL for good when private networks are not allowed', async () => {
    await start({ STEPWISE_ALLOW_PRIVATE_NETWORK: '0' });
    const { run } = await runWorkflow(greet, { callback_url: `${server.url}/private` });
    const [delivery] = await settledDeliveries(run.id);

    expect(server.requestsTo('/private')).toHaveLength(0);
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_status_code: null,
      next_attempt_at: null,
    });
    expect(delivery!.last_error).toMatch(/^NETWORK_BLOCKED: .*loopback.*STEPWISE_ALLOW_PRIVATE_NETWORK=1/);
    expect(delivery!.attempt_log).toMatchObject([
      { attempt: 1, status_code: null, error: delivery!.last_error },
    ]);
    const events = await h.stepwise.store.listRunEvents(run.id);
    expect(events.at(-1)).toMatchObject({ type: 'callback.failed', data: { error: delivery!.last_error } });
  });

  it('answers 404 for the deliveries of a run the org does not have', async () => {
    await start();
    await expect(h.stepwise.deliveries.listRunDeliveries(h.orgId, 'run_missing')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
  });
});
