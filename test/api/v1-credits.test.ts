import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';

// GET /v1/credits: an ordinary key reads its own org's plan and balance, never another's.
let h: ApiHarness;
let reader: string;
let writer: string;
let theirs: string;
let orgId: string;

interface Account {
  org_id: string;
  plan: {
    name: string;
    max_concurrent_runs: number | null;
    monthly_credits: number;
    workflows: unknown;
    rate_limits: unknown;
  };
  balance: number;
  renews_at: string | null;
  entries: { kind: string; amount: number; run_id: string | null; created_at: string }[];
}

const get = (url: string, key: string) => h.app.inject({ method: 'GET', url, headers: { 'X-API-Key': key } });
const account = async (key: string, query = ''): Promise<Account> => {
  const response = await get(`/v1/credits${query}`, key);
  expect(response.statusCode, response.body).toBe(200);
  return json<Account>(response);
};

beforeAll(async () => {
  h = await startApiHarness({
    worker: false,
    env: {
      STEPWISE_PLANS: JSON.stringify({
        tiny: {
          max_concurrent_runs: 2,
          monthly_credits: 30,
          workflows: { max_credit_cost: 10 },
          rate_limits: null,
        },
        metered: { max_concurrent_runs: 50, monthly_credits: 0, workflows: 'all', rate_limits: null },
      }),
    },
  });
  reader = await h.key(['workflows:read'], 'credits-mine', 'tiny');
  writer = await h.key(['workflows:write'], 'credits-mine');
  theirs = await h.key(['workflows:read'], 'credits-theirs', 'metered');
  orgId = (await h.stepwise.store.getOrgByName('credits-mine'))!.id;
});
afterAll(async () => {
  await h?.close();
});

describe('GET /v1/credits', () => {
  it("shows a workflows:read key its org's plan, balance, next top-up and ledger", async () => {
    const mine = await account(reader);
    expect(mine).toMatchObject({
      org_id: orgId,
      plan: {
        name: 'tiny',
        max_concurrent_runs: 2,
        monthly_credits: 30,
        workflows: { max_credit_cost: 10 },
        rate_limits: null,
      },
      balance: 30,
      entries: [{ kind: 'grant', amount: 30, run_id: null }],
    });
    // The 1st of a month, 00:00 UTC, within the next month, written as every /v1 time is.
    expect(mine.renews_at).toMatch(/^\d{4}-\d{2}-01T00:00:00\.000Z$/);
    const renewsAt = Date.parse(mine.renews_at!);
    expect(renewsAt).toBeGreaterThan(Date.now());
    expect(renewsAt - Date.now()).toBeLessThanOrEqual(31 * 86_400_000);
    expect(Date.parse(mine.entries[0]!.created_at)).toBeLessThanOrEqual(Date.now());
    const admin = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/orgs/${orgId}/credits`,
      headers: { authorization: `Bearer ${h.adminKey}` },
    });
    expect(json<Account>(admin)).toMatchObject({ balance: 30, renews_at: mine.renews_at });
  });

  it("shows another org's key its own account, not this one's, whatever the query names", async () => {
    const other = await account(theirs, `?org_id=${orgId}&org=credits-mine`);
    expect(other.org_id).not.toBe(orgId);
    expect(other).toMatchObject({
      plan: { name: 'metered', max_concurrent_runs: 50, monthly_credits: 0, workflows: 'all' },
      balance: 0,
      // No allowance: nothing to top up to.
      renews_at: null,
      entries: [],
    });
  });

  it('follows a paid run: reserved when it starts, given back when it is cancelled', async () => {
    const headers = { 'X-API-Key': writer };
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers,
      payload: {
        title: 'Paid',
        creditCost: 10,
        steps: [{ id: 'wait', tool: 'delay', params: { duration: '1h' } }],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const workflowId = json<{ id: string }>(created).id;
    const started = await h.app.inject({ method: 'POST', url: `/v1/workflows/${workflowId}/run`, headers });
    expect(started.statusCode, started.body).toBe(201);
    const { jobId } = json<{ jobId: string }>(started);

    const reserved = await account(reader);
    expect(reserved.balance).toBe(20);
    expect(reserved.entries[0]).toMatchObject({ kind: 'reserve', amount: -10, run_id: jobId });

    const cancelled = await h.app.inject({
      method: 'POST',
      url: `/v1/workflows/${workflowId}/cancel`,
      headers,
      payload: { jobId },
    });
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    const released = await account(reader, '?limit=1');
    expect(released.balance).toBe(30);
    expect(released.entries).toEqual([
      expect.objectContaining({ kind: 'release', amount: 10, run_id: jobId }),
    ]);
    const older = await account(reader, '?limit=1&offset=1');
    expect(older.entries).toEqual([expect.objectContaining({ kind: 'reserve', run_id: jobId })]);
  });

  it("refuses a key without 'workflows:read' with 403 naming it, and bad paging with 400", async () => {
    const response = await get('/v1/credits', writer);
    expect(response.statusCode).toBe(403);
    expect(json<{ error: { code: string; message: string } }>(response).error).toMatchObject({
      code: 'MISSING_SCOPE',
      message: expect.stringContaining("'workflows:read'"),
    });
    expect(response.body).not.toContain('balance');
    expect((await get('/v1/credits?limit=0', reader)).statusCode).toBe(400);
  });

  it('is documented in /openapi.json with its paging query', async () => {
    const spec = json<{ paths: Record<string, { get?: { parameters?: { name: string }[] } }> }>(
      await h.app.inject({ method: 'GET', url: '/openapi.json' }),
    );
    const names = spec.paths['/v1/credits']?.get?.parameters?.map((p) => p.name);
    expect(names).toEqual(['limit', 'offset']);
  });
});
