import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { startOpenAiStub, type OpenAiStub } from '../support/openai-stub.js';

// Document 001 (../shared/seeds/001_…): POST /api/agents/tools/instance with action create | read | update.
const URL = '/api/agents/tools/instance';
const SCOPES = ['instances:read', 'instances:write'];
const SAAS_CONTEXT = 'We want to run a SaaS lead gen campaign for the US market';

interface InstanceView {
  id: string;
  name: string;
  status: string;
  activity: string;
  site_id: string;
  context: string | null;
}

const call = (h: ApiHarness, key: string, body: unknown) =>
  h.app.inject({
    method: 'POST',
    url: URL,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    payload: JSON.stringify(body),
  });

async function createInstance(
  h: ApiHarness,
  key: string,
  body: Record<string, unknown>,
): Promise<InstanceView> {
  const response = await call(h, key, { action: 'create', ...body });
  expect(response.statusCode).toBe(201);
  return json<{ instance: InstanceView }>(response).instance;
}

describe('document 001 without an LLM (keyword namer)', () => {
  let h: ApiHarness;
  let key: string;
  let keySiteId: string;
  let siteId: string;

  beforeAll(async () => {
    h = await startApiHarness({ worker: false });
    const created = await h.stepwise.keys.create({ orgName: 'default', scopes: SCOPES });
    key = created.key;
    keySiteId = created.site_id!;
    siteId = newId('site');
    await h.stepwise.store.createSite({ id: siteId, org_id: h.orgId, name: 'shop', created_at: Date.now() });
  });
  afterAll(async () => {
    await h.close();
  });

  it('creates as written: { success, instance: { id, name, status: "running" }, authentication }', async () => {
    // The document's request, with a real site id.
    const response = await call(h, key, {
      action: 'create',
      site_id: siteId,
      activity: 'Marketing Campaign Setup',
    });
    expect(response.statusCode).toBe(201);
    const body = json(response);
    expect(Object.keys(body).sort()).toEqual(['authentication', 'instance', 'success']);
    expect(body).toMatchObject({
      success: true,
      instance: { id: expect.stringMatching(/^inst_/), name: 'Marketing Campaign Setup', status: 'running' },
      authentication: { success: true },
    });
    expect(body.instance).toMatchObject({ activity: 'Marketing Campaign Setup', site_id: siteId });
  });

  it("creates in the key's site when site_id is absent, and names after a long activity (60 chars)", async () => {
    const activity = 'Research the top twenty competitors in the European e-bike market and summarise';
    const instance = await createInstance(h, key, { activity });
    expect(instance.site_id).toBe(keySiteId);
    expect(instance.name.length).toBeLessThanOrEqual(60);
    expect(activity.startsWith(instance.name)).toBe(true);
    expect(instance.activity).toBe(activity);
  });

  it("renames as written: a generic name and document 001's context give { renamed, old_name, new_name, similarity }", async () => {
    const created = await createInstance(h, key, { site_id: siteId, activity: 'Assistant Session' });
    const response = await call(h, key, { action: 'update', instance_id: created.id, context: SAAS_CONTEXT });
    expect(response.statusCode).toBe(200);
    const body = json(response);
    expect(body).toEqual({
      success: true,
      renamed: true,
      old_name: 'Assistant Session',
      new_name: 'SaaS Lead Gen Campaign US',
      similarity: 0,
      instance: expect.objectContaining({
        id: created.id,
        name: 'SaaS Lead Gen Campaign US',
        status: 'running',
        context: SAAS_CONTEXT,
      }),
    });
  });

  it('keeps the name of a similar context and reports the similarity', async () => {
    const created = await createInstance(h, key, { site_id: siteId, activity: 'Marketing Campaign Setup' });
    const response = await call(h, key, {
      action: 'update',
      instance_id: created.id,
      context: 'Finishing the marketing campaign setup for spring',
    });
    expect(json(response)).toMatchObject({
      success: true,
      renamed: false,
      old_name: 'Marketing Campaign Setup',
      new_name: 'Marketing Campaign Setup',
      similarity: 0.77,
    });
  });

  it('renames a specific name when the objective changed (similarity below 0.3)', async () => {
    const created = await createInstance(h, key, { site_id: siteId, activity: 'Marketing Campaign Setup' });
    const response = await call(h, key, {
      action: 'update',
      instance_id: created.id,
      context: 'Actually, debug the failing invoice export to Xero',
    });
    expect(json(response)).toMatchObject({
      renamed: true,
      old_name: 'Marketing Campaign Setup',
      new_name: 'Debug Failing Invoice Export Xero',
      similarity: 0,
    });
  });

  it('renames to an explicit name, and sets a status', async () => {
    const created = await createInstance(h, key, { site_id: siteId, activity: 'New Chat' });
    const renamed = json(
      await call(h, key, { action: 'update', instance_id: created.id, name: 'Q3 Planning' }),
    );
    expect(renamed).toMatchObject({
      success: true,
      renamed: true,
      old_name: 'New Chat',
      new_name: 'Q3 Planning',
      similarity: null,
    });
    const paused = json(await call(h, key, { action: 'update', instance_id: created.id, status: 'paused' }));
    expect(paused).toMatchObject({
      renamed: false,
      old_name: 'Q3 Planning',
      new_name: 'Q3 Planning',
      instance: { status: 'paused' },
    });
  });

  it("updates the site's current instance (the last created or updated) when instance_id is absent", async () => {
    const other = await h.stepwise.keys.create({ orgName: 'default', siteName: 'fresh', scopes: SCOPES });
    const created = await createInstance(h, other.key, { activity: 'Untitled' });
    const response = await call(h, other.key, { action: 'update', context: SAAS_CONTEXT });
    expect(json(response)).toMatchObject({ renamed: true, instance: { id: created.id } });
  });

  it('reads one instance, or the site’s list with limit and offset', async () => {
    const site = newId('site');
    await h.stepwise.store.createSite({ id: site, org_id: h.orgId, name: 'list', created_at: Date.now() });
    const ids: string[] = [];
    for (const activity of ['One', 'Two', 'Three']) {
      ids.push((await createInstance(h, key, { site_id: site, activity })).id);
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const one = json(await call(h, key, { action: 'read', instance_id: ids[0] }));
    expect(one).toEqual({ success: true, instance: expect.objectContaining({ id: ids[0], name: 'One' }) });

    const page = json(await call(h, key, { action: 'read', site_id: site, limit: 2, offset: 1 }));
    expect(page).toMatchObject({ success: true, limit: 2, offset: 1 });
    expect((page.instances as InstanceView[]).map((instance) => instance.name)).toEqual(['Two', 'One']);
  });

  it("answers 404 for another org's instance, and 400 naming site_id for another org's site", async () => {
    const stranger = await h.stepwise.keys.create({ orgName: 'other-org', scopes: SCOPES });
    const theirs = await createInstance(h, stranger.key, { activity: 'Their secret plan' });
    for (const body of [
      { action: 'read', instance_id: theirs.id },
      { action: 'update', instance_id: theirs.id, name: 'Mine now' },
    ]) {
      const response = await call(h, key, body);
      expect(response.statusCode).toBe(404);
      expect(JSON.stringify(json(response))).not.toContain('secret');
    }
    const response = await call(h, key, { action: 'create', site_id: stranger.site_id, activity: 'x' });
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ error: { field: 'site_id' } });
  });

  it('authenticates first (401), then needs the scope of the action (403 naming it)', async () => {
    const none = await h.app.inject({ method: 'POST', url: URL, payload: { action: 'read' } });
    expect(none.statusCode).toBe(401);
    const reader = await h.key(['instances:read']);
    const writer = await h.key(['instances:write']);
    const cases: [string, string, string][] = [
      [reader, 'create', 'instances:write'],
      [reader, 'update', 'instances:write'],
      [writer, 'read', 'instances:read'],
    ];
    for (const [k, action, scope] of cases) {
      const response = await call(h, k, { action, activity: 'x', name: 'y' });
      expect(response.statusCode, action).toBe(403);
      expect(json(response)).toMatchObject({ error: { code: 'MISSING_SCOPE' } });
      expect((json(response).error as { message: string }).message).toContain(scope);
    }
    expect((await call(h, reader, { action: 'read' })).statusCode).toBe(200);
  });

  it('refuses bad input with a 400 naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ action: 'delete' }, 'action'],
      [{ action: 'create' }, 'activity'],
      [{ action: 'create', activity: '   ' }, 'activity'],
      [{ action: 'create', activity: 'x', colour: 'red' }, 'colour'],
      [{ action: 'update', name: 'x', status: 'Not A Status!' }, 'status'],
      [{ action: 'update', instance_id: 'inst_x' }, 'name'],
      [{ action: 'read', limit: 0 }, 'limit'],
    ];
    for (const [body, field] of cases) {
      const response = await call(h, key, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(json(response), JSON.stringify(body)).toMatchObject({ error: { field } });
    }
  });
});

describe('document 001 with an LLM (loopback OpenAI stub)', () => {
  let h: ApiHarness;
  let stub: OpenAiStub;
  let key: string;

  beforeAll(async () => {
    stub = await startOpenAiStub();
    h = await startApiHarness({ worker: false, env: { LLM_BASE_URL: stub.baseUrl, LLM_MODEL: 'stub' } });
    key = await h.key(SCOPES);
  });
  afterAll(async () => {
    await h.close();
    await stub.close();
  });

  it("names from the LLM's reply, asking it for a concise name of the context", async () => {
    const created = await createInstance(h, key, { activity: 'Assistant Session' });
    stub.reply('"SaaS Lead Gen Campaign - US"');
    const response = await call(h, key, { action: 'update', instance_id: created.id, context: SAAS_CONTEXT });
    expect(json(response)).toMatchObject({
      success: true,
      renamed: true,
      old_name: 'Assistant Session',
      new_name: 'SaaS Lead Gen Campaign - US',
      similarity: 0,
    });
    const request = stub.requests.at(-1)!;
    expect(request.body.model).toBe('stub');
    const prompt = request.body.messages!.map((message) => message.content).join('\n');
    expect(prompt).toContain(SAAS_CONTEXT);
    expect(prompt).toMatch(/at most 6 words/);
  });

  it('falls back to the keyword namer when the LLM fails or answers nothing usable', async () => {
    for (const failure of [{ status: 503, error: 'overloaded' }, '   ']) {
      const created = await createInstance(h, key, { activity: 'New Instance' });
      stub.reply(failure);
      const response = await call(h, key, {
        action: 'update',
        instance_id: created.id,
        context: SAAS_CONTEXT,
      });
      expect(response.statusCode).toBe(200);
      expect(json(response)).toMatchObject({ renamed: true, new_name: 'SaaS Lead Gen Campaign US' });
    }
  });

  it('does not ask the LLM when the name still fits', async () => {
    const created = await createInstance(h, key, { activity: 'SaaS Lead Gen Campaign' });
    const before = stub.requests.length;
    const response = await call(h, key, { action: 'update', instance_id: created.id, context: SAAS_CONTEXT });
    expect(json(response)).toMatchObject({ renamed: false, similarity: 0.82 });
    expect(stub.requests.length).toBe(before);
  });
});
