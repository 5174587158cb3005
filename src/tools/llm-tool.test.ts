import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAiStub } from '../../test/support/openai-stub.js';
import type { OpenAiStub } from '../../test/support/openai-stub.js';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { llmTool } from './llm-tool.js';

describe('llm tool', () => {
  let stub: OpenAiStub;
  beforeAll(async () => {
    stub = await startOpenAiStub();
  });
  beforeEach(() => {
    stub.requests.length = 0;
  });
  afterAll(() => stub.close());

  const context = () =>
    createToolContext({
      settings: { llm: { baseUrl: stub.baseUrl, apiKey: 'sk-test', model: 'stub-model' } },
    });

  it('sends the prompt after the system message and outputs text, usage and model', async () => {
    stub.reply('Paris');
    const outcome = await runTool(
      llmTool,
      { prompt: 'Capital of France?', system: 'Be brief.', temperature: 0 },
      context(),
    );
    expect(outcome).toEqual({
      kind: 'done',
      output: {
        text: 'Paris',
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
        model: 'stub-model',
      },
    });
    expect(stub.requests[0]!.body).toMatchObject({
      model: 'stub-model',
      temperature: 0,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Capital of France?' },
      ],
    });
  });

  it('passes messages and a model override through', async () => {
    const messages = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'bye' },
    ];
    await runTool(llmTool, { messages, model: 'other-model', max_tokens: 10 }, context());
    expect(stub.requests[0]!.body).toMatchObject({ model: 'other-model', messages, max_tokens: 10 });
  });

  it('parses the reply into json in JSON mode, asking for JSON when the prompt does not', async () => {
    stub.reply('{"sentiment":"positive","score":0.9}');
    const outcome = await runTool(llmTool, { prompt: 'Rate: "great product"', json: true }, context());
    expect(outcome).toMatchObject({
      output: { text: '{"sentiment":"positive","score":0.9}', json: { sentiment: 'positive', score: 0.9 } },
    });
    const body = stub.requests[0]!.body;
    expect(body.response_format).toEqual({ type: 'json_object' });
    expect(body.messages![0]).toEqual({
      role: 'system',
      content: 'Reply with one valid JSON value and nothing else.',
    });
  });

  it('sends json_schema as a structured-output format', async () => {
    const schema = { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] };
    stub.reply('{"n":3}');
    expect(
      await runTool(llmTool, { prompt: 'Give n as JSON', json_schema: schema }, context()),
    ).toMatchObject({ output: { json: { n: 3 } } });
    expect(stub.requests[0]!.body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'output', schema },
    });
    expect(stub.requests[0]!.body.messages).toHaveLength(1);
  });

  it('fails with a retriable LLM_INVALID_JSON when the JSON reply does not parse', async () => {
    stub.reply('I think it is positive.');
    await expect(runTool(llmTool, { prompt: 'Rate it', json: true }, context())).rejects.toMatchObject({
      code: 'LLM_INVALID_JSON',
      retriable: true,
    });
  });

  it('maps provider failures: 4xx permanent, 5xx retriable', async () => {
    stub.failWith(400, "Invalid value for 'model'");
    await expect(runTool(llmTool, { prompt: 'x' }, context())).rejects.toMatchObject({
      code: 'LLM_REQUEST_FAILED',
      retriable: false,
      message: "the LLM provider answered 400: Invalid value for 'model'",
      details: { status: 400 },
    });
    stub.failWith(503, 'overloaded');
    await expect(runTool(llmTool, { prompt: 'x' }, context())).rejects.toMatchObject({
      code: 'LLM_REQUEST_FAILED',
      retriable: true,
    });
  });

  it('fails permanently when no LLM is configured', async () => {
    await expect(runTool(llmTool, { prompt: 'x' }, createToolContext())).rejects.toMatchObject({
      code: 'LLM_NOT_CONFIGURED',
      retriable: false,
      message: 'the llm tool needs LLM_BASE_URL (and LLM_API_KEY, LLM_MODEL) to be set',
    });
  });

  it('stops promptly when the step is aborted', async () => {
    stub.reply({ content: 'late', delayMs: 10_000 });
    const ctx = context();
    const started = Date.now();
    setTimeout(() => ctx.controller.abort(new Error('cancelled')), 100);
    await expect(runTool(llmTool, { prompt: 'x' }, ctx)).rejects.toThrow('cancelled');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('validates its params', () => {
    const issue = (p: unknown) => {
      const i = llmTool.params.safeParse(p).error?.issues[0];
      return i && `${i.path.join('.')}: ${i.message}`;
    };
    expect(issue({})).toBe('prompt: give either prompt or messages');
    expect(issue({ prompt: 'a', messages: [{ role: 'user', content: 'b' }] })).toBe(
      'prompt: give either prompt or messages',
    );
    expect(issue({ messages: [{ role: 'robot', content: 'b' }] })).toMatch(/^messages\.0\.role: /);
    expect(issue({ prompt: 'a', temperature: 3 })).toMatch(/^temperature: /);
  });
});
