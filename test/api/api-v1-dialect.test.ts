import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { waitForRun } from '../support/stepwise-harness.js';

// Document 004 (../shared/seeds/004_…): each request as written, with the documented shapes.
let h: ApiHarness;
let key: string;

beforeAll(async () => {
  h = await startApiHarness();
  key = await h.key(['workflows:read', 'workflows:write']);
});
afterAll(async () => {
  await h.close();
});

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Json = Record<string, unknown>;

/** A request as the document's clients send it: Bearer key, JSON body when there is one. */
function call(method: Method, url: string, payload?: unknown, as = key): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { Authorization: `Bearer ${as}` };
  if (payload === undefined) return h.app.inject({ method, url, headers });
  headers['Content-Type'] = 'application/json';
  return h.app.inject({ method, url, headers, payload: JSON.stringify(payload) });
}

async function create(payload: Json): Promise<Json> {
  const response = await call('POST', '/api/v1/workflows', payload);
  expect(response.statusCode).toBe(201);
  return json(response);
}

async function execute(id: string, payload?: unknown): Promise<string> {
  const response = await call('POST', `/api/v1/workflows/${id}/execute`, payload);
  expect(response.statusCode).toBe(202);
  return String(json(response).execution_id);
}

const log = (id: string) => ({ id, tool: 'log', params: { message: id } });

const documentCreateBody = {
  title: 'Daily Email Summary',
  description: 'Summarize important emails every morning',
  trigger_config: {
    type: 'scheduled',
    enabled: true,
    schedule: '0 9 * * *',
    timezone: 'America/New_York',
  },
  generate_immediately: true,
};

describe('document 004: /api/v1/workflows', () => {
  it('POST /api/v1/workflows with the document body → 201, the Workflow Object, generating at once', async () => {
    const body = await create(documentCreateBody);
    expect(body).toEqual({
      id: expect.stringMatching(/^wf_/),
      title: 'Daily Email Summary',
      description: 'Summarize important emails every morning',
      trigger_config: documentCreateBody.trigger_config,
      steps: [],
      timeout_ms: null,
      concurrency: null,
      throttle: null,
      max_iterations: null,
      priority: 0,
      status: 'generating',
      is_public: false,
      created_at: expect.any(String),
      updated_at: expect.any(String),
      version: 1,
      slug: 'dailyEmailSummary',
      // No LLM is configured here: the catalogue planner answers (test/api/generation.test.ts).
      generation: expect.objectContaining({ state: 'pending', planner: 'catalogue' }),
    });
    // Steps given win over generate_immediately: nothing to generate.
    const withSteps = await create({ ...documentCreateBody, title: 'Given steps', steps: [log('a')] });
    expect(withSteps).toMatchObject({ status: 'active', generation: null });
  });

  it('accepts each trigger type of the "Trigger Types" section', async () => {
    const triggers = [
      { type: 'manual', enabled: true },
      { type: 'scheduled', enabled: true, schedule: '0 9 * * 1-5', timezone: 'America/New_York' },
      { type: 'event', enabled: true, event_type: 'gmail.new_email', filters: { from: '[email protected]' } },
    ];
    for (const trigger of triggers) {
      const created = await create({ title: `Trigger ${trigger.type}`, trigger_config: trigger });
      expect(created.trigger_config).toEqual(trigger);
      const read = await call('GET', `/api/v1/workflows/${String(created.id)}`);
      expect(json(read).trigger_config).toEqual(trigger);
    }
  });

  it('GET /api/v1/workflows lists the caller org workflows with limit/offset', async () => {
    const created = [await create({ title: 'List A' }), await create({ title: 'List B' })];
    const ids = async (query: string, as = key) =>
      json<{ workflows: Json[] }>(
        await call('GET', `/api/v1/workflows${query}`, undefined, as),
      ).workflows.map((workflow) => workflow.id);
    const all = await call('GET', '/api/v1/workflows');
    expect(all.statusCode).toBe(200);
    const listed = json<{ workflows: Json[]; limit: number; offset: number }>(all);
    expect(listed).toMatchObject({ limit: 100, offset: 0 });
    expect(listed.workflows[0]).toHaveProperty('trigger_config');
    const everything = listed.workflows.map((workflow) => workflow.id);
    expect(everything).toEqual(expect.arrayContaining(created.map((workflow) => workflow.id)));
    expect([...(await ids('?limit=1&offset=0')), ...(await ids('?limit=1&offset=1'))]).toEqual(
      everything.slice(0, 2),
    );
    expect(await ids('', await h.key(['workflows:read'], 'list-other-org'))).toEqual([]);
  });

  it('GET, PUT, DELETE /api/v1/workflows/{workflow_id}', async () => {
    const created = await create({ ...documentCreateBody, generate_immediately: false });
    const id = String(created.id);
    const got = await call('GET', `/api/v1/workflows/${id}`);
    expect(got.statusCode).toBe(200);
    expect(json(got)).toEqual(created);

    const edited = await call('PUT', `/api/v1/workflows/${id}`, {
      title: 'Morning digest',
      description: 'Digest',
      steps: [log('a')],
      status: 'inactive',
      trigger_config: { type: 'manual', enabled: true },
    });
    expect(edited.statusCode).toBe(200);
    expect(json(edited)).toMatchObject({
      title: 'Morning digest',
      description: 'Digest',
      steps: [expect.objectContaining({ id: 'a', tool: 'log' })],
      status: 'inactive',
      trigger_config: { type: 'manual', enabled: true },
      version: 2,
    });

    // A client may send back the whole object it read; the read-only fields are not applied.
    const roundTrip = await call('PUT', `/api/v1/workflows/${id}`, {
      ...json<Json>(edited),
      description: 'Again',
    });
    expect(roundTrip.statusCode).toBe(200);
    expect(json(roundTrip)).toMatchObject({ id, description: 'Again', created_at: created.created_at });
    const wrongId = await call('PUT', `/api/v1/workflows/${id}`, { id: 'wf_other', title: 'x' });
    expect(wrongId.statusCode).toBe(400);
    expect(json(wrongId)).toMatchObject({ error: { field: 'id' } });
    // is_public publishes to the marketplace, as POST …/publish does.
    const publish = await call('PUT', `/api/v1/workflows/${id}`, { is_public: true });
    expect(publish.statusCode).toBe(200);
    expect(json(publish)).toMatchObject({ id, is_public: true });

    const deleted = await call('DELETE', `/api/v1/workflows/${id}`);
    expect(deleted.statusCode).toBe(200);
    expect(json(deleted)).toEqual({ success: true });
    expect((await call('GET', `/api/v1/workflows/${id}`)).statusCode).toBe(404);
    expect((await call('DELETE', `/api/v1/workflows/${id}`)).statusCode).toBe(404);
  });

  // Known core bug: zod 4's `.partial()` keeps `.default()`s, so `workflowPatchSchema`
  // (src/domain/workflow-input.ts) fills every omitted field with its default and
  // WorkflowService.update wipes steps, description and trigger. Turn these back into `it`
  // once the core is fixed.
  it('PUT changes only the fields given', async () => {
    const created = await create({ ...documentCreateBody, generate_immediately: false, steps: [log('a')] });
    const renamed = await call('PUT', `/api/v1/workflows/${String(created.id)}`, { title: 'Morning digest' });
    expect(renamed.statusCode).toBe(200);
    expect(json(renamed)).toEqual({
      ...created,
      title: 'Morning digest',
      updated_at: expect.any(String),
    });
  });

  it('POST …/deactivate and …/activate keep the steps and the version', async () => {
    const created = await create({ ...documentCreateBody, generate_immediately: false, steps: [log('a')] });
    const off = json(await call('POST', `/api/v1/workflows/${String(created.id)}/deactivate`));
    expect(off).toMatchObject({ steps: created.steps, description: created.description, version: 1 });
  });

  it('POST …/execute with the document body → 202 { execution_id, workflow_id, status: pending }', async () => {
    const created = await create({ title: 'Quarterly report', steps: [log('a')] });
    const id = String(created.id);
    const response = await call('POST', `/api/v1/workflows/${id}/execute`, {
      context: { user_input: 'Generate report for Q1 2026' },
    });
    expect(response.statusCode).toBe(202);
    const body = json(response);
    expect(body).toEqual({
      execution_id: expect.stringMatching(/^run_/),
      workflow_id: id,
      status: 'pending',
    });
    const run = await waitForRun(h.stepwise, String(body.execution_id));
    expect(run).toMatchObject({ status: 'completed', input: { user_input: 'Generate report for Q1 2026' } });

    const bare = await execute(id);
    expect((await waitForRun(h.stepwise, bare)).input).toEqual({});
  });

  it('GET …/status: idle before any run, the document shape mid-run (2 of 5 → 0.4), 1 when completed', async () => {
    const created = await create({
      title: 'Five steps',
      steps: [
        log('one'),
        { id: 'two', tool: 'delay', params: { duration: '2s' } },
        log('three'),
        log('four'),
        log('five'),
      ],
    });
    const id = String(created.id);
    const idle = await call('GET', `/api/v1/workflows/${id}/status`);
    expect(idle.statusCode).toBe(200);
    expect(json(idle)).toEqual({
      workflow_id: id,
      status: 'idle',
      current_step: 0,
      total_steps: 0,
      progress: 0,
      execution_id: null,
    });

    const executionId = await execute(id, { context: { user_input: 'go' } });
    let midway: Json | undefined;
    const deadline = Date.now() + 5000;
    while (!midway && Date.now() < deadline) {
      const status = json(await call('GET', `/api/v1/workflows/${id}/status`));
      if (status.status === 'running' && status.current_step === 2) midway = status;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(midway).toEqual({
      workflow_id: id,
      status: 'running',
      current_step: 2,
      total_steps: 5,
      progress: 0.4,
      execution_id: executionId,
    });

    await waitForRun(h.stepwise, executionId);
    expect(json(await call('GET', `/api/v1/workflows/${id}/status`))).toEqual({
      workflow_id: id,
      status: 'completed',
      current_step: 5,
      total_steps: 5,
      progress: 1,
      execution_id: executionId,
    });
  });

  it('GET …/executions: newest first, limit 10 / offset 0 by default, paginated', async () => {
    const created = await create({ title: 'Often run', steps: [log('a'), log('b')] });
    const id = String(created.id);
    const runIds: string[] = [];
    for (const n of [1, 2, 3]) {
      const runId = await execute(id, { context: { n } });
      await waitForRun(h.stepwise, runId);
      runIds.push(runId);
    }
    const all = await call('GET', `/api/v1/workflows/${id}/executions`);
    expect(all.statusCode).toBe(200);
    const listed = json<{ executions: Json[]; limit: number; offset: number }>(all);
    expect(listed).toMatchObject({ limit: 10, offset: 0 });
    expect(listed.executions.map((execution) => execution.id)).toEqual([...runIds].reverse());
    expect(listed.executions[0]).toEqual({
      id: runIds[2],
      workflow_id: id,
      workflow_version: 1,
      status: 'completed',
      created_at: expect.any(String),
      started_at: expect.any(String),
      completed_at: expect.any(String),
      duration_ms: expect.any(Number),
      current_step: 2,
      total_steps: 2,
      progress: 1,
      context: { n: 3 },
      result: expect.anything(),
      error: null,
    });

    const page = (query: string) =>
      call('GET', `/api/v1/workflows/${id}/executions?${query}`).then(
        (response) => json<{ executions: Json[] }>(response).executions,
      );
    expect((await page('limit=10&offset=0')).map((execution) => execution.id)).toEqual([...runIds].reverse());
    expect((await page('limit=2&offset=0')).map((execution) => execution.id)).toEqual([runIds[2], runIds[1]]);
    expect((await page('limit=2&offset=2')).map((execution) => execution.id)).toEqual([runIds[0]]);
    const badLimit = await call('GET', `/api/v1/workflows/${id}/executions?limit=0`);
    expect(badLimit.statusCode).toBe(400);
    expect(json(badLimit)).toMatchObject({ error: { field: 'limit' } });
  });

  it('POST …/deactivate and …/activate switch the status and the trigger, keeping its schedule', async () => {
    const created = await create({ ...documentCreateBody, generate_immediately: false });
    const id = String(created.id);
    const off = await call('POST', `/api/v1/workflows/${id}/deactivate`);
    expect(off.statusCode).toBe(200);
    expect(json(off)).toMatchObject({
      id,
      status: 'inactive',
      trigger_config: { ...documentCreateBody.trigger_config, enabled: false },
    });
    const on = await call('POST', `/api/v1/workflows/${id}/activate`);
    expect(on.statusCode).toBe(200);
    expect(json(on)).toMatchObject({ status: 'active', trigger_config: documentCreateBody.trigger_config });
  });

  it('the marketplace routes answer the documented requests (test/api/marketplace.test.ts has the rest)', async () => {
    const id = String(
      (await create({ title: 'Shareable', steps: [{ id: 'say', tool: 'log', params: { message: 'hi' } }] }))
        .id,
    );
    for (const url of ['/api/v1/workflows/explore?limit=25&offset=0', '/api/v1/workflows/community']) {
      const response = await call('GET', url);
      expect(response.statusCode, url).toBe(200);
      expect(json(response)).toMatchObject({ workflows: expect.any(Array), limit: 25, offset: 0 });
    }
    const published = await call('POST', `/api/v1/workflows/${id}/publish`);
    expect(published.statusCode).toBe(200);
    expect(json(published)).toMatchObject({ id, is_public: true, listing: { id, kind: 'community' } });
    // "no auth required"
    const publicRead = await h.app.inject({ method: 'GET', url: `/api/v1/workflows/public/${id}` });
    expect(publicRead.statusCode).toBe(200);
    expect(json(publicRead)).toMatchObject({ id, title: 'Shareable' });
    const unpublished = await call('POST', `/api/v1/workflows/${id}/unpublish`);
    expect(json(unpublished)).toMatchObject({ id, is_public: false });
    expect((await h.app.inject({ method: 'GET', url: `/api/v1/workflows/public/${id}` })).statusCode).toBe(
      404,
    );
  });

  it('400 naming the field: trigger type, cron, time zone, missing schedule, context, unknown field', async () => {
    const cases: [Json, string][] = [
      [{ title: 'x', trigger_config: { type: 'hourly', enabled: true } }, 'trigger_config.type'],
      [
        { title: 'x', trigger_config: { type: 'scheduled', schedule: 'every morning' } },
        'trigger_config.schedule',
      ],
      [
        {
          title: 'x',
          trigger_config: { type: 'scheduled', schedule: '0 9 * * *', timezone: 'Mars/Olympus' },
        },
        'trigger_config.timezone',
      ],
      [{ title: 'x', trigger_config: { type: 'scheduled', enabled: true } }, 'trigger_config.schedule'],
      [{ title: 'x', trigger_config: { type: 'event', enabled: true } }, 'trigger_config.event_type'],
      [{ description: 'no title' }, 'title'],
      [{ title: 'x', status: 'generating' }, 'status'],
      [{ title: 'x', colour: 'red' }, 'colour'],
    ];
    const before = (await h.stepwise.workflows.list(h.orgId, { limit: 500, offset: 0 })).length;
    for (const [payload, field] of cases) {
      const response = await call('POST', '/api/v1/workflows', payload);
      expect(response.statusCode, field).toBe(400);
      expect(json(response)).toMatchObject({
        error: { code: 'VALIDATION_FAILED', field, message: expect.stringContaining(field) },
      });
    }
    expect((await h.stepwise.workflows.list(h.orgId, { limit: 500, offset: 0 })).length).toBe(before);

    const id = String((await create({ title: 'Valid' })).id);
    const badCron = await call('PUT', `/api/v1/workflows/${id}`, {
      trigger_config: { type: 'scheduled', schedule: '61 * * * *' },
    });
    expect(json(badCron)).toMatchObject({ error: { field: 'trigger_config.schedule' } });
    const badContext = await call('POST', `/api/v1/workflows/${id}/execute`, { context: 'Q1 report' });
    expect(badContext.statusCode).toBe(400);
    expect(json(badContext)).toMatchObject({ error: { field: 'context' } });
  });

  it('403 naming the missing scope; X-API-Key works as well as Bearer', async () => {
    const reader = await h.key(['workflows:read']);
    const writer = await h.key(['workflows:write']);
    const noWrite = await call('POST', '/api/v1/workflows', documentCreateBody, reader);
    expect(noWrite.statusCode).toBe(403);
    expect(json(noWrite)).toMatchObject({
      error: { code: 'MISSING_SCOPE', message: expect.stringContaining('workflows:write') },
    });
    const noRead = await call('GET', '/api/v1/workflows', undefined, writer);
    expect(noRead.statusCode).toBe(403);
    expect(json(noRead)).toMatchObject({ error: { message: expect.stringContaining('workflows:read') } });
    const explore = await call('GET', '/api/v1/workflows/explore', undefined, writer);
    expect(explore.statusCode).toBe(403);
    const viaHeader = await h.app.inject({
      method: 'GET',
      url: '/api/v1/workflows',
      headers: { 'X-API-Key': reader },
    });
    expect(viaHeader.statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/api/v1/workflows' })).statusCode).toBe(401);
  });

  it("another org's workflow is a 404 on every route, and stays untouched", async () => {
    const created = await create({ title: 'Private', steps: [log('a')] });
    const id = String(created.id);
    const stranger = await h.key(['workflows:read', 'workflows:write'], 'stranger-org');
    const attempts: [Method, string, unknown?][] = [
      ['GET', `/api/v1/workflows/${id}`],
      ['PUT', `/api/v1/workflows/${id}`, { title: 'Mine now' }],
      ['DELETE', `/api/v1/workflows/${id}`],
      ['POST', `/api/v1/workflows/${id}/execute`, { context: {} }],
      ['GET', `/api/v1/workflows/${id}/status`],
      ['GET', `/api/v1/workflows/${id}/executions`],
      ['POST', `/api/v1/workflows/${id}/activate`],
      ['POST', `/api/v1/workflows/${id}/deactivate`],
    ];
    for (const [method, url, payload] of attempts) {
      const response = await call(method, url, payload, stranger);
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(json(response)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    }
    expect(json(await call('GET', `/api/v1/workflows/${id}`))).toEqual(created);
    expect(await h.stepwise.runs.list(h.orgId, { workflow_id: id })).toEqual([]);
  });

  it('OpenAPI describes the routes with the document path names', async () => {
    const doc = json<{ paths: Record<string, unknown> }>(
      await h.app.inject({ method: 'GET', url: '/openapi.json' }),
    );
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/workflows',
        '/api/v1/workflows/{workflow_id}',
        '/api/v1/workflows/{workflow_id}/execute',
        '/api/v1/workflows/{workflow_id}/status',
        '/api/v1/workflows/{workflow_id}/executions',
        '/api/v1/workflows/public/{workflow_id}',
      ]),
    );
  });
});
