import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stepwise } from '../../src/app/stepwise.js';
import { startHarness, type Harness } from '../support/stepwise-harness.js';
import { connectInMemory, rpcError, textJson } from './mcp-client.js';

const slow = [{ id: 'wait', tool: 'delay', params: { duration: '1h' } }];

let harness: Harness;
let stepwise: Stepwise;

beforeAll(async () => {
  harness = await startHarness({
    worker: false,
    env: {
      STEPWISE_PLANS: JSON.stringify({
        tiny: {
          max_concurrent_runs: 1,
          monthly_credits: 100,
          workflows: { max_credit_cost: 10 },
          rate_limits: null,
        },
        poor: { max_concurrent_runs: 100, monthly_credits: 5, workflows: 'all', rate_limits: null },
        metered: {
          max_concurrent_runs: 1000,
          monthly_credits: 0,
          workflows: 'all',
          rate_limits: { mutating_per_minute: 10, read_per_minute: 1000 },
        },
      }),
    },
  });
  stepwise = harness.stepwise;
});

afterAll(async () => {
  await harness?.close();
});

async function orgOn(plan: string, name: string) {
  const key = await stepwise.keys.create({ orgName: name, scopes: ['admin'], plan });
  return { key, client: await connectInMemory(stepwise, key.key) };
}

describe("document 003's pre-flight checks, each a -32000", () => {
  it('1. the workflow exists', async () => {
    const { client } = await orgOn('tiny', 'exists');
    const error = await rpcError(
      client.callTool({ name: 'run_workflow', arguments: { workflowId: 'ghost' } }),
    );
    expect([error.code, (error.data as { code: string }).code]).toEqual([-32000, 'NOT_FOUND']);
    await client.close();
  });

  it('2. the plan gives access to it', async () => {
    const { key, client } = await orgOn('tiny', 'access');
    await stepwise.workflows.create(key.org_id, {
      title: 'Pricey',
      slug: 'pricey',
      credit_cost: 11,
      steps: slow,
    });
    const error = await rpcError(
      client.callTool({ name: 'run_workflow', arguments: { workflowId: 'pricey' } }),
    );
    expect([error.code, (error.data as { status: number }).status]).toEqual([-32000, 403]);
    expect(error.message).toContain("'tiny' plan");
    await client.close();
  });

  it('3. the concurrent run limit is not reached', async () => {
    const { key, client } = await orgOn('tiny', 'concurrency');
    await stepwise.workflows.create(key.org_id, { title: 'Slow', slug: 'slow', credit_cost: 1, steps: slow });
    await client.callTool({ name: 'run_workflow', arguments: { workflowId: 'slow' } });
    const error = await rpcError(
      client.callTool({ name: 'run_workflow', arguments: { workflowId: 'slow' } }),
    );
    expect([error.code, (error.data as { status: number }).status]).toEqual([-32000, 429]);
    await client.close();
  });

  it('4. the credit balance covers it', async () => {
    const { key, client } = await orgOn('poor', 'credits');
    await stepwise.workflows.create(key.org_id, { title: 'Ten', slug: 'ten', credit_cost: 10, steps: slow });
    const error = await rpcError(client.callTool({ name: 'run_workflow', arguments: { workflowId: 'ten' } }));
    expect([error.code, (error.data as { status: number }).status]).toEqual([-32000, 402]);
    await client.close();
  });
});

describe('get_credits', () => {
  it('shows the balance and plan the checks use, and follows a paid run', async () => {
    const { key, client } = await orgOn('tiny', 'balance');
    const before = await client.callTool({ name: 'get_credits', arguments: {} });
    expect(before.structuredContent).toEqual(textJson(before));
    expect(textJson(before)).toEqual({
      balance: 100,
      renewsAt: expect.stringMatching(/^\d{4}-\d{2}-01T00:00:00\.000Z$/),
      plan: {
        name: 'tiny',
        maxConcurrentRuns: 1,
        monthlyCredits: 100,
        workflows: { maxCreditCost: 10 },
        rateLimits: null,
        maxMcpSessions: 10,
        maxGeneratingWorkflows: 2,
      },
      recentEntries: [
        expect.objectContaining({ kind: 'grant', amount: 100, runId: null, createdAt: expect.any(String) }),
      ],
    });
    await stepwise.workflows.create(key.org_id, {
      title: 'Paid',
      slug: 'paid',
      credit_cost: 10,
      steps: slow,
    });
    const run = textJson(await client.callTool({ name: 'run_workflow', arguments: { workflowId: 'paid' } }));
    const after = textJson(await client.callTool({ name: 'get_credits' }));
    expect(after.balance).toBe(90);
    expect((after.recentEntries as unknown[])[0]).toMatchObject({
      kind: 'reserve',
      amount: -10,
      runId: run.runId,
    });
    await client.close();
  });

  it("needs 'workflows:read': -32000 naming it", async () => {
    const key = await stepwise.keys.create({
      orgName: 'events-only',
      scopes: ['events:write'],
      plan: 'tiny',
    });
    const client = await connectInMemory(stepwise, key.key);
    const error = await rpcError(client.callTool({ name: 'get_credits', arguments: {} }));
    expect([error.code, (error.data as { code: string }).code]).toEqual([-32000, 'MISSING_SCOPE']);
    expect(error.message).toContain("'workflows:read'");
    await client.close();
  });
});

describe('rate limits', () => {
  it('refuses the 11th mutating call in a minute with -32000; reads go on', async () => {
    // Windows are fixed minutes: start well inside one so all 11 calls share it.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_500 - intoMinute));
    const { key, client } = await orgOn('metered', 'metered');
    await stepwise.workflows.create(key.org_id, { title: 'Free', slug: 'free', steps: slow });
    for (let i = 1; i <= 10; i += 1) {
      const result = await client.callTool({ name: 'run_workflow', arguments: { workflowId: 'free' } });
      expect(textJson(result).status, `call ${i}`).toBe('pending');
    }
    const error = await rpcError(
      client.callTool({ name: 'run_workflow', arguments: { workflowId: 'free' } }),
    );
    expect(error.code).toBe(-32000);
    expect(error.data).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect((error.data as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
    expect(error.message).toContain('10 mutating calls');
    // The read budget is separate and looser.
    const listed = await client.callTool({ name: 'list_runs', arguments: { workflowId: 'free' } });
    expect((textJson(listed).runs as unknown[]).length).toBe(10);
    const credits = await client.callTool({ name: 'get_credits', arguments: {} });
    expect(textJson(credits).plan).toMatchObject({
      rateLimits: { mutatingPerMinute: 10, readPerMinute: 1000 },
    });
    await client.close();
  }, 90_000);
});
