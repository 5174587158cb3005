import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_ASSETS_ROUTE, DASHBOARD_PAGES, dashboardBuilt } from '../../src/api/dashboard.js';
import { hasScope, isOperator, SCOPES, type Scope } from '../../src/domain/scopes.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';

// The REST API's security matrix: every authenticated route × (no key, bad key, revoked key,
// missing scope, the right scope, an `admin` key made before the admin levels split, another
// org's org_admin key). The table is written from the route files
// and checked against the routes the app really serves, so a new route cannot slip past it.

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type ObjectKind = 'workflow' | 'run' | 'schedule' | 'key' | 'secret' | 'org' | 'listing';
type Headers = Record<string, string>;

/** One org's objects, each carrying a marker that must never show up in another org's answers. */
interface Fixture {
  orgName: string;
  orgId: string;
  marker: string;
  title: string;
  description: string;
  workflowId: string;
  workflowSlug: string;
  runId: string;
  scheduleId: string;
  secretName: string;
  secretValue: string;
  keyId: string;
}

interface RouteSpec {
  method: Method;
  /** As the OpenAPI document writes it. */
  path: string;
  scope: Scope;
  /** The status a caller with the scope gets for the valid request below. */
  ok: number;
  /** What the `{…}` path parameter addresses. */
  object?: ObjectKind;
  /** A body that passes validation, so the auth checks are what decide. */
  body?: (f: Fixture) => unknown;
  /** An object the body refers to (another org's → 404). */
  bodyRefersTo?: ObjectKind;
  /** A listing of the caller org's objects: what of a fixture it shows. */
  listing?: (f: Fixture) => string;
  /**
   * How another org's key is answered when it addresses this org's object:
   * - default: 404, none of the object's data, nothing changed;
   * - `namespace`: the name is per org (secrets): the other org writes its own secret;
   * - `operator`: an operator-scope route, which spans every org by design (an org admin is
   *   refused it by the missing-scope case; test/api/admin-levels.test.ts has the rest);
   * - `action`: document 000's 404 `UNKNOWN_ACTION`, listing the caller's own actions;
   * - `public`: a marketplace listing, public by design: every org may install it into its own org.
   */
  crossOrg?: 'namespace' | 'operator' | 'action' | 'public';
}

const read: Scope = 'workflows:read';
/** A shipped template: a listing every org sees. */
const PUBLIC_LISTING = 'tpl_stopRobot';
const write: Scope = 'workflows:write';
const FUTURE = '2099-01-01T09:00:00Z';

/** Every route that needs a key, read from src/api/v1/*.ts and src/api/api-v1/*.ts. */
const ROUTES: RouteSpec[] = [
  // src/api/v1/workflow-routes.ts (document 002)
  { method: 'POST', path: '/v1/workflows', scope: write, ok: 201, body: () => ({ title: 'Matrix made' }) },
  { method: 'GET', path: '/v1/workflows', scope: read, ok: 200, listing: (f) => f.workflowId },
  { method: 'GET', path: '/v1/workflows/jobs/{jobId}', scope: read, ok: 200, object: 'run' },
  { method: 'GET', path: '/v1/workflows/{id}', scope: read, ok: 200, object: 'workflow' },
  {
    method: 'PATCH',
    path: '/v1/workflows/{id}',
    scope: write,
    ok: 200,
    object: 'workflow',
    body: () => ({ title: 'Matrix renamed' }),
  },
  { method: 'DELETE', path: '/v1/workflows/{id}', scope: write, ok: 200, object: 'workflow' },
  {
    method: 'POST',
    path: '/v1/workflows/{id}/run',
    scope: write,
    ok: 201,
    object: 'workflow',
    body: () => ({ input: { from: 'matrix' } }),
  },
  {
    method: 'POST',
    path: '/v1/workflows/{id}/cancel',
    scope: write,
    ok: 200,
    object: 'workflow',
    body: (f) => ({ jobId: f.runId }),
    bodyRefersTo: 'run',
  },
  { method: 'GET', path: '/v1/workflows/{id}/jobs', scope: read, ok: 200, object: 'workflow' },
  { method: 'GET', path: '/v1/runs/{id}', scope: read, ok: 200, object: 'run' },
  // src/api/v1/run-routes.ts (the dashboard's run list, and cancelling a run)
  { method: 'GET', path: '/v1/runs', scope: read, ok: 200, listing: (f) => f.runId },
  {
    method: 'POST',
    path: '/v1/runs/{id}/cancel',
    scope: write,
    ok: 200,
    object: 'run',
    body: () => ({ cascade: true }),
  },
  // src/api/v1/summary-routes.ts
  { method: 'GET', path: '/v1/workflows/{id}/summary', scope: read, ok: 200, object: 'workflow' },
  { method: 'GET', path: '/v1/workflows/{id}/summary/timeline', scope: read, ok: 200, object: 'workflow' },
  { method: 'GET', path: '/v1/workflows/{id}/summary/report', scope: read, ok: 200, object: 'workflow' },
  { method: 'GET', path: '/v1/summary', scope: read, ok: 200 },
  { method: 'GET', path: '/v1/summary/timeline', scope: read, ok: 200 },
  // src/api/v1/schedule-routes.ts
  {
    method: 'POST',
    path: '/v1/workflows/schedule',
    scope: write,
    ok: 201,
    body: (f) => ({ workFlowId: f.workflowId, scheduledDate: FUTURE, timezone: 'UTC' }),
    bodyRefersTo: 'workflow',
  },
  { method: 'GET', path: '/v1/schedules', scope: read, ok: 200, listing: (f) => f.scheduleId },
  { method: 'POST', path: '/v1/schedules/{id}/cancel', scope: write, ok: 200, object: 'schedule' },
  { method: 'GET', path: '/v1/runs/{id}/deliveries', scope: read, ok: 200, object: 'run' },
  // src/api/api-v1/workflow-routes.ts (document 004)
  {
    method: 'POST',
    path: '/api/v1/workflows',
    scope: write,
    ok: 201,
    body: () => ({ title: 'Matrix made', trigger_config: { type: 'manual', enabled: true } }),
  },
  { method: 'GET', path: '/api/v1/workflows', scope: read, ok: 200, listing: (f) => f.workflowId },
  { method: 'GET', path: '/api/v1/workflows/{workflow_id}', scope: read, ok: 200, object: 'workflow' },
  {
    method: 'PUT',
    path: '/api/v1/workflows/{workflow_id}',
    scope: write,
    ok: 200,
    object: 'workflow',
    body: () => ({ title: 'Matrix renamed', status: 'inactive' }),
  },
  { method: 'DELETE', path: '/api/v1/workflows/{workflow_id}', scope: write, ok: 200, object: 'workflow' },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/execute',
    scope: write,
    ok: 202,
    object: 'workflow',
    body: () => ({ context: { from: 'matrix' } }),
  },
  { method: 'GET', path: '/api/v1/workflows/{workflow_id}/status', scope: read, ok: 200, object: 'workflow' },
  {
    method: 'GET',
    path: '/api/v1/workflows/{workflow_id}/executions',
    scope: read,
    ok: 200,
    object: 'workflow',
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/activate',
    scope: write,
    ok: 200,
    object: 'workflow',
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/deactivate',
    scope: write,
    ok: 200,
    object: 'workflow',
  },
  // src/api/api-v1/generation-routes.ts (document 004's AI generation)
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/regenerate-steps',
    scope: write,
    ok: 202,
    object: 'workflow',
    body: () => ({ reason: 'Matrix wants another approach', force_different_tools: true }),
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/from-todo',
    scope: write,
    ok: 201,
    body: () => ({ todo_id: 'todo_matrix', todo_title: 'Matrix todo', todo_description: null }),
  },
  // src/api/api-v1/marketplace-routes.ts (document 004's community marketplace)
  { method: 'GET', path: '/api/v1/workflows/explore', scope: read, ok: 200 },
  { method: 'GET', path: '/api/v1/workflows/community', scope: read, ok: 200 },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/publish',
    scope: write,
    ok: 200,
    object: 'workflow',
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/unpublish',
    scope: write,
    ok: 200,
    object: 'workflow',
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/install',
    scope: write,
    ok: 201,
    object: 'listing',
    body: () => ({ title: 'Matrix installed' }),
    crossOrg: 'public',
  },
  // src/api/v1/event-routes.ts
  {
    method: 'POST',
    path: '/v1/events',
    scope: 'events:write',
    ok: 202,
    body: () => ({ type: 'matrix.ping', data: { n: 1 } }),
  },
  // src/api/v1/admin-routes.ts
  // src/api/v1/admin-routes.ts: an org admin manages its own org's keys, an operator every org's
  {
    method: 'POST',
    path: '/v1/admin/keys',
    scope: 'org_admin',
    ok: 201,
    body: () => ({ scopes: ['workflows:read'], name: 'matrix minted' }),
  },
  { method: 'GET', path: '/v1/admin/keys', scope: 'org_admin', ok: 200, listing: (f) => f.keyId },
  // src/api/v1/credit-routes.ts: the caller's own org (never a parameter), then any org for operators
  { method: 'GET', path: '/v1/credits', scope: read, ok: 200, listing: (f) => f.orgId },
  {
    method: 'GET',
    path: '/v1/admin/orgs/{id}/credits',
    scope: 'operator',
    ok: 200,
    object: 'org',
    crossOrg: 'operator',
  },
  {
    method: 'POST',
    path: '/v1/admin/orgs/{id}/credits',
    scope: 'operator',
    ok: 201,
    object: 'org',
    body: () => ({ amount: 5, reason: 'matrix' }),
    crossOrg: 'operator',
  },
  {
    method: 'PUT',
    path: '/v1/admin/orgs/{id}/plan',
    scope: 'operator',
    ok: 200,
    object: 'org',
    // The plan every org of this file is on already: the call changes nothing else the matrix counts.
    body: () => ({ plan: 'unlimited' }),
    crossOrg: 'operator',
  },
  { method: 'DELETE', path: '/v1/admin/keys/{id}', scope: 'org_admin', ok: 200, object: 'key' },
  {
    method: 'PUT',
    path: '/v1/secrets/{name}',
    scope: write,
    ok: 200,
    object: 'secret',
    body: () => ({ value: 'matrix-value' }),
    crossOrg: 'namespace',
  },
  { method: 'GET', path: '/v1/secrets', scope: read, ok: 200, listing: (f) => f.secretName },
  // src/api/action/action-routes.ts (document 000): the action is a workflow's slug (or id)
  {
    method: 'POST',
    path: '/api/workflow/{action}',
    scope: write,
    ok: 201,
    object: 'workflow',
    body: () => ({ lead_id: 'matrix' }),
    crossOrg: 'action',
  },
  // src/api/metrics.ts (public only with STEPWISE_METRICS_PUBLIC=1)
  { method: 'GET', path: '/metrics', scope: 'metrics:read', ok: 200 },
  // src/api/instances/instance-routes.ts (document 001): the scope follows the body's action
  {
    method: 'POST',
    path: '/api/agents/tools/instance',
    scope: 'instances:write',
    ok: 201,
    body: () => ({ action: 'create', activity: 'Matrix made' }),
  },
];

/** Routes served without a key, on purpose. `documented`: listed in /openapi.json. */
const PUBLIC: { method: Method; path: string; documented: boolean; status: number }[] = [
  { method: 'GET', path: '/healthz', documented: false, status: 200 },
  { method: 'GET', path: '/readyz', documented: false, status: 200 },
  { method: 'GET', path: '/openapi.json', documented: false, status: 200 },
  // Document 004 serves public workflows without authentication; the fixture's workflow is private.
  { method: 'GET', path: '/api/v1/workflows/public/{workflow_id}', documented: true, status: 404 },
  // src/api/dashboard.ts: the web dashboard's pages (index.html, or a 503 saying how to build it)
  // and its hashed assets; the data it shows comes from the authenticated routes above.
  ...DASHBOARD_PAGES.map((path) => ({
    method: 'GET' as const,
    path: path.replace(/:(\w+)/g, '{$1}'),
    documented: false,
    status: dashboardBuilt() ? 200 : 503,
  })),
  { method: 'GET', path: DASHBOARD_ASSETS_ROUTE.replace(':file', '{file}'), documented: false, status: 404 },
];
/** @fastify/swagger-ui's pages and assets. */
const DOCS_PREFIX = '/docs';

/**
 * The MCP endpoints (Streamable HTTP) authenticate with the same keys themselves and answer
 * in JSON-RPC; their tools' scopes and limits are tested in test/mcp.
 */
const MCP: { method: Method; path: string }[] = ['/mcp', '/api/mcp-app'].flatMap((path) =>
  (['GET', 'POST', 'DELETE'] as Method[]).map((method) => ({ method, path })),
);

let h: ApiHarness;
let otherKey: string;
let revokedKey: string;
let mine: Fixture;
let theirs: Fixture;
const scopeKeys = new Map<Scope, string>();
const allButKeys = new Map<Scope, string>();
let fixtures = 0;

beforeAll(async () => {
  // No worker: runs stay pending, so every object keeps the state the test gave it. The matrix
  // sends hundreds of bad keys from one address: the bad-key throttle (tested in
  // test/api/auth-throttle.test.ts) would answer them 429 instead of the 401 checked here.
  h = await startApiHarness({ worker: false, env: { STEPWISE_AUTH_FAILURES_PER_MINUTE: '0' } });
  // Another org's most powerful tenant key: its org admin with every data scope.
  otherKey = await h.key(
    SCOPES.filter((scope) => !isOperator([scope])),
    'other-org',
  );
  const revoked = await h.stepwise.keys.create({ orgName: 'default', scopes: [...SCOPES] });
  await h.stepwise.keys.revoke(revoked.id);
  revokedKey = revoked.key;
  for (const scope of SCOPES) {
    scopeKeys.set(scope, await h.key([scope]));
    // Every scope that does not imply `scope` (org_admin implies the data scopes, operator all).
    allButKeys.set(scope, await h.key(SCOPES.filter((s) => !hasScope([s], scope))));
  }
  mine = await makeFixture('default');
  theirs = await makeFixture('other-org');
});
afterAll(async () => {
  await h?.close();
});

/** A workflow with a step, a pending run of it, a one-off schedule, a secret and a key, in `orgName`. */
async function makeFixture(orgName: string): Promise<Fixture> {
  const n = ++fixtures;
  const marker = `zqmark${n}${orgName.replace(/[^a-z]/g, '')}`;
  const key = await h.stepwise.keys.create({ orgName, scopes: ['workflows:read'], name: `key ${marker}` });
  const orgId = key.org_id;
  const title = `Confidential ${marker}`;
  const description = `Private plan ${marker}`;
  const workflow = await h.stepwise.workflows.create(orgId, {
    title,
    description,
    steps: [{ id: 'say', tool: 'log', params: { message: `hello ${marker}` } }],
    callback_url: `https://${marker}.example.com/hook`,
  });
  const { run } = await h.stepwise.runs.start(orgId, workflow.id, {
    input: { note: `input ${marker}` },
    trigger: { type: 'api' },
  });
  const schedule = await h.stepwise.schedules.scheduleOnce(orgId, workflow.id, {
    scheduledDate: FUTURE,
    input: { note: `scheduled ${marker}` },
  });
  const secretName = `SECRET_${marker.toUpperCase()}`;
  const secretValue = `value-${marker}`;
  await h.stepwise.secrets.put(orgId, secretName, secretValue);
  return {
    orgName,
    orgId,
    marker,
    title,
    description,
    workflowId: workflow.id,
    workflowSlug: workflow.slug,
    runId: run.id,
    scheduleId: schedule.id,
    secretName,
    secretValue,
    keyId: key.id,
  };
}

const bearer = (key: string): Headers => ({ authorization: `Bearer ${key}` });
const xApiKey = (key: string): Headers => ({ 'x-api-key': key });

function idOf(kind: ObjectKind, f: Fixture): string {
  switch (kind) {
    case 'workflow':
      return f.workflowId;
    case 'run':
      return f.runId;
    case 'schedule':
      return f.scheduleId;
    case 'key':
      return f.keyId;
    case 'secret':
      return f.secretName;
    case 'org':
      return f.orgId;
    case 'listing':
      return PUBLIC_LISTING;
  }
}

function urlOf(route: RouteSpec, f: Fixture, addressed = route.object ? idOf(route.object, f) : ''): string {
  // Listings page; ask for a page long enough to hold every fixture this file makes.
  const query = route.listing && route.method === 'GET' && route.path !== '/v1/secrets' ? '?limit=500' : '';
  return route.path.replace(/\{\w+\}/g, encodeURIComponent(addressed)) + query;
}

function call(
  route: RouteSpec,
  f: Fixture,
  headers: Headers,
  options: { url?: string; body?: Fixture; method?: Method | 'HEAD' } = {},
): Promise<LightMyRequestResponse> {
  const body = route.body?.(options.body ?? f);
  return h.app.inject({
    method: options.method ?? route.method,
    url: options.url ?? urlOf(route, f),
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

/** `{ error: { code, message } }` with this status and code. */
function expectError(response: LightMyRequestResponse, status: number, code: string, what: string): void {
  expect(response.statusCode, `${what}: ${response.body.slice(0, 300)}`).toBe(status);
  const body = json<{ error: { code: string; message: string } }>(response);
  expect(body, what).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
  expect(body.error.message.length, what).toBeGreaterThan(0);
}

/**
 * Nothing of `f` is in the answer: no title, description, slug, secret or marker anywhere, and
 * none of its ids outside the error message; the message may only echo what the caller sent.
 */
function expectNoLeak(response: LightMyRequestResponse, f: Fixture, sent: string, what: string): void {
  const parsed = response.body === '' ? {} : (json(response) as { error?: { message?: string } });
  const { message = '', ...restOfError } = parsed.error ?? {};
  const outside = JSON.stringify(parsed.error ? { ...parsed, error: restOfError } : parsed).toLowerCase();
  const said = message.split(sent).join('').toLowerCase();
  const data = [f.marker, f.title, f.description, f.workflowSlug, f.secretName, f.secretValue];
  const ids = [f.workflowId, f.runId, f.scheduleId, f.keyId];
  for (const value of [...data, ...ids]) {
    expect(outside, `${what} leaks '${value}'`).not.toContain(value.toLowerCase());
    expect(said, `${what} leaks '${value}' in its message`).not.toContain(value.toLowerCase());
  }
}

/** What the org holds, as the store sees it: any write shows up here. */
async function snapshot(orgId: string): Promise<unknown> {
  const store = h.stepwise.store;
  const page = { limit: 10_000, offset: 0 };
  return {
    workflows: (await store.listWorkflows(orgId, page)).map((w) => [w.id, w.version, w.status, w.updated_at]),
    runs: (await store.listRuns({ org_id: orgId, ...page })).map((r) => [r.id, r.status, r.cancel_requested]),
    schedules: (await store.schedules.listSchedules({ org_id: orgId, ...page })).map((s) => [
      s.id,
      s.status,
      s.updated_at,
    ]),
    secrets: await store.listSecretNames(orgId),
    keys: (await store.listApiKeys(orgId)).map((k) => [k.id, k.revoked_at]),
  };
}

const label = (method: string, path: string): string => `${method} ${path}`;

describe('the route table', () => {
  it('is every route of /openapi.json: the authenticated ones plus the documented public one', async () => {
    const response = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const document = json<{ paths: Record<string, Record<string, unknown>> }>(response);
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => label(method.toUpperCase(), path)),
    );
    const expected = [
      ...ROUTES.map((route) => label(route.method, route.path)),
      ...PUBLIC.filter((route) => route.documented).map((route) => label(route.method, route.path)),
    ];
    expect(new Set(documented).size).toBe(documented.length);
    expect(new Set(expected).size).toBe(expected.length);
    expect([...documented].sort()).toEqual([...expected].sort());
  });

  it('is every route the app serves, hidden ones included (HEAD mirrors GET, /docs* is swagger-ui)', () => {
    const served = servedRoutes(h.app.printRoutes({ commonPrefix: false }));
    expect(served.length).toBeGreaterThan(ROUTES.length);
    const ours = served.filter(
      (route) => !route.startsWith('HEAD ') && !route.split(' ')[1]!.startsWith(DOCS_PREFIX),
    );
    const expected = [...ROUTES, ...PUBLIC, ...MCP].map((route) => label(route.method, route.path));
    expect(ours.sort()).toEqual(expected.sort());
    expect(served.some((route) => route.startsWith(`GET ${DOCS_PREFIX}`))).toBe(true);
  });

  it('the MCP endpoints refuse a request without a valid key with 401', async () => {
    for (const route of MCP) {
      for (const headers of [{}, { authorization: 'Bearer sk_live_not_a_key' }]) {
        const response = await h.app.inject({
          method: route.method,
          url: route.path,
          headers: { ...headers, 'content-type': 'application/json' },
          payload: route.method === 'POST' ? { jsonrpc: '2.0', id: 1, method: 'tools/list' } : undefined,
        });
        expect(response.statusCode, label(route.method, route.path)).toBe(401);
      }
    }
  });

  it('the public routes answer without a key', async () => {
    for (const route of PUBLIC) {
      const url = route.path.replace('{workflow_id}', mine.workflowId);
      const response = await h.app.inject({ method: route.method, url });
      expect(response.statusCode, `${label(route.method, url)}: ${response.body.slice(0, 200)}`).toBe(
        route.status,
      );
    }
    const docs = await h.app.inject({ method: 'GET', url: DOCS_PREFIX });
    expect(docs.statusCode).toBeLessThan(400);
  });

  it('the public workflow route shows nothing of a private workflow, by id or by slug', async () => {
    for (const ref of [mine.workflowId, mine.workflowSlug]) {
      const response = await h.app.inject({ method: 'GET', url: `/api/v1/workflows/public/${ref}` });
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expectNoLeak(response, mine, ref, `public ${ref}`);
    }
  });
});

/** Parses `printRoutes({ commonPrefix: false })`' tree into `METHOD /path/{param}` lines. */
function servedRoutes(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    const path = stack.join('').replace(/:(\w+)/g, '{$1}');
    for (const method of match[3]?.split(', ') ?? []) routes.push(label(method, path));
  }
  return routes;
}

describe.each(ROUTES)('$method $path', (route) => {
  const needs = route.scope;

  it('no key, an unknown, malformed or revoked key → 401 UNAUTHENTICATED, before anything is read', async () => {
    const cases: [string, Headers][] = [
      ['no key', {}],
      ['an unknown Bearer key', bearer(`sk_live_${'A'.repeat(43)}`)],
      ['an unknown X-API-Key', xApiKey('not-a-key')],
      ['a revoked admin key as Bearer', bearer(revokedKey)],
      ['a revoked admin key as X-API-Key', xApiKey(revokedKey)],
      ['a valid key one character longer', bearer(`${h.adminKey}x`)],
      [
        'a valid key in Basic auth',
        { authorization: `Basic ${Buffer.from(`${h.adminKey}:`).toString('base64')}` },
      ],
      ['Bearer with no key', { authorization: 'Bearer ' }],
      ['an empty X-API-Key', { 'x-api-key': '' }],
    ];
    for (const [what, headers] of cases) {
      const response = await call(route, mine, headers);
      expectError(response, 401, 'UNAUTHENTICATED', what);
      expectNoLeak(response, mine, '', what);
    }
    if (route.method === 'GET') {
      const head = await call(route, mine, {}, { method: 'HEAD' });
      expect(head.statusCode, 'HEAD without a key').toBe(401);
    }
  });

  it(`a key with every scope but '${needs}' → 403 MISSING_SCOPE naming it`, async () => {
    const before = await snapshot(mine.orgId);
    const response = await call(route, mine, bearer(allButKeys.get(needs)!));
    expectError(response, 403, 'MISSING_SCOPE', `without ${needs}`);
    expect(json<{ error: { message: string } }>(response).error.message).toContain(`'${needs}'`);
    expectNoLeak(response, mine, '', `without ${needs}`);
    expect(await snapshot(mine.orgId)).toEqual(before);
  });

  it(`'${needs}' passes as Bearer, bearer and X-API-Key; an admin key passes too`, async () => {
    const only = scopeKeys.get(needs)!;
    const callers: [string, Headers][] = [
      [`'${needs}' as Bearer`, bearer(only)],
      [`'${needs}' as lower-case bearer`, { authorization: `bearer ${only}` }],
      [`'${needs}' as X-API-Key`, xApiKey(only)],
      ['admin as Bearer', bearer(h.adminKey)],
      ['admin as X-API-Key', xApiKey(h.adminKey)],
    ];
    for (const [what, headers] of callers) {
      // A fresh set of objects each time: the call may delete, cancel or rename them.
      const f = await makeFixture('default');
      const response = await call(route, f, headers);
      expect(response.statusCode, `${what}: ${response.body.slice(0, 300)}`).toBe(route.ok);
      if (route.listing)
        expect(response.body, `${what} lists the org's own objects`).toContain(route.listing(f));
    }
  });

  if (route.object && !route.crossOrg) {
    it("another org's org_admin key addressing this org's object → 404, none of its data, nothing changed", async () => {
      const f = await makeFixture('default');
      const refs = [idOf(route.object!, f)];
      if (route.object === 'workflow') refs.push(f.workflowSlug);
      for (const ref of refs) {
        const before = await snapshot(f.orgId);
        const response = await call(route, f, bearer(otherKey), { url: urlOf(route, f, ref) });
        const what = `other org → ${ref}`;
        expectError(response, 404, 'NOT_FOUND', what);
        expectNoLeak(response, f, ref, what);
        expect(await snapshot(f.orgId), what).toEqual(before);
      }
    });
  }

  if (route.crossOrg === 'action') {
    it("another org's key naming this org's workflow as the action → 404 UNKNOWN_ACTION, nothing changed", async () => {
      const f = await makeFixture('default');
      for (const ref of [f.workflowId, f.workflowSlug]) {
        const before = await snapshot(f.orgId);
        const response = await call(route, f, bearer(otherKey), { url: urlOf(route, f, ref) });
        const what = `other org → ${ref}`;
        expect(response.statusCode, what).toBe(404);
        expect(json(response), what).toMatchObject({ success: false, error: { code: 'UNKNOWN_ACTION' } });
        expectNoLeak(response, f, ref, what);
        expect(await snapshot(f.orgId), what).toEqual(before);
      }
    });
  }

  if (route.crossOrg === 'public') {
    it("another org's key installs the public listing into its own org, changing nothing of this org", async () => {
      const f = await makeFixture('default');
      const before = await snapshot(f.orgId);
      const response = await call(route, f, bearer(otherKey));
      expect(response.statusCode, response.body.slice(0, 300)).toBe(route.ok);
      const installed = json<{ id: string }>(response);
      expect(await h.stepwise.store.getWorkflow(theirs.orgId, installed.id)).not.toBeNull();
      expectNoLeak(response, f, '', 'other org installs');
      expect(await snapshot(f.orgId)).toEqual(before);
    });
  }

  if (route.bodyRefersTo) {
    it(`another org's key naming this org's ${route.bodyRefersTo} in the body → 404, nothing changed`, async () => {
      const f = await makeFixture('default');
      // The path (if any) addresses the other org's own object, so only the body crosses over.
      const own = await makeFixture('other-org');
      const before = await snapshot(f.orgId);
      const beforeOwn = await snapshot(own.orgId);
      const response = await call(route, own, bearer(otherKey), { body: f });
      const sent = idOf(route.bodyRefersTo!, f);
      expectError(response, 404, 'NOT_FOUND', `body names ${sent}`);
      expectNoLeak(response, f, sent, `body names ${sent}`);
      expect(await snapshot(f.orgId)).toEqual(before);
      expect(await snapshot(own.orgId)).toEqual(beforeOwn);
    });
  }

  if (route.listing) {
    it("another org's listing holds its own objects and none of this org's", async () => {
      const response = await call(route, theirs, bearer(otherKey));
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain(route.listing!(theirs));
      expectNoLeak(response, mine, '', 'other org listing');
    });
  }
});

describe('tenancy beyond the table', () => {
  it("GET /v1/schedules?workflowId=<this org's workflow> from another org lists nothing", async () => {
    const response = await h.app.inject({
      method: 'GET',
      url: `/v1/schedules?workflowId=${mine.workflowId}`,
      headers: bearer(otherKey),
    });
    expect(response.statusCode).toBe(200);
    expect(json<{ data: unknown[] }>(response).data).toEqual([]);
    expectNoLeak(response, mine, mine.workflowId, 'schedules by workflowId');
  });

  it("GET /v1/summary and /v1/summary/timeline count the caller org's runs only", async () => {
    const f = await makeFixture('default');
    for (const url of ['/v1/summary', '/v1/summary/timeline']) {
      const response = await h.app.inject({ method: 'GET', url, headers: bearer(otherKey) });
      expect(response.statusCode, url).toBe(200);
      expectNoLeak(response, f, '', url);
      expectNoLeak(response, mine, '', url);
    }
    const own = await h.app.inject({ method: 'GET', url: '/v1/summary', headers: bearer(h.adminKey) });
    const other = await h.app.inject({ method: 'GET', url: '/v1/summary', headers: bearer(otherKey) });
    const runsOf = async (orgId: string) =>
      (await h.stepwise.store.listRuns({ org_id: orgId, limit: 10_000, offset: 0 })).length;
    expect(json<{ total_runs: number }>(own).total_runs).toBe(await runsOf(f.orgId));
    expect(json<{ total_runs: number }>(other).total_runs).toBe(await runsOf(theirs.orgId));
  });

  it("PUT /v1/secrets/{name} from another org writes that org's own secret, never this org's", async () => {
    const f = await makeFixture('default');
    const response = await h.app.inject({
      method: 'PUT',
      url: `/v1/secrets/${f.secretName}`,
      headers: { ...bearer(otherKey), 'content-type': 'application/json' },
      payload: JSON.stringify({ value: 'written by the other org' }),
    });
    expect(response.statusCode).toBe(200);
    for (const value of [f.secretValue, f.workflowId, f.title]) expect(response.body).not.toContain(value);
    expect(await h.stepwise.secrets.resolve(f.orgId, [f.secretName])).toEqual({
      [f.secretName]: f.secretValue,
    });
    expect(await h.stepwise.secrets.resolve(theirs.orgId, [f.secretName])).toEqual({
      [f.secretName]: 'written by the other org',
    });
  });

  it('no read route returns a secret value or an API key, not even to admin', async () => {
    const created = await h.stepwise.keys.create({ orgName: 'default', scopes: ['workflows:read'] });
    for (const url of ['/v1/secrets', '/v1/admin/keys']) {
      for (const key of [h.adminKey, otherKey]) {
        const response = await h.app.inject({ method: 'GET', url, headers: bearer(key) });
        expect(response.statusCode).toBe(200);
        expect(response.body).not.toContain(mine.secretValue);
        expect(response.body).not.toContain(created.key);
        expect(response.body).not.toContain(h.adminKey);
        expect(response.body).not.toContain('key_hash');
      }
    }
  });

  it("an org admin's key listing holds its own org only; an operator's (or an older admin key's) every org", async () => {
    const orgsListedBy = async (key: string) => {
      const response = await h.app.inject({ method: 'GET', url: '/v1/admin/keys', headers: bearer(key) });
      expect(response.statusCode).toBe(200);
      return new Set(json<{ data: { org_id: string }[] }>(response).data.map((listed) => listed.org_id));
    };
    expect(await orgsListedBy(otherKey)).toEqual(new Set([theirs.orgId]));
    for (const key of [h.adminKey, scopeKeys.get('operator')!]) {
      const orgs = await orgsListedBy(key);
      expect(orgs).toContain(mine.orgId);
      expect(orgs).toContain(theirs.orgId);
    }
  });

  it('revocation takes effect at once', async () => {
    const created = await h.stepwise.keys.create({ orgName: 'default', scopes: ['workflows:read'] });
    const list = () => h.app.inject({ method: 'GET', url: '/v1/workflows', headers: xApiKey(created.key) });
    expect((await list()).statusCode).toBe(200);
    const revoke = await h.app.inject({
      method: 'DELETE',
      url: `/v1/admin/keys/${created.id}`,
      headers: bearer(h.adminKey),
    });
    expect(revoke.statusCode).toBe(200);
    expectError(await list(), 401, 'UNAUTHENTICATED', 'after revocation');
  });

  it("another org's key cannot cancel this org's run through its own workflow", async () => {
    const f = await makeFixture('default');
    const own = await makeFixture('other-org');
    const response = await h.app.inject({
      method: 'POST',
      url: `/v1/workflows/${own.workflowId}/cancel`,
      headers: { ...bearer(otherKey), 'content-type': 'application/json' },
      payload: JSON.stringify({ jobId: f.runId }),
    });
    expectError(response, 404, 'NOT_FOUND', 'cross-org jobId');
    expect((await h.stepwise.store.getRun(f.orgId, f.runId))?.status).toBe('pending');
  });
});

// Fastify answers a malformed path before routing; `frameworkErrors` gives it our error body.
describe('malformed paths get our error body too', () => {
  const expectOurError = (response: LightMyRequestResponse) => {
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expect(json(response)).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  };

  it('an id over 100 characters (the ids may have 200) → 400 { error: { code, message } }', async () => {
    const url = `/v1/workflows/${'a'.repeat(150)}`;
    expectOurError(await h.app.inject({ method: 'GET', url, headers: bearer(h.adminKey) }));
  });

  it('a percent-escape that is not UTF-8 (%ED%A0%80) → 400 { error: { code, message } }', async () => {
    const url = '/v1/workflows/%ED%A0%80';
    expectOurError(await h.app.inject({ method: 'GET', url, headers: bearer(h.adminKey) }));
  });
});
