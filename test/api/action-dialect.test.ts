import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import type { WorkflowRecord } from '../../src/domain/model.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { waitForRun } from '../support/stepwise-harness.js';

// Document 000 (../shared/seeds/000_…): POST /api/workflow/{action}, the action being a workflow slug.
let h: ApiHarness;
let key: string;
let keySiteId: string;
let siteId: string;
let enrichLead: WorkflowRecord;

beforeAll(async () => {
  h = await startApiHarness();
  const created = await h.stepwise.keys.create({
    orgName: 'default',
    scopes: ['workflows:read', 'workflows:write'],
  });
  key = created.key;
  keySiteId = created.site_id!;
  siteId = newId('site');
  await h.stepwise.store.createSite({ id: siteId, org_id: h.orgId, name: 'shop', created_at: Date.now() });
  enrichLead = await h.stepwise.workflows.create(h.orgId, {
    title: 'Enrich a lead',
    slug: 'enrichLead',
    steps: [
      {
        id: 'enrich',
        tool: 'transform',
        params: { expression: '{ "lead": lead_id, "site": site_id, "score": 42 }', data: '{{ input }}' },
      },
    ],
  });
  await h.stepwise.workflows.create(h.orgId, {
    title: 'Lead research',
    slug: 'leadResearch',
    steps: [{ id: 'nap', tool: 'delay', params: { duration: '1h' } }],
  });
  await h.stepwise.workflows.create(h.orgId, {
    title: 'Broken',
    slug: 'leadInvalidation',
    steps: [{ id: 'say', tool: 'log', params: { message: '{{ input.nothing_here }}' } }],
  });
});
afterAll(async () => {
  await h.close();
});

const post = (action: string, body: unknown, headers: Record<string, string> = {}, query = '') =>
  h.app.inject({
    method: 'POST',
    url: `/api/workflow/${action}${query}`,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });

describe('document 000: POST /api/workflow/{action}', () => {
  it('runs enrichLead as written: 201 { success: true, result: { run_id, status, workflow_id, action } }', async () => {
    // The document's request, with the site and lead filled in.
    const response = await post('enrichLead', { site_id: siteId, lead_id: 'LEAD_UUID' });
    expect(response.statusCode).toBe(201);
    const body = json(response);
    expect(body).toEqual({
      success: true,
      result: {
        run_id: expect.stringMatching(/^run_/),
        status: 'pending',
        workflow_id: enrichLead.id,
        action: 'enrichLead',
      },
    });
    const runId = (body.result as { run_id: string }).run_id;
    const run = await waitForRun(h.stepwise, runId);
    expect(run).toMatchObject({
      status: 'completed',
      site_id: siteId,
      input: { site_id: siteId, lead_id: 'LEAD_UUID' },
      output: { lead: 'LEAD_UUID', site: siteId, score: 42 },
    });
  });

  it("injects the key's site when site_id is absent", async () => {
    const response = await post('enrichLead', { lead_id: 'LEAD_UUID' });
    expect(response.statusCode).toBe(201);
    const runId = (json(response).result as { run_id: string }).run_id;
    const run = await waitForRun(h.stepwise, runId);
    expect(run).toMatchObject({ site_id: keySiteId, input: { site_id: keySiteId, lead_id: 'LEAD_UUID' } });
    expect(run.output).toEqual({ lead: 'LEAD_UUID', site: keySiteId, score: 42 });
  });

  it('runs with no body at all, the site injected', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: '/api/workflow/enrichLead',
      headers: { Authorization: `Bearer ${key}` },
    });
    expect(response.statusCode).toBe(201);
    const runId = (json(response).result as { run_id: string }).run_id;
    expect((await h.stepwise.runs.get(h.orgId, runId)).input).toEqual({ site_id: keySiteId });
  });

  it("refuses a site_id that is not one of the caller's org's sites (400 naming site_id)", async () => {
    const other = await h.stepwise.keys.create({ orgName: 'other-org', scopes: ['workflows:write'] });
    for (const site_id of [other.site_id, 'site_nope']) {
      const response = await post('enrichLead', { site_id, lead_id: 'x' });
      expect(response.statusCode).toBe(400);
      expect(json(response)).toMatchObject({ error: { code: 'VALIDATION_FAILED', field: 'site_id' } });
    }
    const notText = await post('enrichLead', { site_id: 7 });
    expect(notText.statusCode).toBe(400);
    expect(json(notText)).toMatchObject({ error: { field: 'site_id' } });
  });

  it("answers an unknown action with 404 UNKNOWN_ACTION and the org's action names", async () => {
    const response = await post('enrichLeads', { site_id: siteId });
    expect(response.statusCode).toBe(404);
    expect(json(response)).toEqual({
      success: false,
      error: {
        code: 'UNKNOWN_ACTION',
        message: expect.stringContaining("'enrichLeads'"),
        field: 'action',
      },
      actions: ['enrichLead', 'leadInvalidation', 'leadResearch'],
    });
  });

  it("does not run or list another org's workflows", async () => {
    const other = await h.stepwise.keys.create({ orgName: 'other-org', scopes: ['workflows:write'] });
    const response = await h.app.inject({
      method: 'POST',
      url: '/api/workflow/enrichLead',
      headers: { Authorization: `Bearer ${other.key}` },
      payload: { lead_id: 'x' },
    });
    expect(response.statusCode).toBe(404);
    expect(json(response)).toMatchObject({ success: false, actions: [] });
  });

  it('answers 200 with the same run for a repeated Idempotency-Key', async () => {
    const first = await post('enrichLead', { lead_id: 'a' }, { 'Idempotency-Key': 'enrich-a' });
    const again = await post('enrichLead', { lead_id: 'a' }, { 'Idempotency-Key': 'enrich-a' });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(json(again).result).toMatchObject({ run_id: (json(first).result as { run_id: string }).run_id });
  });

  it('needs a key (401) with workflows:write (403 naming it)', async () => {
    const none = await h.app.inject({ method: 'POST', url: '/api/workflow/enrichLead', payload: {} });
    expect(none.statusCode).toBe(401);
    const readOnly = await h.key(['workflows:read']);
    const response = await post('enrichLead', {}, { Authorization: `Bearer ${readOnly}` });
    expect(response.statusCode).toBe(403);
    expect(json(response)).toMatchObject({ error: { code: 'MISSING_SCOPE' } });
    expect((json(response).error as { message: string }).message).toContain('workflows:write');
  });
});

describe('document 000: bad bodies (the body is open, so only its shape and site_id are checked)', () => {
  it('refuses a body that is not an object, is not JSON, or has a bad site_id, and starts no run', async () => {
    const before = (await h.stepwise.runs.list(h.orgId, { limit: 500 })).length;
    const cases: [string, string, string][] = [
      ['[]', 'application/json', 'VALIDATION_FAILED'],
      ['"fuzz"', 'application/json', 'VALIDATION_FAILED'],
      ['42', 'application/json', 'VALIDATION_FAILED'],
      ['{"lead_id":"x"}', 'text/plain', 'VALIDATION_FAILED'],
      ['not json', 'application/json', 'INVALID_JSON'],
      ['{"__proto__":{"polluted":"yes"}}', 'application/json', 'INVALID_JSON'],
      [`{"pad":"${'y'.repeat(1_048_576)}"}`, 'application/json', 'BODY_TOO_LARGE'],
      ['{"site_id":null}', 'application/json', 'VALIDATION_FAILED'],
      ['{"site_id":""}', 'application/json', 'VALIDATION_FAILED'],
      [`{"site_id":"${'s'.repeat(201)}"}`, 'application/json', 'VALIDATION_FAILED'],
      ['{"site_id":["a"]}', 'application/json', 'VALIDATION_FAILED'],
    ];
    for (const [payload, contentType, code] of cases) {
      const response = await h.app.inject({
        method: 'POST',
        url: '/api/workflow/enrichLead',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': contentType },
        payload,
      });
      expect(response.statusCode, payload.slice(0, 40)).toBe(400);
      expect(json(response), payload.slice(0, 40)).toMatchObject({ error: { code } });
    }
    expect((await h.stepwise.runs.list(h.orgId, { limit: 500 })).length).toBe(before);
  });
});

describe('document 000: ?wait=true', () => {
  it('waits for the final result: 200 { success: true, result: { run_id, status, output, error } }', async () => {
    const response = await post('enrichLead', { site_id: siteId, lead_id: 'L1' }, {}, '?wait=true');
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({
      success: true,
      result: {
        run_id: expect.stringMatching(/^run_/),
        workflow_id: enrichLead.id,
        action: 'enrichLead',
        status: 'completed',
        output: { lead: 'L1', site: siteId, score: 42 },
        error: null,
      },
    });
  });

  it('reports a failed run with success: false and its error', async () => {
    const response = await post('leadInvalidation', {}, {}, '?wait=true');
    expect(response.statusCode).toBe(200);
    const body = json(response);
    expect(body.success).toBe(false);
    expect(body.result).toMatchObject({
      status: 'failed',
      output: null,
      error: { code: expect.any(String) },
    });
  });

  it('answers 202 with the current status when the run is not done within timeout_ms', async () => {
    const started = Date.now();
    const response = await post('leadResearch', {}, {}, '?wait=true&timeout_ms=150');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(response.statusCode).toBe(202);
    expect(json(response)).toMatchObject({
      success: true,
      result: { action: 'leadResearch', status: expect.stringMatching(/^(pending|running)$/), output: null },
    });
    await h.stepwise.runs.cancel(h.orgId, (json(response).result as { run_id: string }).run_id);
  });

  it('bounds timeout_ms to 30 s (400 naming it)', async () => {
    const response = await post('enrichLead', {}, {}, '?wait=true&timeout_ms=60000');
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ error: { field: 'timeout_ms' } });
  });
});
