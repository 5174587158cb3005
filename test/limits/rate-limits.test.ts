import { afterAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { startHarness } from '../support/stepwise-harness.js';

/** A clock tests move by hand; starts 10 s into a minute. */
const manualClock = () => {
  let now = Date.UTC(2025, 5, 2, 9, 0, 10);
  return { now: () => now, advance: (ms: number) => void (now += ms) };
};

const workflow = { title: 'Hello', steps: [{ id: 'one', tool: 'log', params: { message: 'hi' } }] };

describe('REST rate limits with the default plan', () => {
  const clock = manualClock();
  let api: ApiHarness;
  afterAll(() => api?.close());

  it('refuses the 11th mutating call in a minute with 429, Retry-After and RateLimit-* headers', async () => {
    api = await startApiHarness({ plan: 'free', clock, worker: false });
    const key = await api.key(['workflows:write', 'workflows:read'], 'acme');
    const headers = { 'x-api-key': key };
    const post = () => api.app.inject({ method: 'POST', url: '/v1/workflows', headers, payload: workflow });
    for (let i = 1; i <= 10; i += 1) {
      const response = await post();
      expect(response.statusCode).toBe(201);
      expect(response.headers['ratelimit-limit']).toBe('10');
      expect(response.headers['ratelimit-remaining']).toBe(String(10 - i));
      expect(response.headers['ratelimit-reset']).toBe('50');
    }
    const refused = await post();
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.code).toBe('RATE_LIMITED');
    expect(refused.json().error.message).toMatch(/more than 10 mutating calls this minute/);
    expect(refused.headers['retry-after']).toBe('50');
    expect(refused.headers['ratelimit-remaining']).toBe('0');

    // Reads have their own budget.
    const read = await api.app.inject({ method: 'GET', url: '/v1/workflows', headers });
    expect(read.statusCode).toBe(200);
    expect(read.headers['ratelimit-limit']).toBe('120');
    expect(read.headers['ratelimit-remaining']).toBe('119');

    // Another key of the same org has its own counters.
    const other = await api.key(['workflows:write'], 'acme');
    const fresh = await api.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'x-api-key': other },
      payload: workflow,
    });
    expect(fresh.statusCode).toBe(201);

    // The next minute starts a new window.
    clock.advance(50_000);
    expect((await post()).statusCode).toBe(201);
  });

  it('exhausts the read budget separately', async () => {
    const key = await api.key(['workflows:read'], 'readers');
    const headers = { 'x-api-key': key };
    for (let i = 0; i < 120; i += 1) {
      expect((await api.app.inject({ method: 'GET', url: '/v1/workflows', headers })).statusCode).toBe(200);
    }
    const refused = await api.app.inject({ method: 'GET', url: '/v1/workflows', headers });
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('does not limit the unlimited plan, and the admin credit routes work', async () => {
    const admin = { 'x-api-key': api.adminKey };
    const org = await api.stepwise.store.getOrgByName('acme');
    const granted = await api.app.inject({
      method: 'POST',
      url: `/v1/admin/orgs/${org!.id}/credits`,
      headers: admin,
      payload: { amount: 40, reason: 'pilot' },
    });
    expect(granted.statusCode).toBe(201);
    expect(granted.json()).toEqual({ org_id: org!.id, granted: 40, balance: 140 });
    const statement = await api.app.inject({
      method: 'GET',
      url: `/v1/admin/orgs/acme/credits`,
      headers: admin,
    });
    expect(statement.statusCode).toBe(200);
    expect(statement.json()).toMatchObject({ org: 'acme', plan: 'free', balance: 140 });
    expect(statement.json().entries.map((e: { kind: string }) => e.kind)).toEqual(['grant', 'grant']);
    const bad = await api.app.inject({
      method: 'POST',
      url: `/v1/admin/orgs/${org!.id}/credits`,
      headers: admin,
      payload: { amount: -5 },
    });
    expect(bad.statusCode).toBe(400);
    const notAdmin = await api.key(['workflows:read'], 'acme');
    const forbidden = await api.app.inject({
      method: 'GET',
      url: `/v1/admin/orgs/${org!.id}/credits`,
      headers: { 'x-api-key': notAdmin },
    });
    expect(forbidden.statusCode).toBe(403);
  });
});

it.skipIf(!testDatabaseUrl)(
  'two Stepwise instances on one PostgreSQL share the rate limits',
  async () => {
    const database = await createTestDatabase();
    const clock = manualClock();
    const one = await startHarness({ databaseUrl: database.url, worker: false, plan: 'free', clock });
    const two = await startHarness({ databaseUrl: database.url, worker: false, plan: 'free', clock });
    const [appOne, appTwo] = await Promise.all([buildServer(one.stepwise), buildServer(two.stepwise)]);
    try {
      const { key } = await one.stepwise.keys.create({ orgName: 'acme', scopes: ['workflows:write'] });
      const headers = { 'x-api-key': key };
      const statuses = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          (i % 2 === 0 ? appOne : appTwo)
            .inject({ method: 'POST', url: '/v1/workflows', headers, payload: workflow })
            .then((r) => r.statusCode),
        ),
      );
      expect(statuses.filter((s) => s === 201)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(6);
    } finally {
      await appOne.close();
      await appTwo.close();
      await one.close();
      await two.close();
      await database.drop();
    }
  },
  60_000,
);
