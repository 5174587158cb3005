import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { waitFor } from '../support/stepwise-harness.js';

// Workflows generating their steps are counted per org against the plan's
// `max_generating_workflows`: a full org gets 429 GENERATION_LIMIT with Retry-After and nothing
// is written, while other orgs keep generating. No worker runs at first, so requests stay queued.

const CAP = 2;

let h: ApiHarness;
let busy: string;
let quiet: string;

beforeAll(async () => {
  h = await startApiHarness({
    worker: false,
    env: {
      STEPWISE_PLANS: JSON.stringify({ studio: { max_generating_workflows: CAP, rate_limits: null } }),
    },
  });
  busy = await h.key(['workflows:read', 'workflows:write'], 'busy', 'studio');
  quiet = await h.key(['workflows:read', 'workflows:write'], 'quiet', 'studio');
});
afterAll(async () => {
  await h?.close();
});

function post(key: string, url: string, payload: object): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    payload,
  });
}

const generate = (key: string, title: string) =>
  post(key, '/api/v1/workflows', {
    title,
    description: 'Summarize important emails every morning',
    generate_immediately: true,
  });

async function workflowsOf(org: string): Promise<{ id: string; status: string }[]> {
  const orgId = (await h.stepwise.store.getOrgByName(org))!.id;
  return h.stepwise.store.listWorkflows(orgId, { limit: 1000, offset: 0 });
}

function expectGenerationLimit(response: LightMyRequestResponse): void {
  expect(response.statusCode, response.body).toBe(429);
  expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
  const { error } = json<{ error: { code: string; message: string } }>(response);
  expect(error.code).toBe('GENERATION_LIMIT');
  expect(error.message).toContain(`the most the 'studio' plan allows at once (${CAP})`);
}

describe('generations in flight per org', () => {
  it('an org at its cap gets 429 GENERATION_LIMIT on create, from-todo and regenerate, and nothing changes', async () => {
    for (let i = 0; i < CAP; i += 1) expect((await generate(busy, `Queued ${i}`)).statusCode).toBe(201);
    const plain = await post(busy, '/api/v1/workflows', {
      title: 'Written by hand',
      steps: [{ id: 'say', tool: 'log', params: { message: 'hi' } }],
    });
    // Workflows with their steps given are not generations: the cap does not touch them.
    expect(plain.statusCode).toBe(201);
    const before = await workflowsOf('busy');

    expectGenerationLimit(await generate(busy, 'One too many'));
    expectGenerationLimit(
      await post(busy, '/api/v1/workflows/from-todo', {
        todo_id: 't1',
        todo_title: 'Plan the week',
        todo_description: null,
      }),
    );
    expectGenerationLimit(
      await post(busy, `/api/v1/workflows/${json<{ id: string }>(plain).id}/regenerate-steps`, {
        reason: 'try again',
      }),
    );
    expect(await workflowsOf('busy')).toEqual(before);
  });

  it('another org keeps generating while the first is full', async () => {
    const response = await generate(quiet, 'Meanwhile elsewhere');
    expect(response.statusCode, response.body).toBe(201);
    expect(json(response)).toMatchObject({ status: 'generating' });
  });

  it('once its generations end, the full org may ask again', async () => {
    await h.stepwise.startWorker();
    await waitFor(
      async () => (await workflowsOf('busy')).every((workflow) => workflow.status !== 'generating'),
      15_000,
      "busy's generations to end",
    );
    expect((await generate(busy, 'Room again')).statusCode).toBe(201);
  });
});
