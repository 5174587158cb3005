import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stepwise } from '../../src/app/stepwise.js';
import { startHarness, waitFor, waitForRun, type Harness } from '../support/stepwise-harness.js';
import { connectInMemory, rpcError, textJson } from './mcp-client.js';

const quick = [{ id: 'say', tool: 'log', params: { message: 'hello' } }];
const slow = [{ id: 'wait', tool: 'delay', params: { duration: '1h' } }];

let harness: Harness;
let stepwise: Stepwise;
let client: Client;
let orgId: string;
let siteId: string;

beforeAll(async () => {
  harness = await startHarness({ worker: false });
  stepwise = harness.stepwise;
  const key = await stepwise.keys.create({ orgName: 'acme', scopes: ['admin'], plan: 'unlimited' });
  orgId = key.org_id;
  siteId = key.site_id!;
  client = await connectInMemory(stepwise, key.key);
  await stepwise.workflows.create(orgId, {
    title: 'AI Shop Checkup',
    slug: 'ai_shop_checkup',
    description: 'Checks the shop',
    credit_cost: 25,
    metadata: { estimated_duration: '3-5 min' },
    steps: quick,
  });
  await stepwise.workflows.create(orgId, { title: 'Enrich lead', steps: quick });
});

afterAll(async () => {
  await client?.close();
  await harness?.close();
});

describe('tools over the in-memory transport', () => {
  it('lists every tool with an input and an output schema', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(
      [
        'cancel_run',
        'create_workflow',
        'explore_workflows',
        'get_credits',
        'get_run_status',
        'get_workflow',
        'install_workflow',
        'instance',
        'list_runs',
        'list_workflows',
        'run_workflow',
        'workflows',
      ].sort(),
    );
    for (const tool of tools) {
      expect(tool.inputSchema.type, tool.name).toBe('object');
      expect(tool.outputSchema?.type, tool.name).toBe('object');
    }
    const run = tools.find((tool) => tool.name === 'run_workflow')!;
    expect(run.inputSchema.required).toEqual(['workflowId']);
    expect(Object.keys(run.inputSchema.properties ?? {})).not.toContain('companyId');
  });

  it("run_workflow answers document 003's shape, by slug and by id", async () => {
    const result = await client.callTool({
      name: 'run_workflow',
      arguments: { workflowId: 'ai_shop_checkup', configuration: { context: 'brakes' } },
    });
    const body = textJson(result);
    expect(body).toEqual({
      runId: expect.stringMatching(/^run_/),
      workflowId: 'ai_shop_checkup',
      workflowName: 'AI Shop Checkup',
      status: 'pending',
      creditsReserved: 25,
      estimatedDuration: '3-5 min',
      _hint:
        'Poll get_run_status with this runId to track progress. Status will transition from pending → running → completed.',
    });
    expect(result.structuredContent).toEqual(body);
    const run = await stepwise.runs.get(orgId, body.runId as string);
    expect(run.input).toEqual({ context: 'brakes' });
    expect(run.site_id).toBe(siteId);

    const byId = await client.callTool({ name: 'run_workflow', arguments: { workflowId: run.workflow_id } });
    expect(textJson(byId)).toMatchObject({ workflowId: run.workflow_id, workflowName: 'AI Shop Checkup' });
  });

  it('get_run_status follows a run to its result; the duration estimate then comes from runs', async () => {
    const started = textJson(
      await client.callTool({ name: 'run_workflow', arguments: { workflowId: 'enrichLead' } }),
    );
    const pending = await client.callTool({ name: 'get_run_status', arguments: { runId: started.runId } });
    expect(pending.structuredContent).toMatchObject({
      runId: started.runId,
      status: 'pending',
      progress: 0,
      currentStep: 0,
      totalSteps: 1,
      result: null,
      error: null,
      startedAt: null,
      finishedAt: null,
    });
    await stepwise.startWorker();
    await waitForRun(stepwise, started.runId as string);
    const done = textJson(
      await client.callTool({ name: 'get_run_status', arguments: { runId: started.runId } }),
    );
    expect(done).toMatchObject({ status: 'completed', progress: 1, currentStep: 1 });
    expect(typeof done.finishedAt).toBe('string');
    const listed = textJson(await client.callTool({ name: 'list_workflows', arguments: {} }));
    const enrich = (listed.workflows as { slug: string; estimatedDuration: string }[]).find(
      (workflow) => workflow.slug === 'enrichLead',
    );
    expect(enrich?.estimatedDuration).toMatch(/^\d+(-\d+)? sec$/);
    await stepwise.worker?.stop(0);
    stepwise.worker = null;
  });

  it('list_workflows, get_workflow, create_workflow, list_runs and cancel_run', async () => {
    const listed = textJson(await client.callTool({ name: 'list_workflows' }));
    expect(listed.workflows).toEqual(
      expect.arrayContaining([
        {
          id: expect.stringMatching(/^wf_/),
          slug: 'ai_shop_checkup',
          name: 'AI Shop Checkup',
          description: 'Checks the shop',
          creditCost: 25,
          // Its runs finished by now (the worker above ran them): measured beats declared.
          estimatedDuration: expect.stringMatching(/^\d+(-\d+)? sec$/),
          status: 'active',
        },
      ]),
    );
    const created = textJson(
      await client.callTool({
        name: 'create_workflow',
        arguments: { title: 'Slow one', steps: slow, credit_cost: 2 },
      }),
    );
    expect(created).toMatchObject({
      slug: 'slowOne',
      name: 'Slow one',
      creditCost: 2,
      version: 1,
      totalSteps: 1,
    });
    const detail = textJson(
      await client.callTool({ name: 'get_workflow', arguments: { workflowId: 'slowOne' } }),
    );
    expect(detail.steps).toEqual([expect.objectContaining({ id: 'wait', tool: 'delay' })]);

    const run = textJson(
      await client.callTool({ name: 'run_workflow', arguments: { workflowId: 'slowOne' } }),
    );
    const runs = textJson(await client.callTool({ name: 'list_runs', arguments: { workflowId: 'slowOne' } }));
    expect(runs.runs).toEqual([expect.objectContaining({ runId: run.runId, status: 'pending' })]);
    const cancelled = textJson(
      await client.callTool({ name: 'cancel_run', arguments: { runId: run.runId } }),
    );
    expect(cancelled).toEqual({
      runId: run.runId,
      status: 'cancelled',
      cancelRequested: expect.any(Boolean),
    });

    // Cancelling again is a refusal the caller can read, not a protocol error.
    const again = await client.callTool({ name: 'cancel_run', arguments: { runId: run.runId } });
    expect(again.isError).toBe(true);
    expect(textJson(again)).toMatchObject({ error: { code: 'RUN_ALREADY_FINISHED' } });
  });

  it("workflows runs document 000's action, injecting site_id", async () => {
    const result = await client.callTool({
      name: 'workflows',
      arguments: { action: 'enrichLead', payload: { lead_id: 'LEAD_UUID' } },
    });
    const body = textJson(result);
    expect(body).toEqual({
      success: true,
      result: {
        run_id: expect.stringMatching(/^run_/),
        status: 'pending',
        workflow: 'enrichLead',
        workflow_id: expect.stringMatching(/^wf_/),
        site_id: siteId,
      },
    });
    const run = await stepwise.runs.get(orgId, (body.result as { run_id: string }).run_id);
    expect(run.input).toEqual({ lead_id: 'LEAD_UUID', site_id: siteId });

    const unknown = await rpcError(client.callTool({ name: 'workflows', arguments: { action: 'nope' } }));
    expect(unknown.code).toBe(-32000);
    expect(unknown.message).toContain('enrichLead');
    expect(unknown.message).toContain('ai_shop_checkup');
  });

  it("instance creates and smart-renames document 001's instances", async () => {
    const created = textJson(
      await client.callTool({
        name: 'instance',
        arguments: { action: 'create', site_id: siteId, activity: 'Marketing Campaign Setup' },
      }),
    );
    expect(created).toMatchObject({
      success: true,
      instance: { name: 'Marketing Campaign Setup', status: 'running' },
      authentication: { success: true },
    });
    const generic = textJson(
      await client.callTool({
        name: 'instance',
        arguments: { action: 'create', activity: 'x', name: 'Assistant Session' },
      }),
    );
    const id = (generic.instance as { id: string }).id;
    const renamed = textJson(
      await client.callTool({
        name: 'instance',
        arguments: {
          action: 'update',
          instance_id: id,
          context: 'SaaS lead generation campaign for the US market',
        },
      }),
    );
    expect(renamed).toMatchObject({ success: true, renamed: true, old_name: 'Assistant Session' });
    expect(typeof renamed.new_name).toBe('string');
    expect(typeof renamed.similarity).toBe('number');
    const read = textJson(
      await client.callTool({ name: 'instance', arguments: { action: 'read', limit: 10 } }),
    );
    expect((read.instances as unknown[]).length).toBe(2);
  });
});

describe('errors', () => {
  it('refuses companyId with -32602 naming it', async () => {
    const error = await rpcError(
      client.callTool({
        name: 'run_workflow',
        arguments: { workflowId: 'ai_shop_checkup', companyId: 'c1' },
      }),
    );
    expect(error.code).toBe(-32602);
    expect(error.message).toContain('companyId');
  });

  it('refuses a missing workflowId with -32602 naming it', async () => {
    const error = await rpcError(client.callTool({ name: 'run_workflow', arguments: {} }));
    expect(error.code).toBe(-32602);
    expect(error.message).toContain('workflowId');
  });

  it('create_workflow with generate: true answers at once with the workflow generating', async () => {
    const created = textJson(
      await client.callTool({
        name: 'create_workflow',
        arguments: { title: 'Qualify leads', description: 'Score inbound leads', generate: true },
      }),
    );
    expect(created).toMatchObject({ slug: 'qualifyLeads', status: 'generating', totalSteps: 0 });
    // No LLM here: the catalogue planner answers (the runner started with the worker above).
    await waitFor(async () => (await stepwise.workflows.get(orgId, 'qualifyLeads')).status === 'active');
    const stored = await stepwise.workflows.get(orgId, 'qualifyLeads');
    expect(stored.generation).toMatchObject({ state: 'succeeded', planner: 'catalogue' });
  });

  it('refuses steps the services reject with -32602 naming the field', async () => {
    const error = await rpcError(
      client.callTool({
        name: 'create_workflow',
        arguments: { title: 'Bad', steps: [{ id: 'a', tool: 'nope' }] },
      }),
    );
    expect(error.code).toBe(-32602);
    expect(error.message).toContain('steps.0.tool');
  });

  it('answers an unknown workflow with -32000', async () => {
    const error = await rpcError(
      client.callTool({ name: 'run_workflow', arguments: { workflowId: 'nope' } }),
    );
    expect(error.code).toBe(-32000);
    expect(error.message).toContain("'nope'");
  });

  it("answers another org's run as not found (-32000)", async () => {
    const other = await stepwise.keys.create({ orgName: 'other', scopes: ['admin'], plan: 'unlimited' });
    const wf = await stepwise.workflows.create(other.org_id, { title: 'Theirs', steps: quick });
    const { run } = await stepwise.runs.start(other.org_id, wf.id);
    const error = await rpcError(client.callTool({ name: 'get_run_status', arguments: { runId: run.id } }));
    expect(error.code).toBe(-32000);
  });

  it('answers a missing scope with -32000 naming it', async () => {
    const reader = await stepwise.keys.create({ orgName: 'acme', scopes: ['workflows:read'] });
    const readOnly = await connectInMemory(stepwise, reader.key);
    const error = await rpcError(
      readOnly.callTool({ name: 'run_workflow', arguments: { workflowId: 'enrichLead' } }),
    );
    expect(error.code).toBe(-32000);
    expect(error.message).toContain('workflows:write');
    await readOnly.close();
  });
});
