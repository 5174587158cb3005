import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StepFailure } from '../domain/errors.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { HttpRecorder } from '../../test/support/http-recorder.js';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { httpTool } from './http-tool.js';
import { USER_AGENT } from './http-support.js';

async function failureOf(promise: Promise<unknown>): Promise<StepFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepFailure);
  return error as StepFailure;
}

describe('http tool', () => {
  let server: HttpRecorder;
  beforeAll(async () => {
    server = await startHttpRecorder();
  });
  beforeEach(() => server.reset());
  afterAll(() => server.close());

  it('sends a GET with query, headers, Idempotency-Key and User-Agent, and parses a JSON answer', async () => {
    server.script('/items', { json: { items: [1, 2] }, headers: { 'x-total': '2' } });
    const ctx = createToolContext();
    const outcome = await runTool(
      httpTool,
      { url: `${server.url}/items`, query: { page: 2, tag: ['a', 'b'] }, headers: { 'X-Trace': 'abc' } },
      ctx,
    );
    expect(outcome).toMatchObject({ kind: 'done', output: { status: 200, body: { items: [1, 2] } } });
    expect((outcome as { output: { headers: Record<string, string> } }).output.headers['x-total']).toBe('2');
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'GET', path: '/items', query: { page: '2', tag: ['a', 'b'] } });
    expect(request!.headers['idempotency-key']).toBe('run_test:step_test');
    expect(request!.headers['user-agent']).toBe(USER_AGENT);
    expect(USER_AGENT).toMatch(/^stepwise\/\d+\.\d+\.\d+/);
    expect(request!.headers['x-trace']).toBe('abc');
  });

  it("sends a step's credentials to the URL it names, and none of them on to another origin it redirects to", async () => {
    const elsewhere = await startHttpRecorder();
    try {
      server.script('/export', { status: 307, headers: { location: `${elsewhere.url}/bucket` } });
      elsewhere.script('/bucket', { json: { stored: true } });
      const outcome = await runTool(
        httpTool,
        {
          method: 'POST',
          url: `${server.url}/export`,
          json: { rows: 3 },
          headers: { 'X-Api-Key': 'sk_live_partner', Authorization: 'Bearer partner', 'X-Tenant': 'acme' },
        },
        createToolContext(),
      );
      expect(outcome).toMatchObject({ kind: 'done', output: { status: 200, body: { stored: true } } });
      expect(server.requests[0]!.headers).toMatchObject({
        'x-api-key': 'sk_live_partner',
        'x-tenant': 'acme',
      });
      const [landed] = elsewhere.requests;
      expect(landed!.json).toEqual({ rows: 3 });
      expect(landed!.headers['x-api-key']).toBeUndefined();
      expect(landed!.headers.authorization).toBeUndefined();
      expect(landed!.headers['x-tenant']).toBeUndefined();
      expect(landed!.headers).toMatchObject({
        'content-type': 'application/json',
        'idempotency-key': 'run_test:step_test',
        'user-agent': USER_AGENT,
      });
    } finally {
      await elsewhere.close();
    }
  });

  it('posts JSON and keeps an Idempotency-Key the author set', async () => {
    await runTool(
      httpTool,
      {
        method: 'POST',
        url: `${server.url}/orders`,
        json: { qty: 3 },
        headers: { 'Idempotency-Key': 'mine' },
      },
      createToolContext(),
    );
    const [request] = server.requests;
    expect(request!.json).toEqual({ qty: 3 });
    expect(request!.headers['content-type']).toBe('application/json');
    expect(server.idempotencyKeyCounts()).toEqual(new Map([['mine', 1]]));
  });

  it('sends a text body and returns a text answer as text', async () => {
    server.script('/echo', { body: 'plain words', headers: { 'content-type': 'text/plain' } });
    const outcome = await runTool(
      httpTool,
      { method: 'PUT', url: `${server.url}/echo`, body: 'hello' },
      createToolContext(),
    );
    expect(outcome).toMatchObject({ output: { status: 200, body: 'plain words' } });
    expect(server.requests[0]!.body).toBe('hello');
  });

  it('fails a 404 permanently with the status and a body excerpt', async () => {
    server.script('/missing', { status: 404, json: { error: 'no such order' } });
    const failure = await failureOf(
      runTool(httpTool, { url: `${server.url}/missing?key=secret` }, createToolContext()),
    );
    expect(failure.code).toBe('HTTP_STATUS');
    expect(failure.retriable).toBe(false);
    // The query string (which may hold credentials) stays out of the message.
    expect(failure.message).toBe(`GET ${server.url}/missing answered 404 Not Found (expected 2xx)`);
    expect(failure.details).toEqual({ status: 404, body: '{"error":"no such order"}' });
  });

  it('fails a 500 as retriable', async () => {
    server.script('/boom', { status: 500, body: 'oops' });
    const failure = await failureOf(runTool(httpTool, { url: `${server.url}/boom` }, createToolContext()));
    expect(failure).toMatchObject({ code: 'HTTP_STATUS', retriable: true, retryAfterMs: undefined });
    expect(failure.message).toContain('answered 500 Internal Server Error');
  });

  it('honours Retry-After on 429 (seconds) and 503 (HTTP date)', async () => {
    server.script('/limited', { status: 429, headers: { 'retry-after': '7' } });
    const limited = await failureOf(runTool(httpTool, { url: `${server.url}/limited` }, createToolContext()));
    expect(limited).toMatchObject({ retriable: true, retryAfterMs: 7000 });

    const now = Date.parse('2030-01-01T00:00:00Z');
    server.script('/down', { status: 503, headers: { 'retry-after': 'Tue, 01 Jan 2030 00:00:30 GMT' } });
    const down = await failureOf(
      runTool(httpTool, { url: `${server.url}/down` }, createToolContext({ now })),
    );
    expect(down).toMatchObject({ retriable: true, retryAfterMs: 30_000 });
  });

  it('accepts the statuses listed in expected_status', async () => {
    server.script('/gone', { status: 410, json: { gone: true } });
    const outcome = await runTool(
      httpTool,
      { url: `${server.url}/gone`, expected_status: ['2xx', 410] },
      createToolContext(),
    );
    expect(outcome).toMatchObject({ output: { status: 410, body: { gone: true } } });
    const failure = await failureOf(
      runTool(httpTool, { url: `${server.url}/items`, expected_status: [201] }, createToolContext()),
    );
    expect(failure.message).toContain('answered 200 OK (expected 201)');
  });

  it('stops a slow request promptly when the step is aborted', async () => {
    server.script('/slow', { delayMs: 10_000 });
    const ctx = createToolContext();
    const started = Date.now();
    setTimeout(() => ctx.controller.abort(new Error('step cancelled')), 100);
    await expect(runTool(httpTool, { url: `${server.url}/slow` }, ctx)).rejects.toThrow('step cancelled');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('fails with a retriable HTTP_TIMEOUT past timeout_ms', async () => {
    server.script('/slow', { delayMs: 10_000 });
    const started = Date.now();
    const failure = await failureOf(
      runTool(httpTool, { url: `${server.url}/slow`, timeout_ms: 150 }, createToolContext()),
    );
    expect(failure).toMatchObject({ code: 'HTTP_TIMEOUT', retriable: true });
    expect(failure.message).toBe(`GET ${server.url}/slow did not answer within 150 ms`);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses private addresses unless the network flag allows them', async () => {
    const ctx = createToolContext({ settings: { allowPrivateNetwork: false } });
    const failure = await failureOf(runTool(httpTool, { url: `${server.url}/items` }, ctx));
    expect(failure.code).toBe('NETWORK_BLOCKED');
    expect(failure.retriable).toBe(false);
    expect(failure.message).toContain(
      '127.0.0.1 is a loopback address; set STEPWISE_ALLOW_PRIVATE_NETWORK=1 to allow it',
    );
    expect(server.requests).toHaveLength(0);
  });

  it('reports a refused connection as a retriable network error', async () => {
    const closed = await startHttpRecorder();
    await closed.close();
    const failure = await failureOf(runTool(httpTool, { url: `${closed.url}/` }, createToolContext()));
    expect(failure).toMatchObject({ code: 'HTTP_NETWORK_ERROR', retriable: true });
    expect(failure.message).toMatch(new RegExp(`^GET ${closed.url}/ failed: connect ECONNREFUSED`));
  });

  it('refuses a response body over 10 MB', async () => {
    server.script('/huge', { body: 'x'.repeat(10 * 1024 * 1024 + 1) });
    const failure = await failureOf(runTool(httpTool, { url: `${server.url}/huge` }, createToolContext()));
    expect(failure).toMatchObject({ code: 'HTTP_RESPONSE_TOO_LARGE', retriable: false });
  });

  it("fails when response is 'json' and the body is not JSON", async () => {
    server.script('/html', { body: '<html>', headers: { 'content-type': 'text/html' } });
    const failure = await failureOf(
      runTool(httpTool, { url: `${server.url}/html`, response: 'json' }, createToolContext()),
    );
    expect(failure.code).toBe('HTTP_INVALID_JSON');
    expect((await runTool(httpTool, { url: `${server.url}/html` }, createToolContext())).kind).toBe('done');
  });

  it('validates params, naming the field at fault', () => {
    const issues = (params: unknown) =>
      httpTool.params.safeParse(params).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({})).toEqual(['url: url must be an absolute http:// or https:// URL']);
    expect(issues({ url: 'ftp://example.com/' })).toEqual([
      'url: url must be an absolute http:// or https:// URL',
    ]);
    expect(issues({ url: 'https://example.com', method: 'FETCH' })?.[0]).toMatch(/^method: /);
    expect(issues({ url: 'https://example.com', json: {}, body: 'x', method: 'POST' })).toEqual([
      'body: give either json or body, not both',
    ]);
    expect(issues({ url: 'https://example.com', json: { a: 1 } })).toEqual([
      'method: a GET or HEAD request cannot have a body: use query, or another method',
    ]);
    expect(issues({ url: 'https://example.com', expected_status: ['2xxx'] })).toEqual([
      'expected_status.0: a status range is written like "2xx"',
    ]);
    expect(issues({ url: 'https://example.com', header: {} })?.[0]).toBe(': Unrecognized key: "header"');
  });

  it('refuses an invalid header value before sending anything', async () => {
    const failure = await failureOf(
      runTool(httpTool, { url: `${server.url}/items`, headers: { 'X-Bad': 'a\nb' } }, createToolContext()),
    );
    expect(failure).toMatchObject({ code: 'HTTP_INVALID_HEADER', retriable: false });
    expect(failure.message).toBe('headers.X-Bad: not a valid HTTP header name or value');
  });
});
