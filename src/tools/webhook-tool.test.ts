import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { HttpRecorder } from '../../test/support/http-recorder.js';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { webhookIdFor, webhookTool } from './webhook-tool.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

describe('webhook tool', () => {
  let server: HttpRecorder;
  beforeAll(async () => {
    server = await startHttpRecorder();
  });
  beforeEach(() => server.reset());
  afterAll(() => server.close());

  const headersOf = (index = 0) => server.requests[index]!.headers as Record<string, string>;

  it('POSTs the payload signed so that Webhook.verify accepts it', async () => {
    const outcome = await runTool(
      webhookTool,
      { url: `${server.url}/hooks`, payload: { order: 42 }, secret: SECRET },
      createToolContext(),
    );
    const webhookId = webhookIdFor('run_test:step_test');
    expect(outcome).toEqual({ kind: 'done', output: { status: 200, webhook_id: webhookId } });
    const [request] = server.requests;
    expect(request!.method).toBe('POST');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['webhook-id']).toBe(webhookId);
    expect(new Webhook(SECRET).verify(request!.body, headersOf())).toEqual({ order: 42 });
    expect(() =>
      new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(request!.body, headersOf()),
    ).toThrow();
  });

  it('wraps the payload in the Standard Webhooks envelope when event_type is given', async () => {
    const now = Date.now();
    await runTool(
      webhookTool,
      { url: `${server.url}/hooks`, payload: { id: 1 }, secret: SECRET, event_type: 'invoice.paid' },
      createToolContext({ now }),
    );
    expect(new Webhook(SECRET).verify(server.requests[0]!.body, headersOf())).toEqual({
      type: 'invoice.paid',
      timestamp: new Date(now).toISOString(),
      data: { id: 1 },
    });
  });

  it('keeps webhook-id across retries of the same step and re-signs each attempt', async () => {
    server.script('/flaky', { status: 503, headers: { 'retry-after': '3' } }, { status: 204 });
    const params = { url: `${server.url}/flaky`, payload: 'x', secret: SECRET };
    await expect(runTool(webhookTool, params, createToolContext({ attempt: 1 }))).rejects.toMatchObject({
      code: 'HTTP_STATUS',
      retriable: true,
      retryAfterMs: 3000,
    });
    expect(await runTool(webhookTool, params, createToolContext({ attempt: 2 }))).toMatchObject({
      output: { status: 204 },
    });
    expect(headersOf(0)['webhook-id']).toBe(headersOf(1)['webhook-id']);
    expect(
      new Webhook(SECRET).verify(server.requests[1]!.body, headersOf(1), { jsonParse: false }),
    ).toBeUndefined();
  });

  it('fails a 4xx permanently', async () => {
    server.script('/hooks', { status: 400, json: { error: 'bad signature' } });
    await expect(
      runTool(webhookTool, { url: `${server.url}/hooks`, payload: {}, secret: SECRET }, createToolContext()),
    ).rejects.toMatchObject({
      code: 'HTTP_STATUS',
      retriable: false,
      message: `POST ${server.url}/hooks answered 400 Bad Request (expected 2xx)`,
      details: { status: 400, body: '{"error":"bad signature"}' },
    });
  });

  it('refuses private addresses without the network flag', async () => {
    const ctx = createToolContext({ settings: { allowPrivateNetwork: false } });
    await expect(
      runTool(webhookTool, { url: `${server.url}/hooks`, payload: {}, secret: SECRET }, ctx),
    ).rejects.toMatchObject({
      code: 'NETWORK_BLOCKED',
      retriable: false,
    });
    expect(server.requests).toHaveLength(0);
  });

  it('stops promptly when the step is aborted', async () => {
    server.script('/slow', { delayMs: 10_000 });
    const ctx = createToolContext();
    const started = Date.now();
    setTimeout(() => ctx.controller.abort(new Error('cancelled')), 100);
    await expect(
      runTool(webhookTool, { url: `${server.url}/slow`, payload: {}, secret: SECRET }, ctx),
    ).rejects.toThrow('cancelled');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses a malformed secret without echoing it', () => {
    const result = webhookTool.params.safeParse({
      url: 'https://example.com/h',
      payload: {},
      secret: 'hunter2',
    });
    const issue = result.error?.issues[0];
    expect(issue?.path).toEqual(['secret']);
    expect(issue?.message).toMatch(/^secret must be a Standard Webhooks secret/);
    expect(JSON.stringify(result.error?.issues)).not.toContain('hunter2');
  });
});
