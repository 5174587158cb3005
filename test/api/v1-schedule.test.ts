import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { waitFor, waitForRun } from '../support/stepwise-harness.js';

// Document 002 was written before its example date (2026-07-01T09:00Z); this clock runs
// at real speed from 2026-06-01 so the example is in the future, as it was for its authors.
const offset = Date.now() - Date.parse('2026-06-01T00:00:00.000Z');
const clock = { now: () => Date.now() - offset };

let h: ApiHarness;
let key: string;
let receiver: HttpRecorder;

beforeAll(async () => {
  h = await startApiHarness({ clock });
  key = await h.key(['workflows:read', 'workflows:write']);
  receiver = await startHttpRecorder();
});
afterAll(async () => {
  await h.close();
  await receiver.close();
});

describe('document 002: POST /v1/workflows/schedule', () => {
  it('schedules the example as written: GMT_plus_1 read as a fixed offset (201)', async () => {
    const created = json(
      await h.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { 'X-API-Key': key },
        payload: { title: 'Scheduled' },
      }),
    );
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows/schedule',
      headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
      payload: JSON.stringify({
        workFlowId: created.id,
        scheduledDate: '2026-07-01T09:00:00.000Z',
        timezone: 'GMT_plus_1',
      }),
    });
    expect(response.statusCode).toBe(201);
    expect(json(response)).toMatchObject({
      status: true,
      message: 'Workflow scheduled',
      workFlowId: created.id,
      scheduledDate: '2026-07-01T09:00:00.000Z',
      timezone: 'GMT_plus_1',
      scheduleStatus: 'active',
    });
  });

  it('reads a date without an offset in the given zone', async () => {
    const created = json(
      await h.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { 'X-API-Key': key },
        payload: { title: 'Local' },
      }),
    );
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows/schedule',
      headers: { 'X-API-Key': key },
      payload: { workFlowId: created.id, scheduledDate: '2026-07-01T09:00:00', timezone: 'GMT_plus_1' },
    });
    expect(json(response)).toMatchObject({ scheduledDate: '2026-07-01T08:00:00.000Z' });
  });

  it('400 names the field; 404 for an unknown workflow; 403 without workflows:write', async () => {
    const missing = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows/schedule',
      headers: { 'X-API-Key': key },
      payload: { scheduledDate: '2026-07-01T09:00:00.000Z' },
    });
    expect(missing.statusCode).toBe(400);
    expect(json(missing)).toMatchObject({ error: { field: 'workFlowId' } });
    const badZone = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows/schedule',
      headers: { 'X-API-Key': key },
      payload: { workFlowId: 'x', scheduledDate: '2026-07-01T09:00:00.000Z', timezone: 'Mars/Olympus' },
    });
    expect(badZone.statusCode).toBe(400);
    expect(json(badZone)).toMatchObject({ error: { field: 'timezone' } });
    const unknown = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows/schedule',
      headers: { 'X-API-Key': key },
      payload: {
        workFlowId: '665e4a34c65bb95f2f2d72e1',
        scheduledDate: '2026-07-01T09:00:00.000Z',
        timezone: 'GMT_plus_1',
      },
    });
    expect(unknown.statusCode).toBe(404);
    const reader = await h.key(['workflows:read']);
    const forbidden = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows/schedule',
      headers: { 'X-API-Key': reader },
      payload: { workFlowId: 'x', scheduledDate: '2026-07-01T09:00:00.000Z' },
    });
    expect(forbidden.statusCode).toBe(403);
  });
});

describe('callbackUrl receives the final result, signed', () => {
  let real: ApiHarness;
  beforeAll(async () => {
    real = await startApiHarness();
  });
  afterAll(async () => {
    await real.close();
  });

  it('delivers once to callbackUrl, verifiable with the standardwebhooks package, listed at /v1/runs/{id}/deliveries', async () => {
    await real.stepwise.startDispatcher({ pollMs: 50 });
    const created = json(
      await real.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { 'X-API-Key': real.adminKey },
        payload: {
          title: 'Called back',
          callbackUrl: `${receiver.url}/hooks/workflow`,
          steps: [{ id: 'a', tool: 'log', params: { message: 'x' } }],
        },
      }),
    );
    const { jobId } = json<{ jobId: string }>(
      await real.app.inject({
        method: 'POST',
        url: `/v1/workflows/${String(created.id)}/run`,
        headers: { 'X-API-Key': real.adminKey },
      }),
    );
    await waitForRun(real.stepwise, jobId);
    await waitFor(() => receiver.requestsTo('/hooks/workflow').length > 0, 10_000, 'the callback');
    const [request] = receiver.requestsTo('/hooks/workflow');
    const secret = await real.stepwise.deliveries.getSigningSecret(real.orgId);
    const verified = new Webhook(secret).verify(
      request!.body,
      request!.headers as Record<string, string>,
    ) as { type: string; data: { jobId: string; status: string } };
    expect(verified).toMatchObject({ type: 'run.completed', data: { jobId, status: 'completed' } });
    const deliveries = json<{ data: { status: string; attempts: number }[] }>(
      await real.app.inject({
        method: 'GET',
        url: `/v1/runs/${jobId}/deliveries`,
        headers: { 'X-API-Key': real.adminKey },
      }),
    );
    await waitFor(
      async () =>
        (await real.stepwise.deliveries.listRunDeliveries(real.orgId, jobId))[0]?.status === 'delivered',
      5000,
      'delivered',
    );
    expect(deliveries.data).toHaveLength(1);
  });
});
