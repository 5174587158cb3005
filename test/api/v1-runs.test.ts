import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP, registerDashboard } from '../../src/api/dashboard.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';

// GET /v1/runs (the dashboard's live run list) and the dashboard's own routes.

const T0 = Date.parse('2026-05-01T10:00:00.000Z');
let now = T0;
const clock = { now: () => now };

let h: ApiHarness;
let key: string;
const ids: { a: string[]; b: string[] } = { a: [], b: [] };
let workflowA = '';
let slugB = '';

interface RunsPage {
  data: { jobId: string; workflowId: string; status: string; createdAt: string; creditsConsumed: number }[];
  limit: number;
  offset: number;
}

const list = async (query = '') => {
  const response = await h.app.inject({
    method: 'GET',
    url: `/v1/runs${query}`,
    headers: { 'X-API-Key': key },
  });
  return response;
};

beforeAll(async () => {
  // No worker: runs stay pending unless cancelled, so each keeps the status the test gave it.
  h = await startApiHarness({ worker: false, clock });
  key = await h.key(['workflows:read', 'workflows:write']);
  const org = (await h.stepwise.store.getOrgByName('default'))!.id;
  const a = await h.stepwise.workflows.create(org, {
    title: 'Runs A',
    steps: [{ id: 's', tool: 'log', params: {} }],
  });
  const b = await h.stepwise.workflows.create(org, {
    title: 'Runs B',
    steps: [{ id: 's', tool: 'log', params: {} }],
  });
  workflowA = a.id;
  slugB = b.slug;
  for (let i = 0; i < 6; i++) {
    now = T0 + i * 60_000; // one a minute, alternating workflows
    const workflow = i % 2 === 0 ? a : b;
    const { run } = await h.stepwise.runs.start(org, workflow.id, { input: { i }, trigger: { type: 'api' } });
    (i % 2 === 0 ? ids.a : ids.b).push(run.id);
  }
  await h.stepwise.runs.cancel(org, ids.a[0]!);
});
afterAll(async () => {
  await h?.close();
});

describe('GET /v1/runs', () => {
  it("lists the org's runs of every workflow, newest first, with their credits", async () => {
    const response = await list();
    expect(response.statusCode).toBe(200);
    const page = json<RunsPage>(response);
    expect(page.data.map((run) => run.jobId)).toEqual([
      ids.b[2],
      ids.a[2],
      ids.b[1],
      ids.a[1],
      ids.b[0],
      ids.a[0],
    ]);
    expect(page.data[0]).toMatchObject({ status: 'pending', creditsConsumed: 0 });
    expect(page).toMatchObject({ limit: 50, offset: 0 });
  });

  it('filters by status (one or a comma-separated list), by workflow id or slug, and pages', async () => {
    const ofIds = async (query: string) => json<RunsPage>(await list(query)).data.map((run) => run.jobId);
    expect(await ofIds('?status=cancelled')).toEqual([ids.a[0]]);
    expect(await ofIds('?status=cancelled,pending&workflow_id=' + workflowA)).toEqual([
      ids.a[2],
      ids.a[1],
      ids.a[0],
    ]);
    expect(await ofIds(`?workflow_id=${slugB}`)).toEqual([ids.b[2], ids.b[1], ids.b[0]]);
    expect(await ofIds('?workflow_id=wf_gone')).toEqual([]);
    expect(await ofIds('?limit=2&offset=2')).toEqual([ids.b[1], ids.a[1]]);
  });

  it('filters by creation time: created_after inclusive, created_before exclusive', async () => {
    const at = (minutes: number) => encodeURIComponent(new Date(T0 + minutes * 60_000).toISOString());
    const page = json<RunsPage>(await list(`?created_after=${at(1)}&created_before=${at(4)}`));
    expect(page.data.map((run) => run.jobId)).toEqual([ids.b[1], ids.a[1], ids.b[0]]);
    const offset = json<RunsPage>(await list(`?created_after=2026-05-01T12:04:00%2B02:00`));
    expect(offset.data.map((run) => run.jobId)).toEqual([ids.b[2], ids.a[2]]);
  });

  it('answers 400 naming the field for a bad status, date, limit or unknown field', async () => {
    for (const [query, field] of [
      ['?status=done', 'status'],
      ['?status=pending,nope', 'status'],
      ['?created_after=yesterday', 'created_after'],
      ['?created_before=2026-13-01T00:00:00Z', 'created_before'],
      ['?limit=501', 'limit'],
      ['?offset=-1', 'offset'],
      ['?colour=red', 'colour'],
    ] as const) {
      const response = await list(query);
      expect(response.statusCode, query).toBe(400);
      const body = json<{ error: { code: string; field: string; message: string } }>(response);
      expect(body.error, query).toMatchObject({ code: 'VALIDATION_FAILED', field });
      expect(body.error.message, query).toContain(field);
    }
  });

  it('needs a key with workflows:read', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/v1/runs' })).statusCode).toBe(401);
    const other = await h.key(['events:write']);
    const response = await h.app.inject({ method: 'GET', url: '/v1/runs', headers: { 'X-API-Key': other } });
    expect(response.statusCode).toBe(403);
  });
});

describe('the dashboard routes', () => {
  const dirs: string[] = [];
  const serve = async (build: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-web-'));
    dirs.push(dir);
    if (build) {
      mkdirSync(join(dir, 'assets'));
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Stepwise</title><div id="app"></div>');
      writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
      writeFileSync(join(dir, 'assets', 'notes.txt'), 'not an asset type');
      writeFileSync(join(dir, 'secret.txt'), 'outside assets');
    }
    const app = Fastify();
    app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND' } }));
    registerDashboard(app, dir);
    await app.ready();
    return app;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('answers index.html for every page of the app, and its hashed assets with long caching', async () => {
    const app = await serve(true);
    for (const url of [
      '/',
      '/workflows',
      '/workflows/wf_1',
      '/runs',
      '/runs/run_1?x=1',
      '/summary',
      '/marketplace',
      '/instances',
    ]) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type'], url).toBe('text/html; charset=utf-8');
      expect(response.headers['cache-control'], url).toBe('no-cache');
      expect(response.headers, url).toMatchObject({
        'content-security-policy': DASHBOARD_CSP,
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
      });
      expect(response.body, url).toContain('<div id="app">');
    }
    const asset = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['cache-control']).toContain('immutable');
    expect(asset.body).toBe('console.log(1)');
    await app.close();
  });

  it('serves no other file and leaves every other path to the 404 handler', async () => {
    const app = await serve(true);
    for (const url of [
      '/assets/missing.js',
      '/assets/notes.txt',
      '/assets/..%2Fsecret.txt',
      '/assets/%2E%2E%2Findex.html',
      '/secret.txt',
      '/index.html',
      '/v1/unknown',
      '/workflows/a/b',
      '/favicon.ico',
    ]) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.body, url).not.toContain('outside assets');
    }
    await app.close();
  });

  it('without a build, the pages say in plain text how to build the dashboard (503)', async () => {
    const app = await serve(false);
    const response = await app.inject({ method: 'GET', url: '/runs/run_1' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.body).toContain('npm run build');
    expect((await app.inject({ method: 'GET', url: '/assets/index.js' })).statusCode).toBe(404);
    await app.close();
  });

  it('in the real server, unknown API paths keep their JSON 404', async () => {
    for (const url of [
      '/v1/nope',
      '/api/v1/nope',
      '/mcp/nope',
      '/docs/nope.js',
      '/healthz/x',
      '/assets/nope.js',
    ]) {
      const response = await h.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(json<{ error: { code: string } }>(response).error.code, url).toBe('NOT_FOUND');
    }
  });
});
