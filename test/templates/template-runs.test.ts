import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { startOpenAiStub, type OpenAiStub } from '../support/openai-stub.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { waitForRun } from '../support/stepwise-harness.js';
import { connectInMemory, textJson } from '../mcp/mcp-client.js';

// Shipped templates installed from the marketplace and run end to end, against loopback stubs
// for the LLM (OpenAI-compatible), the CRM and shop APIs (an HTTP recorder) and SMTP, through
// the dialects that name them: document 000's POST /api/workflow/{action}, document 003's MCP
// run_workflow.

const MODEL_ANSWER = {
  summary: 'Strong fit: a growing regional logistics firm',
  questions: ['Who does same-day brake service near me?'],
  score: 72,
  top_fixes: ['Add a brake service FAQ'],
  subject: 'Your quote',
  text: 'Hello, here is the quote we promised.',
};

let h: ApiHarness;
let llm: OpenAiStub;
let recorder: HttpRecorder;
let smtp: SmtpSink;
let key: string;
let orgId: string;
let siteId: string;
let mcp: Client;

beforeAll(async () => {
  [llm, recorder, smtp] = await Promise.all([startOpenAiStub(), startHttpRecorder(), startSmtpSink()]);
  llm.defaultReply = JSON.stringify(MODEL_ANSWER);
  h = await startApiHarness({
    env: { LLM_BASE_URL: llm.baseUrl, LLM_API_KEY: 'test', LLM_MODEL: 'stub-model', SMTP_URL: smtp.url },
  });
  const created = await h.stepwise.keys.create({
    orgName: 'garage-org',
    scopes: ['workflows:read', 'workflows:write'],
  });
  key = created.key;
  orgId = created.org_id;
  siteId = created.site_id!;
  const secrets: Record<string, string> = {
    CRM_BASE_URL: `${recorder.url}/crm`,
    CRM_API_KEY: 'crm-key',
    SHOP_URL: `${recorder.url}/shop`,
    SHOP_DATA_URL: `${recorder.url}/data`,
    SHOP_DATA_TOKEN: 'shop-token',
  };
  for (const [name, value] of Object.entries(secrets)) await h.stepwise.secrets.put(orgId, name, value);
  mcp = await connectInMemory(h.stepwise, key);
});
afterAll(async () => {
  await mcp?.close();
  await h?.close();
  await Promise.all([llm?.close(), recorder?.close(), smtp?.close()]);
});

const post = (url: string, body?: unknown) =>
  h.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });

describe('templates installed and run end to end', () => {
  it("leadResearch (document 000) through POST /api/workflow/leadResearch, as the document's client calls it", async () => {
    recorder.script('/crm/leads/lead_42', {
      json: {
        id: 'lead_42',
        name: 'Ada Lovelace',
        company: 'Analytical Freight',
        website: `${recorder.url}/freight`,
      },
    });
    recorder.script('/freight', { body: '<h1>Analytical Freight: same-day pallets across Ohio</h1>' });
    const installed = await post('/api/v1/workflows/tpl_leadResearch/install');
    expect(installed.statusCode, installed.body).toBe(201);
    expect(json(installed)).toMatchObject({
      slug: 'leadResearch',
      status: 'active',
      installed_from: 'tpl_leadResearch',
    });

    const response = await post('/api/workflow/leadResearch?wait=true', { lead_id: 'lead_42' });
    expect(response.statusCode, response.body).toBe(200);
    const body = json<{ success: boolean; result: { status: string; output: Record<string, unknown> } }>(
      response,
    );
    expect(body.success).toBe(true);
    expect(body.result.output).toEqual({ lead_id: 'lead_42', site_id: siteId, research: MODEL_ANSWER });

    const lead = recorder.requestsTo('/crm/leads/lead_42')[0]!;
    expect(lead.headers.authorization).toBe('Bearer crm-key');
    expect(recorder.requestsTo('/crm/leads/lead_42/research')[0]?.json).toEqual(MODEL_ANSWER);
    const prompt = llm.requests
      .at(-1)!
      .body.messages!.map((m) => m.content)
      .join('\n');
    expect(prompt).toContain('same-day pallets across Ohio');
    expect(prompt).toContain('Ada Lovelace');
  });

  it('ai_shop_checkup (document 003) installed and run through MCP, with its credits and duration', async () => {
    recorder.script('/shop', { body: '<h1>Main Street Auto: brakes, oil changes, tyres</h1>' });
    recorder.script('/data/profile', { json: { name: 'Main Street Auto', city: 'Dayton' } });
    const explored = textJson(
      await mcp.callTool({ name: 'explore_workflows', arguments: { kind: 'template', q: 'shop checkup' } }),
    );
    expect(explored.workflows).toEqual([
      expect.objectContaining({ id: 'tpl_ai_shop_checkup', creditCost: 25, estimatedDuration: '3-5 min' }),
    ]);
    const installed = textJson(
      await mcp.callTool({ name: 'install_workflow', arguments: { workflowId: 'tpl_ai_shop_checkup' } }),
    );
    expect(installed).toMatchObject({ slug: 'ai_shop_checkup', status: 'active', creditCost: 25 });
    expect(installed.requiredSecrets).toEqual(['SHOP_DATA_TOKEN', 'SHOP_DATA_URL', 'SHOP_URL']);
    expect(installed.missingSecrets).toEqual([]);

    const started = textJson(
      await mcp.callTool({
        name: 'run_workflow',
        arguments: {
          workflowId: 'ai_shop_checkup',
          configuration: { context: 'Focus on brake service and oil change queries.' },
        },
      }),
    );
    expect(started).toMatchObject({
      workflowId: 'ai_shop_checkup',
      workflowName: 'AI Shop Checkup',
      status: 'pending',
      creditsReserved: 25,
      estimatedDuration: '3-5 min',
    });
    const run = await waitForRun(h.stepwise, started.runId as string);
    expect(run.status).toBe('completed');
    expect(run.output).toEqual(MODEL_ANSWER);
    const status = textJson(await mcp.callTool({ name: 'get_run_status', arguments: { runId: run.id } }));
    expect(status).toMatchObject({ status: 'completed', progress: 1, result: MODEL_ANSWER });

    const filed = recorder.requestsTo('/data/reports')[0]!;
    expect(filed.headers.authorization).toBe('Bearer shop-token');
    expect(filed.json).toEqual({ kind: 'ai_shop_checkup', run_id: run.id, report: MODEL_ANSWER });
    const prompts = llm.requests.slice(-2).map((r) => JSON.stringify(r.body.messages));
    expect(prompts[0]).toContain('Focus on brake service and oil change queries.');
    expect(prompts[0]).toContain('Main Street Auto');
  });

  it('sendEmailFromAgent sends through SMTP and logs the activity in the CRM', async () => {
    expect((await post('/api/v1/workflows/tpl_sendEmailFromAgent/install')).statusCode).toBe(201);
    const response = await post('/api/workflow/sendEmailFromAgent?wait=true', {
      to: 'buyer@example.com',
      brief: 'Send the quote we promised',
      lead_id: 'lead_42',
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(json<{ result: { output: unknown } }>(response).result.output).toMatchObject({
      sent: true,
      to: 'buyer@example.com',
      subject: 'Your quote',
    });
    expect(smtp.messages.at(-1)).toMatchObject({ to: ['buyer@example.com'], subject: 'Your quote' });
    expect(recorder.requestsTo('/crm/activities').at(-1)?.json).toEqual({
      channel: 'email',
      to: 'buyer@example.com',
      body: MODEL_ANSWER.text,
      lead_id: 'lead_42',
    });
    const runs = await h.stepwise.runs.list(orgId, { limit: 10, offset: 0 });
    expect(runs.every((run) => run.status === 'completed')).toBe(true);
  });
});
