import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAiStub } from '../../test/support/openai-stub.js';
import type { OpenAiStub } from '../../test/support/openai-stub.js';
import { LlmClient, LlmError } from './llm-client.js';

async function llmErrorOf(promise: Promise<unknown>): Promise<LlmError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LlmError);
  return error as LlmError;
}

describe('LlmClient', () => {
  let stub: OpenAiStub;
  let client: LlmClient;
  const user = [{ role: 'user' as const, content: 'hello' }];
  beforeAll(async () => {
    stub = await startOpenAiStub();
  });
  beforeEach(() => {
    stub.requests.length = 0;
    client = new LlmClient({ baseUrl: `${stub.baseUrl}/`, apiKey: 'sk-test', model: 'stub-model' });
  });
  afterAll(() => stub.close());

  it('posts a chat completion with the bearer key and default model, and returns content and usage', async () => {
    stub.reply({ content: 'hi there', usage: { prompt_tokens: 3, completion_tokens: 2 } });
    expect(await client.chat({ messages: user, temperature: 0.2, max_tokens: 50 })).toEqual({
      content: 'hi there',
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
      model: 'stub-model',
    });
    const [request] = stub.requests;
    expect(request!.headers.authorization).toBe('Bearer sk-test');
    expect(request!.body).toEqual({ model: 'stub-model', messages: user, temperature: 0.2, max_tokens: 50 });
  });

  it('sends no Authorization header without a key', async () => {
    await new LlmClient({ baseUrl: stub.baseUrl, apiKey: null, model: 'm' }).chat({ messages: user });
    expect(stub.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('parses JSON replies when a response format is requested, fenced or not', async () => {
    const format = { type: 'json_schema' as const, json_schema: { name: 'out', schema: { type: 'object' } } };
    stub.reply('{"a":1}', '```json\n{"b":2}\n```');
    expect((await client.chat({ messages: user, response_format: format })).parsed).toEqual({ a: 1 });
    expect((await client.chat({ messages: user, response_format: { type: 'json_object' } })).parsed).toEqual({
      b: 2,
    });
    expect(stub.requests[0]!.body.response_format).toEqual(format);
  });

  it('fails with LLM_INVALID_JSON (retriable) when the requested JSON does not parse', async () => {
    stub.reply('Sure! Here it is: {a:1}');
    const error = await llmErrorOf(client.chat({ messages: user, response_format: { type: 'json_object' } }));
    expect(error).toMatchObject({ code: 'LLM_INVALID_JSON', retriable: true, status: 502 });
    expect(error.message).toBe("the model's reply is not valid JSON: Sure! Here it is: {a:1}");
  });

  it("reports a non-2xx answer with the status and the provider's message", async () => {
    stub.failWith(401, 'Incorrect API key provided');
    const unauthorized = await llmErrorOf(client.chat({ messages: user }));
    expect(unauthorized).toMatchObject({ code: 'LLM_REQUEST_FAILED', retriable: false, upstreamStatus: 401 });
    expect(unauthorized.message).toBe('the LLM provider answered 401: Incorrect API key provided');

    stub.reply({ status: 429, error: 'Rate limit reached', headers: { 'retry-after': '2' } });
    expect(await llmErrorOf(client.chat({ messages: user }))).toMatchObject({
      retriable: true,
      retryAfterMs: 2000,
    });
  });

  it('reports malformed responses', async () => {
    stub.reply(
      { raw: 'not json' },
      { raw: '{"choices":[]}' },
      { raw: '{"choices":[{"message":{"content":null}}]}' },
    );
    expect((await llmErrorOf(client.chat({ messages: user }))).message).toBe(
      'the LLM provider sent a malformed response: not JSON: not json',
    );
    expect((await llmErrorOf(client.chat({ messages: user }))).message).toContain('no choices[0].message');
    expect((await llmErrorOf(client.chat({ messages: user }))).message).toContain('content is not text');
  });

  it('reports an unreachable endpoint as retriable', async () => {
    const closed = await startOpenAiStub();
    await closed.close();
    const error = await llmErrorOf(
      new LlmClient({ baseUrl: closed.baseUrl, apiKey: null, model: 'm' }).chat({ messages: user }),
    );
    expect(error).toMatchObject({ code: 'LLM_UNREACHABLE', retriable: true });
    expect(error.message).toMatch(/is unreachable: connect ECONNREFUSED/);
  });

  it('stops promptly on abort, rejecting with the abort reason', async () => {
    stub.reply({ content: 'late', delayMs: 10_000 });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('step timed out')), 100);
    await expect(client.chat({ messages: user, signal: controller.signal })).rejects.toThrow(
      'step timed out',
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('gives up after its own timeout', async () => {
    stub.reply({ content: 'late', delayMs: 10_000 });
    const error = await llmErrorOf(
      new LlmClient({ baseUrl: stub.baseUrl, apiKey: null, model: 'm' }, { timeoutMs: 100 }).chat({
        messages: user,
      }),
    );
    expect(error.message).toBe(`the LLM endpoint ${stub.baseUrl} is unreachable: no answer within 100 ms`);
  });
});
