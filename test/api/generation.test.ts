import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDefaultToolRegistry } from '../../src/tools/registry.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { startOpenAiStub, type OpenAiStub, type StubChatRequest } from '../support/openai-stub.js';
import { waitFor, waitForRun } from '../support/stepwise-harness.js';

// Document 004's AI generation against an OpenAI-compatible stub on loopback: generate on
// create, repair of invalid answers, permanent failure, regenerate (with and without
// force_different_tools), from-todo. Without an LLM: test/api/catalogue-generation.test.ts.

type Json = Record<string, unknown>;
type Step = { id: string; tool: string; params: Json };

let h: ApiHarness;
let llm: OpenAiStub;

beforeAll(async () => {
  llm = await startOpenAiStub();
  h = await startApiHarness({ env: { LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'stub-model' } });
});
afterAll(async () => {
  await h?.close();
  await llm?.close();
});
beforeEach(() => {
  llm.requests.length = 0;
  llm.defaultReply = 'ok';
});

function call(
  method: 'GET' | 'POST' | 'PUT',
  url: string,
  payload?: object,
): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { Authorization: `Bearer ${h.adminKey}` };
  if (payload === undefined) return h.app.inject({ method, url, headers });
  return h.app.inject({ method, url, headers: { ...headers, 'Content-Type': 'application/json' }, payload });
}

const answer = (...steps: Step[]): string => JSON.stringify({ steps });
const logStep = (id: string): Step => ({ id, tool: 'log', params: { message: `${id}: {{ input }}` } });
const transformStep = (id: string): Step => ({
  id,
  tool: 'transform',
  params: { expression: '$count($keys($))', data: '{{ input }}' },
});

/** Polls the workflow until it is no longer generating. */
async function settled(id: string): Promise<Json> {
  let workflow: Json = {};
  await waitFor(
    async () => {
      workflow = json(await call('GET', `/api/v1/workflows/${id}`));
      return workflow.status !== 'generating';
    },
    15_000,
    `workflow ${id} to finish generating`,
  );
  return workflow;
}

async function createGenerating(title: string, description = ''): Promise<Json> {
  const response = await call('POST', '/api/v1/workflows', {
    title,
    description,
    generate_immediately: true,
  });
  expect(response.statusCode).toBe(201);
  return json(response);
}

const lastMessage = (request: StubChatRequest): string => request.body.messages!.at(-1)!.content;

describe('AI generation with an LLM (OpenAI-compatible stub)', () => {
  it('generate_immediately: 201 generating at once, then active with the steps as version 2', async () => {
    const steps = [
      { id: 'fetch', tool: 'http', params: { method: 'GET', url: 'https://example.com/inbox' } },
      { id: 'summarise', tool: 'llm', params: { prompt: 'Summarise: {{ steps.fetch.output.body }}' } },
    ];
    llm.reply(JSON.stringify({ steps }));
    const created = await createGenerating('Daily Email Summary', 'Summarize important emails every morning');
    expect(created).toMatchObject({
      status: 'generating',
      steps: [],
      version: 1,
      generation: { state: 'pending', planner: 'llm', attempts: 0, error: null, finished_at: null },
    });

    const done = await settled(String(created.id));
    expect(done).toMatchObject({
      status: 'active',
      version: 2,
      steps: steps.map((step) => expect.objectContaining(step)),
      generation: { state: 'succeeded', planner: 'llm', model: 'stub-model', attempts: 1, error: null },
    });
    expect((done.generation as Json).finished_at).toEqual(expect.any(String));

    expect(llm.requests).toHaveLength(1);
    const { body } = llm.requests[0]!;
    expect(body.model).toBe('stub-model');
    const format = body.response_format as {
      type: string;
      json_schema: { schema: { properties: { steps: { items: { anyOf: { properties: Json }[] } } } } };
    };
    expect(format.type).toBe('json_schema');
    const branches = format.json_schema.schema.properties.steps.items.anyOf;
    const toolEnum = branches.flatMap((branch) => (branch.properties.tool as { enum: string[] }).enum);
    expect(toolEnum.sort()).toEqual(
      createDefaultToolRegistry()
        .list()
        .map((tool) => tool.name)
        .sort(),
    );
    expect(body.messages![0]!.content).toContain('wait_for_event');
    expect(lastMessage(llm.requests[0]!)).toContain('Summarize important emails every morning');

    // The same generation on the /v1 dialect; the runs start from the new version.
    const v1 = json(await call('GET', `/v1/workflows/${String(created.id)}`));
    expect(v1).toMatchObject({ version: 2, generation: { state: 'succeeded' } });
  });

  it('repairs invalid answers: not JSON, then an unknown tool, then valid → active, 3 attempts', async () => {
    llm.reply(
      'Sure! Here are your steps: step one, fetch…',
      answer({ id: 'beam', tool: 'teleport', params: {} }),
      answer(logStep('note')),
    );
    const created = await createGenerating('Note things');
    const done = await settled(String(created.id));
    expect(done).toMatchObject({
      status: 'active',
      steps: [expect.objectContaining(logStep('note'))],
      generation: { state: 'succeeded', attempts: 3 },
    });
    expect(llm.requests).toHaveLength(3);
    expect(lastMessage(llm.requests[1]!)).toContain('not valid JSON');
    const repair = lastMessage(llm.requests[2]!);
    expect(repair).toContain("steps.0.tool: unknown tool 'teleport'");
    // The model sees its own wrong answer before the errors.
    expect(llm.requests[2]!.body.messages!.at(-2)).toMatchObject({ role: 'assistant' });
  });

  it('repairs params that break the tool schema, leaving {{ templates }} for run time', async () => {
    llm.reply(
      answer({ id: 'say', tool: 'log', params: { level: 'loud' } }),
      answer({ id: 'say', tool: 'log', params: { message: '{{ input.text }}', level: 'warn' } }),
    );
    const done = await settled(String((await createGenerating('Say it')).id));
    expect(done).toMatchObject({ status: 'active', generation: { attempts: 2 } });
    const repair = lastMessage(llm.requests[1]!);
    expect(repair).toContain('steps.0.params.message');
    expect(repair).toContain('steps.0.params.level');
  });

  it('an answer that stays invalid → failed, the reason naming the last error; the workflow cannot run', async () => {
    llm.defaultReply = answer();
    const created = await createGenerating('Never right');
    const done = await settled(String(created.id));
    expect(done.status).toBe('failed');
    expect(done.generation).toMatchObject({ state: 'failed', attempts: 3 });
    expect(String((done.generation as Json).error)).toMatch(
      /still invalid after 2 repair requests: steps: give between 1 and 20 steps \(got 0\)/,
    );
    const run = await call('POST', `/api/v1/workflows/${String(created.id)}/execute`, {});
    expect(run.statusCode).toBe(409);
    expect(json(run)).toMatchObject({ error: { code: 'WORKFLOW_NOT_RUNNABLE' } });
  });

  it('a provider that keeps failing → retried with backoff, then failed naming the provider error', async () => {
    llm.defaultReply = { status: 500, error: 'model overloaded' };
    const done = await settled(String((await createGenerating('Overloaded')).id));
    expect(done.status).toBe('failed');
    expect(String((done.generation as Json).error)).toBe(
      'the LLM provider failed (after 3 tries): the LLM provider answered 500: model overloaded',
    );
    expect(llm.requests).toHaveLength(3);
  });

  it('a refused request (4xx) is not retried', async () => {
    llm.defaultReply = { status: 401, error: 'bad api key' };
    const done = await settled(String((await createGenerating('Unauthorised')).id));
    expect(String((done.generation as Json).error)).toBe(
      'the LLM provider failed: the LLM provider answered 401: bad api key',
    );
    expect(llm.requests).toHaveLength(1);
  });

  it('regenerate-steps: 202 generating, 409 while under way, then new steps as a new version', async () => {
    const created = json(
      await call('POST', '/api/v1/workflows', { title: 'Greeter', steps: [logStep('hello')] }),
    );
    const id = String(created.id);
    llm.reply({ content: answer(logStep('hello'), transformStep('count')), delayMs: 300 });
    const response = await call('POST', `/api/v1/workflows/${id}/regenerate-steps`, {
      reason: 'Need different approach',
    });
    expect(response.statusCode).toBe(202);
    expect(json(response)).toMatchObject({
      status: 'generating',
      version: 1,
      generation: {
        state: 'pending',
        request: { reason: 'Need different approach', previous_tools: ['log'] },
      },
    });
    const again = await call('POST', `/api/v1/workflows/${id}/regenerate-steps`, {});
    expect(again.statusCode).toBe(409);
    expect(json(again)).toMatchObject({ error: { code: 'GENERATION_IN_PROGRESS' } });
    const edit = await call('PUT', `/api/v1/workflows/${id}`, { title: 'Edited meanwhile' });
    expect(edit.statusCode).toBe(409);

    const done = await settled(id);
    expect(done).toMatchObject({ status: 'active', version: 2, title: 'Greeter' });
    expect((done.steps as Step[]).map((step) => step.tool)).toEqual(['log', 'transform']);
    const request = lastMessage(llm.requests[0]!);
    expect(request).toContain('Need different approach');
    expect(request).not.toContain('different set of tools');
  });

  it('regenerate-steps with force_different_tools: a same-tool answer is repaired; the new tool set differs', async () => {
    const created = json(
      await call('POST', '/api/v1/workflows', { title: 'Logger', steps: [logStep('one'), logStep('two')] }),
    );
    const id = String(created.id);
    llm.reply(answer(logStep('three')), answer(transformStep('shape'), logStep('three')));
    const response = await call('POST', `/api/v1/workflows/${id}/regenerate-steps`, {
      reason: 'Need different approach',
      force_different_tools: true,
    });
    expect(response.statusCode).toBe(202);
    const done = await settled(id);
    expect(done).toMatchObject({ status: 'active', version: 2, generation: { attempts: 2 } });
    expect((done.steps as Step[]).map((step) => step.tool).sort()).toEqual(['log', 'transform']);
    expect(lastMessage(llm.requests[0]!)).toMatch(/different set of tools[\s\S]*these tools: log/);
    expect(lastMessage(llm.requests[1]!)).toContain('the steps use the same tools as before (log)');
  });

  it('regenerate-steps of a missing workflow → 404', async () => {
    const response = await call('POST', '/api/v1/workflows/wf_missing/regenerate-steps', {});
    expect(response.statusCode).toBe(404);
  });

  it('from-todo: 201 generating, titled after the todo, the todo kept; then active', async () => {
    llm.reply(answer(logStep('plan')));
    const response = await call('POST', '/api/v1/workflows/from-todo', {
      todo_id: 'todo_123',
      todo_title: 'Plan team offsite',
      todo_description: 'Organize company retreat for 50 people',
    });
    expect(response.statusCode).toBe(201);
    const created = json(response);
    expect(created).toMatchObject({
      title: 'Plan team offsite',
      description: 'Organize company retreat for 50 people',
      status: 'generating',
      generation: {
        request: {
          todo: {
            id: 'todo_123',
            title: 'Plan team offsite',
            description: 'Organize company retreat for 50 people',
          },
        },
      },
    });
    const done = await settled(String(created.id));
    expect(done).toMatchObject({ status: 'active', steps: [expect.objectContaining({ id: 'plan' })] });
    expect(lastMessage(llm.requests[0]!)).toContain('todo_123');
    const workflow = await h.stepwise.workflows.get(h.orgId, String(created.id));
    expect(workflow.metadata).toMatchObject({ todo_id: 'todo_123' });
  });

  it('a generated workflow runs', async () => {
    llm.reply(answer(transformStep('count'), logStep('say')));
    const created = await createGenerating('Count fields');
    await settled(String(created.id));
    const started = await call('POST', `/api/v1/workflows/${String(created.id)}/execute`, {
      context: { a: 1, b: 2 },
    });
    expect(started.statusCode).toBe(202);
    const run = await waitForRun(h.stepwise, String(json(started).execution_id));
    expect(run).toMatchObject({ status: 'completed', workflow_version: 2 });
  });
});
