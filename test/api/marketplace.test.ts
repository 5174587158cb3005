import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEMPLATE_CATALOGUE } from '../../src/templates/catalogue.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { connectInMemory, textJson } from '../mcp/mcp-client.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { waitForRun } from '../support/stepwise-harness.js';

// Document 004's community marketplace: publish → public without a key → installed by another
// org → run there; unpublish hides; a public copy never carries a secret or anything of its org.

let h: ApiHarness;
let recorder: HttpRecorder;
let publisher: { key: string; orgId: string };
let installer: { key: string; orgId: string };

const BASE = '/api/v1/workflows';
const SCOPES = ['workflows:read', 'workflows:write'];

function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, key: string | null, body?: unknown) {
  return h.app.inject({
    method,
    url,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

async function ok<T = Record<string, unknown>>(response: Promise<LightMyRequestResponse>, status = 200) {
  const answer = await response;
  expect(answer.statusCode, answer.body.slice(0, 500)).toBe(status);
  return json<T>(answer);
}

interface Listing {
  id: string;
  kind: string;
  slug: string;
  install_count: number;
  required_secrets: string[];
  inputs: Record<string, unknown>;
}
type Page = { workflows: Listing[]; limit: number; offset: number; total: number };

const createWorkflow = (key: string, body: Record<string, unknown>) =>
  ok<{ id: string; slug: string }>(call('POST', BASE, key, body), 201);

const ping = {
  title: 'Ping with key',
  slug: 'pingWithKey',
  description: 'Calls an endpoint with an API key',
  steps: [
    {
      id: 'fetch',
      tool: 'http',
      params: { url: '{{ input.url }}', headers: { 'X-Api-Key': '{{ secrets.PING_KEY }}' } },
    },
    {
      id: 'answer',
      tool: 'transform',
      params: { expression: '{ "status": status }', data: '{{ steps.fetch.output }}' },
    },
  ],
};

const BACKENDS = [
  { name: 'SQLite', databaseUrl: undefined as string | undefined },
  // Skipped unless STEPWISE_TEST_DATABASE_URL names a PostgreSQL that may create databases.
  { name: 'PostgreSQL', databaseUrl: testDatabaseUrl },
];

describe.each(BACKENDS)('the marketplace on $name', ({ name, databaseUrl }) => {
  const skip = name === 'PostgreSQL' && !databaseUrl;
  let db: TestDatabase | null = null;

  beforeAll(async () => {
    if (skip) return;
    db = databaseUrl ? await createTestDatabase() : null;
    recorder = await startHttpRecorder();
    h = await startApiHarness(db ? { databaseUrl: db.url } : {});
    for (const [org, target] of [
      ['publisher-org', (v: typeof publisher) => (publisher = v)],
      ['installer-org', (v: typeof installer) => (installer = v)],
    ] as const) {
      const created = await h.stepwise.keys.create({ orgName: org, scopes: SCOPES });
      target({ key: created.key, orgId: created.org_id });
    }
  });
  afterAll(async () => {
    await h?.close();
    await recorder?.close();
    await db?.drop();
  });

  describe.skipIf(skip)('publish, discover, install, run', () => {
    it('publish → public without a key → another org installs it → runs it to completion', async () => {
      const workflow = await createWorkflow(publisher.key, ping);
      const published = await ok<{ is_public: boolean; listing: Listing }>(
        call('POST', `${BASE}/${workflow.id}/publish`, publisher.key),
      );
      expect(published.is_public).toBe(true);
      expect(published.listing).toMatchObject({ id: workflow.id, kind: 'community', slug: 'pingWithKey' });

      const open = await ok<Listing>(call('GET', `${BASE}/public/${workflow.id}`, null));
      expect(open).toMatchObject({
        id: workflow.id,
        kind: 'community',
        required_secrets: ['PING_KEY'],
        install_count: 0,
      });
      expect(Object.keys(open).sort()).toEqual(
        [
          'id',
          'kind',
          'slug',
          'title',
          'description',
          'category',
          'credit_cost',
          'estimated_duration',
          'inputs',
          'trigger_config',
          'steps',
          'required_secrets',
          'install_count',
          'published_at',
          'updated_at',
        ].sort(),
      );
      for (const list of ['explore', 'community']) {
        const page = await ok<Page>(call('GET', `${BASE}/${list}?limit=100`, installer.key));
        expect(page.workflows.map((l) => l.id)).toContain(workflow.id);
      }

      // The installer has not set PING_KEY yet: the install says so instead of the first run failing.
      const installed = await ok<{ id: string; slug: string; status: string; installed_from: string }>(
        call('POST', `${BASE}/${workflow.id}/install`, installer.key),
        201,
      );
      expect(installed).toMatchObject({
        slug: 'pingWithKey',
        status: 'active',
        installed_from: workflow.id,
        missing_secrets: ['PING_KEY'],
      });

      await ok(call('PUT', '/v1/secrets/PING_KEY', installer.key, { value: 'installer-key-value' }));
      const again = await ok<{ slug: string; missing_secrets: string[] }>(
        call('POST', `${BASE}/${workflow.id}/install`, installer.key),
        201,
      );
      expect(again).toMatchObject({ slug: 'pingWithKey2', missing_secrets: [] });
      expect((await ok<Listing>(call('GET', `${BASE}/public/${workflow.id}`, null))).install_count).toBe(2);

      const started = await ok<{ execution_id: string }>(
        call('POST', `${BASE}/${installed.id}/execute`, installer.key, {
          context: { url: `${recorder.url}/ping` },
        }),
        202,
      );
      const run = await waitForRun(h.stepwise, started.execution_id);
      expect(run.status).toBe('completed');
      expect(run.output).toEqual({ status: 200 });
      expect(recorder.requestsTo('/ping').at(-1)?.headers['x-api-key']).toBe('installer-key-value');
    });

    it('unpublish hides it everywhere (404 naming it, not listed, not installable); republish brings it back', async () => {
      const workflow = await createWorkflow(publisher.key, { ...ping, slug: 'pingHidden' });
      await ok(call('POST', `${BASE}/${workflow.id}/publish`, publisher.key));
      const unpublished = await ok<{ is_public: boolean }>(
        call('POST', `${BASE}/${workflow.id}/unpublish`, publisher.key),
      );
      expect(unpublished.is_public).toBe(false);

      const gone = await call('GET', `${BASE}/public/${workflow.id}`, null);
      expect(gone.statusCode).toBe(404);
      expect(json<{ error: { code: string; message: string } }>(gone).error).toMatchObject({
        code: 'NOT_FOUND',
      });
      expect(gone.body).toContain(workflow.id);
      for (const list of ['explore', 'community']) {
        const page = await ok<Page>(call('GET', `${BASE}/${list}?limit=100`, installer.key));
        expect(page.workflows.map((l) => l.id)).not.toContain(workflow.id);
      }
      expect((await call('POST', `${BASE}/${workflow.id}/install`, installer.key)).statusCode).toBe(404);

      // is_public through PUT goes through the same publishing, and a delete hides the listing.
      const put = await ok<{ is_public: boolean }>(
        call('PUT', `${BASE}/${workflow.id}`, publisher.key, { is_public: true }),
      );
      expect(put.is_public).toBe(true);
      await ok(call('GET', `${BASE}/public/${workflow.id}`, null));
      await ok(call('DELETE', `${BASE}/${workflow.id}`, publisher.key));
      expect((await call('GET', `${BASE}/public/${workflow.id}`, null)).statusCode).toBe(404);
    });

    it("only the owner publishes: another org's publish is a 404; an empty workflow cannot be published", async () => {
      const workflow = await createWorkflow(publisher.key, { ...ping, slug: 'pingOwned' });
      expect((await call('POST', `${BASE}/${workflow.id}/publish`, installer.key)).statusCode).toBe(404);
      const empty = await createWorkflow(publisher.key, { title: 'Nothing yet' });
      const refused = await call('POST', `${BASE}/${empty.id}/publish`, publisher.key);
      expect(refused.statusCode).toBe(400);
      expect(json<{ error: { field: string } }>(refused).error.field).toBe('steps');
      const created = await call('POST', BASE, publisher.key, { title: 'Public at once', is_public: true });
      expect(json<{ error: { field: string } }>(created).error.field).toBe('is_public');
    });
  });

  describe.skipIf(skip)('a public copy', () => {
    const SECRET_VALUES = [
      'sk_live_51Habcdefghijklmnop',
      'literal-api-key-9876',
      'session=abc123secretcookie',
      'hunter2-password',
      'query-token-5555',
      'whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4',
      'boss@acme-private.com',
      'site_private_42',
      'company_777',
      'https://hooks.acme-private.com/callback',
      'url-user:url-pass',
    ];

    it('carries no secret value, address, org or site id, or callback URL; references stay', async () => {
      const workflow = await createWorkflow(publisher.key, {
        title: 'Leaky workflow',
        slug: 'leaky',
        description: `Mail boss@acme-private.com; org ${publisher.orgId}`,
        trigger_config: {
          type: 'event',
          enabled: true,
          event_type: 'gmail.new_email',
          filters: { from: 'boss@acme-private.com' },
        },
        steps: [
          {
            id: 'fetch',
            tool: 'http',
            params: {
              url: `https://url-user:url-pass@api.example.com/v1/items?api_key=query-token-5555&org=${publisher.orgId}`,
              headers: {
                Authorization: 'Bearer sk_live_51Habcdefghijklmnop',
                'X-Api-Key': 'literal-api-key-9876',
                Cookie: 'session=abc123secretcookie',
                'X-Crm-Token': '{{ secrets.CRM_TOKEN }}',
              },
              json: { site_id: 'site_private_42', companyId: 'company_777', password: 'hunter2-password' },
            },
          },
          {
            id: 'tell',
            tool: 'webhook',
            params: {
              url: 'https://example.com/in',
              secret: 'whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4',
              payload: {},
            },
          },
          {
            id: 'mail',
            tool: 'email',
            params: { to: 'boss@acme-private.com', subject: 'Done', text: 'All done' },
          },
        ],
      });
      await ok(call('PUT', `${BASE}/${workflow.id}`, publisher.key, { status: 'inactive' }));
      await h.stepwise.workflows.update(publisher.orgId, workflow.id, {
        callback_url: 'https://hooks.acme-private.com/callback',
        metadata: { site_id: 'site_private_42', company_id: 'company_777', estimated_duration: '1 min' },
      });
      const published = await call('POST', `${BASE}/${workflow.id}/publish`, publisher.key);
      expect(published.statusCode).toBe(200);

      const views = [
        await call('GET', `${BASE}/public/${workflow.id}`, null),
        await call('GET', `${BASE}/community?limit=100`, installer.key),
        await call('GET', `${BASE}/explore?limit=100`, installer.key),
      ];
      for (const view of views) {
        expect(view.statusCode).toBe(200);
        for (const value of [...SECRET_VALUES, publisher.orgId]) expect(view.body).not.toContain(value);
      }
      const listing = json<
        Listing & {
          steps: { params: Record<string, unknown> }[];
          trigger_config: object;
          estimated_duration: string;
        }
      >(views[0]!);
      expect(listing.required_secrets).toContain('CRM_TOKEN');
      expect(listing.required_secrets.length).toBeGreaterThanOrEqual(6);
      expect(listing.trigger_config).toEqual({ type: 'event', enabled: true, event_type: 'gmail.new_email' });
      expect(listing.estimated_duration).toBe('1 min');
      const headers = (listing.steps[0]!.params.headers ?? {}) as Record<string, string>;
      expect(headers.Authorization).toMatch(/^Bearer \{\{ secrets\.[A-Z0-9_]+ \}\}$/);
      expect(headers['X-Crm-Token']).toBe('{{ secrets.CRM_TOKEN }}');
      expect(listing.steps[2]!.params.to).toMatch(/^\{\{ input\.[a-z0-9_]+ \}\}$/);
      expect(Object.keys(listing.inputs)).toEqual(
        expect.arrayContaining(['site_id', 'company_id', 'org_id', 'mail_to_email']),
      );

      // Installed elsewhere it is a valid workflow; its event trigger waits to be activated.
      const installed = await ok<{ status: string; steps: unknown[] }>(
        call('POST', `${BASE}/${workflow.id}/install`, installer.key),
        201,
      );
      expect(installed.status).toBe('inactive');
      for (const value of SECRET_VALUES) expect(JSON.stringify(installed)).not.toContain(value);
    });
  });

  describe.skipIf(skip)('explore and community', () => {
    it('lists every template, paged, with the total; explore puts the most installed first', async () => {
      const all = await ok<Page>(call('GET', `${BASE}/community?limit=100&kind=template`, installer.key));
      expect(all.total).toBe(TEMPLATE_CATALOGUE.length);
      expect(all.workflows.map((l) => l.id).sort()).toEqual(TEMPLATE_CATALOGUE.map((t) => t.id).sort());
      const second = await ok<Page>(call('GET', `${BASE}/explore?limit=5&offset=5`, installer.key));
      expect(second).toMatchObject({ limit: 5, offset: 5 });
      expect(second.workflows).toHaveLength(5);

      for (let i = 0; i < 3; i += 1)
        await ok(call('POST', `${BASE}/tpl_reputation_shield/install`, installer.key), 201);
      await ok(
        call('POST', `${BASE}/tpl_stopRobot/install`, installer.key, { slug: 'haltRobot', title: 'Halt' }),
        201,
      );
      const featured = await ok<Page>(call('GET', `${BASE}/explore?limit=100`, installer.key));
      const counts = featured.workflows.map((l) => l.install_count);
      expect(counts).toEqual([...counts].sort((a, b) => b - a));
      const ids = featured.workflows.map((l) => l.id);
      expect(ids.indexOf('tpl_reputation_shield')).toBeLessThan(ids.indexOf('tpl_stopRobot'));
      expect(ids.indexOf('tpl_stopRobot')).toBeLessThan(ids.indexOf('tpl_ai_shop_checkup'));
      // A scheduled template waits for its owner to set its secrets and activate it; a manual one runs at once.
      const scheduled = await ok<{ status: string }>(
        call('POST', `${BASE}/tpl_dailyStandUp/install`, installer.key),
        201,
      );
      expect(scheduled.status).toBe('inactive');
      const found = await ok<Page>(call('GET', `${BASE}/community?q=reputation`, installer.key));
      expect(found.workflows.map((l) => l.id)).toEqual(['tpl_reputation_shield']);
    });

    it('MCP install_workflow names the required secrets the org has not set', async () => {
      await ok(call('PUT', '/v1/secrets/CRM_API_KEY', installer.key, { value: 'crm-key' }));
      const mcp = await connectInMemory(h.stepwise, installer.key);
      try {
        const installed = textJson(
          await mcp.callTool({ name: 'install_workflow', arguments: { workflowId: 'tpl_leadResearch' } }),
        );
        expect(installed.requiredSecrets).toEqual(expect.arrayContaining(['CRM_API_KEY', 'CRM_BASE_URL']));
        expect(installed.missingSecrets).toEqual(
          (installed.requiredSecrets as string[]).filter((name) => name !== 'CRM_API_KEY'),
        );
      } finally {
        await mcp.close();
      }
    });

    it('refuses bad paging and unknown ids with 400 and 404 naming them', async () => {
      const bad = await call('GET', `${BASE}/explore?limit=0`, installer.key);
      expect(bad.statusCode).toBe(400);
      const missing = await call('GET', `${BASE}/public/tpl_no_such_thing`, null);
      expect(missing.statusCode).toBe(404);
      expect(missing.body).toContain('tpl_no_such_thing');
      const badSlug = await call('POST', `${BASE}/tpl_stopRobot/install`, installer.key, { slug: '1x' });
      expect(json<{ error: { field: string } }>(badSlug).error.field).toBe('slug');
    });
  });
});
