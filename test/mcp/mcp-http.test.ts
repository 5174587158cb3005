import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';

/** Document 003's example request body, exactly as written. */
const DOCUMENT_003_BODY = `{
"jsonrpc": "2.0",
"id": "1",
"method": "tools/call",
"params": {
"name": "run_workflow",
"arguments": {
"workflowId": "ai_shop_checkup",
"configuration": {
"context": "Focus on brake service and oil change queries."
}
}
}
}`;

const HINT =
  'Poll get_run_status with this runId to track progress. Status will transition from pending → running → completed.';

let api: ApiHarness;
let baseUrl: string;

beforeAll(async () => {
  api = await startApiHarness({ worker: false });
  await api.stepwise.workflows.create(api.orgId, {
    title: 'AI Shop Checkup',
    slug: 'ai_shop_checkup',
    credit_cost: 25,
    metadata: { estimated_duration: '3-5 min' },
    steps: [{ id: 'note', tool: 'log', params: { message: '{{ input.context }}' } }],
  });
  baseUrl = await api.app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await api?.close();
});

const post = (path: string, body: string, headers: Record<string, string>) =>
  fetch(`${baseUrl}${path}`, { method: 'POST', headers, body });

describe('document 003: the bare JSON-RPC POST, as written', () => {
  for (const path of ['/api/mcp-app', '/mcp']) {
    it(`answers run_workflow at ${path} with a JSON-RPC response in application/json`, async () => {
      const response = await post(path, DOCUMENT_003_BODY, {
        Authorization: `Bearer ${api.adminKey}`,
        'Content-Type': 'application/json',
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const message = (await response.json()) as {
        jsonrpc: string;
        id: string;
        result: { content: { type: string; text: string }[]; structuredContent: unknown };
      };
      expect(message.jsonrpc).toBe('2.0');
      expect(message.id).toBe('1');
      const parsed = JSON.parse(message.result.content[0]!.text) as Record<string, unknown>;
      expect(Object.keys(parsed).sort()).toEqual(
        [
          'runId',
          'workflowId',
          'workflowName',
          'status',
          'creditsReserved',
          'estimatedDuration',
          '_hint',
        ].sort(),
      );
      expect(parsed).toMatchObject({
        workflowId: 'ai_shop_checkup',
        workflowName: 'AI Shop Checkup',
        status: 'pending',
        estimatedDuration: '3-5 min',
        _hint: HINT,
      });
      expect(parsed.runId).toMatch(/^run_/);
      expect(typeof parsed.creditsReserved).toBe('number');
      expect(message.result.structuredContent).toEqual(parsed);
      const run = await api.stepwise.runs.get(api.orgId, parsed.runId as string);
      expect(run.input).toEqual({ context: 'Focus on brake service and oil change queries.' });
      expect(parsed.creditsReserved).toBe(run.credits_reserved);
    });
  }

  it('answers refusals as JSON-RPC errors in application/json: -32602 and -32000', async () => {
    const call = async (args: Record<string, unknown>) => {
      const response = await post(
        '/api/mcp-app',
        JSON.stringify({
          jsonrpc: '2.0',
          id: 7,
          method: 'tools/call',
          params: { name: 'run_workflow', arguments: args },
        }),
        { Authorization: `Bearer ${api.adminKey}`, 'Content-Type': 'application/json' },
      );
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      return ((await response.json()) as { error: { code: number; message: string } }).error;
    };
    expect(await call({ workflowId: 'ai_shop_checkup', companyId: 'c' })).toMatchObject({
      code: -32602,
      message: expect.stringContaining('companyId'),
    });
    expect(await call({})).toMatchObject({ code: -32602, message: expect.stringContaining('workflowId') });
    expect(await call({ workflowId: 'nope' })).toMatchObject({ code: -32000 });
  });

  it('answers a body that is not JSON with a JSON-RPC parse error', async () => {
    const response = await post('/mcp', '{"jsonrpc": ', {
      Authorization: `Bearer ${api.adminKey}`,
      'Content-Type': 'application/json',
    });
    expect(response.status).toBe(400);
  });

  it('answers 401 JSON without a key', async () => {
    const response = await post('/mcp', DOCUMENT_003_BODY, { 'Content-Type': 'application/json' });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  it('answers 401 JSON for a key that is not valid', async () => {
    const response = await post('/api/mcp-app', DOCUMENT_003_BODY, {
      Authorization: 'Bearer sk_live_nope_nope_nope_nope_nope',
      'Content-Type': 'application/json',
    });
    expect(response.status).toBe(401);
  });
});

describe('a spec-following client over Streamable HTTP', () => {
  it('initializes a session, lists the tools and runs a workflow', async () => {
    const client = new Client({ name: 'test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${api.adminKey}` } },
    });
    await client.connect(transport);
    expect(transport.sessionId).toBeTruthy();
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['run_workflow', 'get_run_status', 'list_workflows', 'workflows', 'instance']),
    );
    for (const tool of tools) expect(tool.outputSchema, tool.name).toBeDefined();
    const result = await client.callTool({
      name: 'run_workflow',
      arguments: { workflowId: 'ai_shop_checkup' },
    });
    expect(result.structuredContent).toMatchObject({ status: 'pending', workflowName: 'AI Shop Checkup' });
    const status = await client.callTool({
      name: 'get_run_status',
      arguments: { runId: (result.structuredContent as { runId: string }).runId },
    });
    expect(status.structuredContent).toMatchObject({ status: 'pending', totalSteps: 1 });
    await transport.terminateSession();
    await client.close();
  });

  it('refuses a session id from another key', async () => {
    const client = new Client({ name: 'test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/api/mcp-app`), {
      requestInit: { headers: { Authorization: `Bearer ${api.adminKey}` } },
    });
    await client.connect(transport);
    const other = await api.key(['workflows:read']);
    const response = await post(
      '/api/mcp-app',
      JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      {
        Authorization: `Bearer ${other}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'mcp-session-id': transport.sessionId!,
        'mcp-protocol-version': '2025-06-18',
      },
    );
    expect(response.status).toBe(404);
    await client.close();
  });
});
