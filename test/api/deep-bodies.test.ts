import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/domain/json-depth.js';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';

// A body nested thousands deep parses fine, then overflowed the stack of whatever walked it
// (validation, normalisation, the MCP SDK): a 500. Every route now refuses it before parsing.

let h: ApiHarness;
let baseUrl: string;
let workflowId: string;

/** `{"a":{"a":…value…}}`, `depth` objects deep around `value`. */
const nestedIn = (depth: number, value: string) => '{"a":'.repeat(depth) + value + '}'.repeat(depth);
const DEEP = nestedIn(5000, '1');

beforeAll(async () => {
  h = await startApiHarness({ worker: false });
  const workflow = await h.stepwise.workflows.create(h.orgId, {
    title: 'Deep',
    slug: 'deep',
    steps: [{ id: 'say', tool: 'log', params: { message: 'hi' } }],
  });
  workflowId = workflow.id;
  baseUrl = await h.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await h?.close();
});

const post = (path: string, body: string) =>
  fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${h.adminKey}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body,
  });

const runCount = async () =>
  (await h.stepwise.store.listRuns({ org_id: h.orgId, limit: 500, offset: 0 })).length;

describe('request bodies nested too deeply', () => {
  const routes: [string, () => string, string][] = [
    ['document 002 run', () => `/v1/workflows/${workflowId}/run`, `{"input":${DEEP}}`],
    ['document 004 execute', () => `/api/v1/workflows/${workflowId}/execute`, `{"context":${DEEP}}`],
    [
      'document 004 create',
      () => '/api/v1/workflows',
      `{"title":"x","steps":[{"id":"s","tool":"log","params":${DEEP}}]}`,
    ],
    ['events', () => '/v1/events', `{"type":"deep","data":${DEEP}}`],
    ['document 000 action', () => '/api/workflow/deep', `{"lead":${DEEP}}`],
    ['document 001 instance', () => '/api/agents/tools/instance', `{"action":"create","context":${DEEP}}`],
    ...['/mcp', '/api/mcp-app'].map((path): [string, () => string, string] => [
      `MCP over HTTP at ${path}`,
      () => path,
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_workflow","arguments":{"workflowId":"deep","configuration":${DEEP}}}}`,
    ]),
  ];

  it.each(routes)(
    '%s: 400 BODY_TOO_DEEP naming the body and the limit, nothing started',
    async (_name, path, body) => {
      const before = await runCount();
      const response = await post(path(), body);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: {
          code: 'BODY_TOO_DEEP',
          field: 'body',
          message: `body: objects and arrays are nested more than ${MAX_JSON_DEPTH} levels deep; send at most ${MAX_JSON_DEPTH} levels`,
        },
      });
      expect(await runCount()).toBe(before);
    },
  );

  it(`accepts a body exactly ${MAX_JSON_DEPTH} levels deep and refuses one level more`, async () => {
    // The body's own object is the first level.
    const atLimit = await post(
      `/v1/workflows/${workflowId}/run`,
      `{"input":${nestedIn(MAX_JSON_DEPTH - 1, '"x"')}}`,
    );
    expect(atLimit.status, await atLimit.clone().text()).toBe(201);
    const over = await post(
      `/v1/workflows/${workflowId}/run`,
      `{"input":${nestedIn(MAX_JSON_DEPTH, '"x"')}}`,
    );
    expect(over.status).toBe(400);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('BODY_TOO_DEEP');
  });

  it('does not count brackets inside strings', async () => {
    const response = await post(
      `/v1/workflows/${workflowId}/run`,
      JSON.stringify({ input: { text: '['.repeat(5000) } }),
    );
    expect(response.status).toBe(201);
  });
});
