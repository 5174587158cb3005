import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { waitForRun } from '../support/stepwise-harness.js';

// Document 002 (../shared/seeds/002_…): each request as written, with the documented statuses and shapes.
let h: ApiHarness;
let key: string;

beforeAll(async () => {
  h = await startApiHarness();
  key = await h.key(['workflows:read', 'workflows:write']);
});
afterAll(async () => {
  await h.close();
});

const createBody = {
  title: 'Lead follow-up',
  callbackUrl: 'https://client.example.com/hooks/workflow',
  webhook: { url: 'https://client.example.com/hooks/workflow' },
  endCall: { phrases: ['goodbye', 'end call'] },
};

describe('document 002: /v1/workflows', () => {
  it('POST /v1/workflows creates a workflow from the CreateWorkflowDto (201)', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
      payload: JSON.stringify(createBody),
    });
    expect(response.statusCode).toBe(201);
    const body = json(response);
    expect(body).toMatchObject({ ...createBody, status: 'active', slug: 'leadFollowUp', version: 1 });
    expect(typeof body.id).toBe('string');
  });

  it('POST /v1/workflows/{id}/run starts it (201, jobId), with no body at all, as the curl sends it', async () => {
    const created = json(
      await h.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { 'X-API-Key': key },
        payload: { title: 'Say hi', steps: [{ id: 'hi', tool: 'log', params: { message: 'hi' } }] },
      }),
    );
    const response = await h.app.inject({
      method: 'POST',
      url: `/v1/workflows/${String(created.id)}/run`,
      headers: { 'X-API-Key': key },
    });
    expect(response.statusCode).toBe(201);
    const body = json(response);
    expect(body).toEqual({
      status: true,
      message: 'Workflow execution started',
      jobId: expect.stringMatching(/^run_/),
    });

    await waitForRun(h.stepwise, String(body.jobId));
    const job = await h.app.inject({
      method: 'GET',
      url: `/v1/workflows/jobs/${String(body.jobId)}`,
      headers: { 'X-API-Key': key },
    });
    expect(job.statusCode).toBe(200);
    expect(json(job)).toMatchObject({
      jobId: body.jobId,
      workflowId: created.id,
      status: 'completed',
      progress: 1,
      totalSteps: 1,
    });
  });

  it('an Idempotency-Key replays its run on the same workflow, and is a 409 naming the holder on another', async () => {
    const create = async (title: string) =>
      String(
        json(
          await h.app.inject({
            method: 'POST',
            url: '/v1/workflows',
            headers: { 'X-API-Key': key },
            payload: { title, steps: [{ id: 'hi', tool: 'log', params: { message: 'hi' } }] },
          }),
        ).id,
      );
    const first = await create('Keyed first');
    const second = await create('Keyed second');
    const run = (workflowId: string, headers: Record<string, string>, payload: unknown = {}) =>
      h.app.inject({
        method: 'POST',
        url: `/v1/workflows/${workflowId}/run`,
        headers: { 'X-API-Key': key, ...headers },
        payload: payload as Record<string, unknown>,
      });

    const started = await run(first, { 'Idempotency-Key': 'order-42' });
    expect(started.statusCode).toBe(201);
    const jobId = json(started).jobId;
    const replay = await run(first, { 'Idempotency-Key': 'order-42' });
    expect(replay.statusCode).toBe(201);
    expect(json(replay).jobId).toBe(jobId);

    const runsOfSecond = async () => (await h.stepwise.runs.list(h.orgId, { workflow_id: second })).length;
    for (const reuse of [
      run(second, { 'Idempotency-Key': 'order-42' }),
      run(second, {}, { idempotencyKey: 'order-42' }),
    ]) {
      const response = await reuse;
      expect(response.statusCode).toBe(409);
      expect(json(response)).toEqual({
        error: {
          code: 'IDEMPOTENCY_KEY_REUSED',
          message: `idempotency_key: 'order-42' already started run '${String(jobId)}' of workflow '${first}'; use a new key to run workflow '${second}'`,
        },
      });
    }
    expect(await runsOfSecond()).toBe(0);
    expect((await run(second, { 'Idempotency-Key': 'order-43' })).statusCode).toBe(201);
  });

  it('GET /v1/workflows/jobs/{jobId} is a 404 for an unknown job and 403 without workflows:read', async () => {
    const missing = await h.app.inject({
      method: 'GET',
      url: '/v1/workflows/jobs/job_01hxyz',
      headers: { 'X-API-Key': key },
    });
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const writer = await h.key(['workflows:write']);
    const forbidden = await h.app.inject({
      method: 'GET',
      url: '/v1/workflows/jobs/job_01hxyz',
      headers: { 'X-API-Key': writer },
    });
    expect(forbidden.statusCode).toBe(403);
    expect(json(forbidden)).toMatchObject({
      error: { code: 'MISSING_SCOPE', message: expect.stringContaining('workflows:read') },
    });
  });

  it('run of an unknown workflow is a 404; without workflows:write a 403', async () => {
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: '/v1/workflows/WORKFLOW_ID/run',
          headers: { 'X-API-Key': key },
        })
      ).statusCode,
    ).toBe(404);
    const reader = await h.key(['workflows:read']);
    const forbidden = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows/WORKFLOW_ID/run',
      headers: { 'X-API-Key': reader },
    });
    expect(forbidden.statusCode).toBe(403);
    expect(json(forbidden)).toMatchObject({ error: { message: expect.stringContaining('workflows:write') } });
  });

  it('create: 400 naming the field for a validation error, 403 without workflows:write, nothing stored', async () => {
    const before = (await h.stepwise.workflows.list(h.orgId, { limit: 500, offset: 0 })).length;
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key },
      payload: { title: '', callbackUrl: 'nope' },
    });
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toMatchObject({ error: { code: 'VALIDATION_FAILED', field: expect.any(String) } });
    const unknownField = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key },
      payload: { title: 'x', colour: 'red' },
    });
    expect(json(unknownField)).toMatchObject({ error: { field: 'colour' } });
    const unknownTool = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key },
      payload: { title: 'x', steps: [{ id: 'a', tool: 'teleport' }] },
    });
    expect(unknownTool.statusCode).toBe(400);
    expect(json(unknownTool)).toMatchObject({ error: { field: 'steps.0.tool' } });
    const reader = await h.key(['workflows:read']);
    const forbidden = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': reader },
      payload: createBody,
    });
    expect(forbidden.statusCode).toBe(403);
    expect((await h.stepwise.workflows.list(h.orgId, { limit: 500, offset: 0 })).length).toBe(before);
  });

  it('GET, PATCH, DELETE /v1/workflows/{id}, list and jobs', async () => {
    const created = json(
      await h.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { 'X-API-Key': key },
        payload: { title: 'Editable' },
      }),
    );
    const id = String(created.id);
    const got = await h.app.inject({
      method: 'GET',
      url: `/v1/workflows/${id}`,
      headers: { 'X-API-Key': key },
    });
    expect(json(got)).toMatchObject({ id, title: 'Editable' });
    const patched = await h.app.inject({
      method: 'PATCH',
      url: `/v1/workflows/${id}`,
      headers: { 'X-API-Key': key },
      payload: { title: 'Edited', steps: [{ id: 'a', tool: 'log', params: { message: 'x' } }] },
    });
    expect(patched.statusCode).toBe(200);
    expect(json(patched)).toMatchObject({ title: 'Edited', version: 2 });
    const list = json<{ data: { id: string }[] }>(
      await h.app.inject({ method: 'GET', url: '/v1/workflows?limit=100', headers: { 'X-API-Key': key } }),
    );
    expect(list.data.map((workflow) => workflow.id)).toContain(id);
    await h.app.inject({ method: 'POST', url: `/v1/workflows/${id}/run`, headers: { 'X-API-Key': key } });
    const jobs = json<{ data: { workflowId: string }[] }>(
      await h.app.inject({ method: 'GET', url: `/v1/workflows/${id}/jobs`, headers: { 'X-API-Key': key } }),
    );
    expect(jobs.data).toHaveLength(1);
    const deleted = await h.app.inject({
      method: 'DELETE',
      url: `/v1/workflows/${id}`,
      headers: { 'X-API-Key': key },
    });
    expect(deleted.statusCode).toBe(200);
    expect(
      (await h.app.inject({ method: 'GET', url: `/v1/workflows/${id}`, headers: { 'X-API-Key': key } }))
        .statusCode,
    ).toBe(404);
  });

  it('POST /v1/workflows/{id}/cancel cancels its active jobs', async () => {
    const created = json(
      await h.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { 'X-API-Key': key },
        payload: { title: 'Slow', steps: [{ id: 'nap', tool: 'delay', params: { duration: '1h' } }] },
      }),
    );
    const id = String(created.id);
    const { jobId } = json<{ jobId: string }>(
      await h.app.inject({ method: 'POST', url: `/v1/workflows/${id}/run`, headers: { 'X-API-Key': key } }),
    );
    const response = await h.app.inject({
      method: 'POST',
      url: `/v1/workflows/${id}/cancel`,
      headers: { 'X-API-Key': key },
    });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toMatchObject({ status: true, cancelledJobIds: [jobId] });
    expect((await waitForRun(h.stepwise, jobId)).status).toBe('cancelled');
  });

  it('accepts Authorization: Bearer as well as X-API-Key, and 401s without a key', async () => {
    expect(
      (
        await h.app.inject({
          method: 'GET',
          url: '/v1/workflows',
          headers: { Authorization: `Bearer ${key}` },
        })
      ).statusCode,
    ).toBe(200);
    const anonymous = await h.app.inject({ method: 'GET', url: '/v1/workflows' });
    expect(anonymous.statusCode).toBe(401);
    expect(json(anonymous)).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  });

  it('refuses malformed JSON and oversize bodies with 400', async () => {
    const malformed = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key, 'content-type': 'application/json' },
      payload: '{"title":',
    });
    expect(malformed.statusCode).toBe(400);
    expect(json(malformed)).toMatchObject({ error: { code: 'INVALID_JSON' } });
    const huge = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key, 'content-type': 'application/json' },
      payload: JSON.stringify({ title: 'x', description: 'y'.repeat(2_000_000) }),
    });
    expect(huge.statusCode).toBe(400);
    expect(json(huge)).toMatchObject({ error: { code: 'BODY_TOO_LARGE' } });
  });

  it('GET /v1/workflows/{id}/summary, /summary/timeline and /summary/report', async () => {
    const created = json(
      await h.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { 'X-API-Key': key },
        payload: {
          title: 'Reported',
          steps: [
            {
              id: 'check',
              tool: 'transform',
              params: { expression: 'ok ? 1 : $error("not ok")', data: '{{ input }}' },
              retry: { max_attempts: 1 },
            },
          ],
        },
      }),
    );
    const id = String(created.id);
    const jobs: string[] = [];
    for (const ok of [true, true, false]) {
      const started = json<{ jobId: string }>(
        await h.app.inject({
          method: 'POST',
          url: `/v1/workflows/${id}/run`,
          headers: { 'X-API-Key': key },
          payload: { input: { ok } },
        }),
      );
      jobs.push(started.jobId);
    }
    for (const job of jobs) await waitForRun(h.stepwise, job);

    const summary = json(
      await h.app.inject({
        method: 'GET',
        url: `/v1/workflows/${id}/summary`,
        headers: { 'X-API-Key': key },
      }),
    );
    expect(summary).toMatchObject({
      workflow_id: id,
      total_runs: 3,
      by_status: { completed: 2, failed: 1 },
      success_rate: 0.6667,
    });
    expect(summary.last_run).toMatchObject({ id: jobs[2] });

    const timeline = json<{ buckets: { total: number }[] }>(
      await h.app.inject({
        method: 'GET',
        url: `/v1/workflows/${id}/summary/timeline?bucket=hour`,
        headers: { 'X-API-Key': key },
      }),
    );
    expect(timeline.buckets.reduce((sum, bucket) => sum + bucket.total, 0)).toBe(3);

    const html = await h.app.inject({
      method: 'GET',
      url: `/v1/workflows/${id}/summary/report?format=html`,
      headers: { 'X-API-Key': key },
    });
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toContain('text/html');
    expect(html.body).toContain('<svg');
    expect(html.body).toContain(jobs[2]);
    const csv = await h.app.inject({
      method: 'GET',
      url: `/v1/workflows/${id}/summary/report?format=csv`,
      headers: { 'X-API-Key': key },
    });
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.body.split('\r\n')[0]).toBe('bucket_start,total,completed,partial_complete,failed,cancelled');
    const bad = await h.app.inject({
      method: 'GET',
      url: `/v1/workflows/${id}/summary/report?format=pdf`,
      headers: { 'X-API-Key': key },
    });
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toMatchObject({ error: { field: 'format' } });
  });

  it('PATCH changes only the fields sent, and a bodyless POST with Content-Type: application/json is fine', async () => {
    const created = json(
      await h.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { 'X-API-Key': key },
        payload: {
          title: 'Keep me',
          description: 'kept',
          steps: [{ id: 'a', tool: 'log', params: { message: 'x' } }],
          creditCost: 3,
        },
      }),
    );
    const patched = json(
      await h.app.inject({
        method: 'PATCH',
        url: `/v1/workflows/${String(created.id)}`,
        headers: { 'X-API-Key': key },
        payload: { title: 'Renamed' },
      }),
    );
    expect(patched).toMatchObject({
      title: 'Renamed',
      description: 'kept',
      creditCost: 3,
      version: 1,
      steps: [{ id: 'a' }],
    });
    const run = await h.app.inject({
      method: 'POST',
      url: `/v1/workflows/${String(created.id)}/run`,
      headers: { 'X-API-Key': key, 'content-type': 'application/json' },
    });
    expect(run.statusCode).toBe(201);
  });

  it('accepts and returns concurrency and throttle', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key },
      payload: {
        title: 'Flow controlled',
        steps: [{ id: 'a', tool: 'log', params: { message: 'x' } }],
        concurrency: { key: '{{ input.customer }}', limit: 2 },
        throttle: { limit: 5, period: '1m' },
      },
    });
    expect(response.statusCode).toBe(201);
    expect(json(response)).toMatchObject({
      concurrency: { key: '{{ input.customer }}', limit: 2 },
      throttle: { limit: 5, period: '1m' },
    });
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key },
      payload: { title: 'Bad flow', concurrency: { limit: 0 } },
    });
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toMatchObject({ error: { field: 'concurrency.limit' } });
  });

  it('serves OpenAPI 3.1 describing the routes', async () => {
    const doc = json<{ openapi: string; paths: Record<string, unknown> }>(
      await h.app.inject({ method: 'GET', url: '/openapi.json' }),
    );
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/workflows', '/v1/workflows/{id}/run', '/v1/workflows/jobs/{jobId}']),
    );
  });
});
