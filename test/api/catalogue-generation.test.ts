import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolSetOf } from '../../src/domain/generation.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { waitFor, waitForRun } from '../support/stepwise-harness.js';

// Without an LLM (LLM_BASE_URL unset), generation picks from the shipped template catalogue,
// says so in `generation`, and the workflow it yields runs to completion.

type Json = Record<string, unknown>;

let h: ApiHarness;
let robots: HttpRecorder;

beforeAll(async () => {
  robots = await startHttpRecorder();
  h = await startApiHarness();
  // The robot templates call the service named by these org secrets: here, a loopback recorder.
  await h.stepwise.secrets.put(h.orgId, 'ROBOT_URL', robots.url);
  await h.stepwise.secrets.put(h.orgId, 'ROBOT_TOKEN', 'robot-token');
});
afterAll(async () => {
  await h?.close();
  await robots?.close();
});

function call(method: 'GET' | 'POST', url: string, payload?: object): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { Authorization: `Bearer ${h.adminKey}` };
  if (payload === undefined) return h.app.inject({ method, url, headers });
  return h.app.inject({ method, url, headers: { ...headers, 'Content-Type': 'application/json' }, payload });
}

async function settled(id: string): Promise<Json> {
  let workflow: Json = {};
  await waitFor(async () => {
    workflow = json(await call('GET', `/api/v1/workflows/${id}`));
    return workflow.status !== 'generating';
  });
  return workflow;
}

async function generate(title: string, description: string): Promise<Json> {
  const response = await call('POST', '/api/v1/workflows', {
    title,
    description,
    generate_immediately: true,
  });
  expect(response.statusCode).toBe(201);
  expect(json(response)).toMatchObject({ status: 'generating', generation: { planner: 'catalogue' } });
  return settled(String(json(response).id));
}

async function execute(id: string, context: Json) {
  const started = await call('POST', `/api/v1/workflows/${id}/execute`, { context });
  expect(started.statusCode).toBe(202);
  return waitForRun(h.stepwise, String(json(started).execution_id));
}

describe('AI generation without an LLM: the catalogue planner', () => {
  it('copies the best-matching template, says so, and the workflow runs to completion', async () => {
    const done = await generate(
      'Stop the browser robot',
      'End the robot session and collect its final report',
    );
    expect(done).toMatchObject({
      status: 'active',
      version: 2,
      generation: {
        state: 'succeeded',
        planner: 'catalogue',
        template_id: 'tpl_stopRobot',
        note: expect.stringContaining('No LLM is configured (LLM_BASE_URL is unset)'),
      },
    });
    const stored = await h.stepwise.workflows.get(h.orgId, String(done.id));
    expect(stored.credit_cost).toBe(1);
    expect(stored.metadata).toMatchObject({ inputs: { robot_id: expect.any(Object) } });

    const run = await execute(String(done.id), { site_id: 'site_1', robot_id: 'r42' });
    expect(run.status, JSON.stringify(run.error)).toBe('completed');
    expect(run.output).toMatchObject({ robot_id: 'r42', stopped: true });
    expect(robots.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: '/robots/r42/stop',
      headers: { authorization: 'Bearer robot-token' },
    });
  });

  it('when nothing matches: a minimal placeholder, said plainly, that runs', async () => {
    const done = await generate('Zyxw qwrtp', 'Vbnm plkj');
    expect(done).toMatchObject({
      status: 'active',
      generation: {
        planner: 'catalogue',
        note: expect.stringMatching(/no catalogue template matched.*placeholder/),
      },
    });
    expect(done.generation).not.toHaveProperty('template_id');
    expect(await execute(String(done.id), { any: 'thing' })).toMatchObject({ status: 'completed' });
  });

  it('regenerate-steps with force_different_tools picks steps with a different tool set', async () => {
    const first = await generate('Stop the browser robot', 'End the robot session');
    const before = toolSetOf(first.steps as { tool: string }[]);
    const response = await call('POST', `/api/v1/workflows/${String(first.id)}/regenerate-steps`, {
      force_different_tools: true,
    });
    expect(response.statusCode).toBe(202);
    const done = await settled(String(first.id));
    expect(done).toMatchObject({ status: 'active', version: 3 });
    expect(toolSetOf(done.steps as { tool: string }[])).not.toEqual(before);
    expect((done.generation as Json).template_id).not.toBe('tpl_stopRobot');
  });

  it('from-todo matches on the todo', async () => {
    const response = await call('POST', '/api/v1/workflows/from-todo', {
      todo_id: 'todo_9',
      todo_title: 'Qualify the new inbound leads',
      todo_description: null,
    });
    expect(response.statusCode).toBe(201);
    const done = await settled(String(json(response).id));
    expect(done).toMatchObject({ status: 'active', generation: { template_id: 'tpl_leadQualification' } });
  });
});
