import { z } from 'zod';
import type { WorkflowRecord } from '../domain/model.js';
import type { Stepwise } from '../app/stepwise.js';
import { estimateDuration } from './estimated-duration.js';
import { defineTool, type McpTool } from './tool-definition.js';

const READ = { scope: 'workflows:read', mutating: false } as const;
const WRITE = { scope: 'workflows:write', mutating: true } as const;

const workflowSummary = z.object({
  id: z.string().describe('Pass this (or the slug) as workflowId to run_workflow'),
  slug: z.string(),
  name: z.string(),
  description: z.string(),
  creditCost: z.number(),
  estimatedDuration: z.string(),
  status: z.string(),
});

async function summarize(stepwise: Stepwise, workflow: WorkflowRecord) {
  return {
    id: workflow.id,
    slug: workflow.slug,
    name: workflow.title,
    description: workflow.description,
    creditCost: workflow.credit_cost,
    estimatedDuration: await estimateDuration(stepwise.reports, workflow, stepwise.clock.now()),
    status: workflow.status,
  };
}

/** `list_workflows` (document 003): what the caller's org can run. */
export const listWorkflowsTool = defineTool({
  name: 'list_workflows',
  description:
    "The organisation's workflows with their credit cost and expected duration. Use an id or slug as run_workflow's workflowId.",
  input: z.strictObject({
    limit: z.number().int().min(1).max(100).default(50),
    offset: z.number().int().min(0).default(0),
  }),
  output: z.object({ workflows: z.array(workflowSummary) }),
  access: READ,
  async run(args, { stepwise, principal }) {
    const workflows = await stepwise.workflows.list(principal.org_id, args);
    return { workflows: await Promise.all(workflows.map((workflow) => summarize(stepwise, workflow))) };
  },
});

/** `get_workflow`: one workflow with its steps and trigger. */
export const getWorkflowTool = defineTool({
  name: 'get_workflow',
  description: 'One workflow (by id or slug): its steps, trigger, credit cost and expected duration.',
  input: z.strictObject({ workflowId: z.string().min(1).describe('The workflow id or slug') }),
  output: workflowSummary.extend({
    version: z.number(),
    triggerConfig: z.record(z.string(), z.unknown()),
    steps: z.array(z.record(z.string(), z.unknown())),
  }),
  access: READ,
  async run(args, { stepwise, principal }) {
    const workflow = await stepwise.workflows.get(principal.org_id, args.workflowId);
    return {
      ...(await summarize(stepwise, workflow)),
      version: workflow.version,
      triggerConfig: workflow.trigger_config,
      steps: workflow.definition.steps,
    };
  },
});

/** `create_workflow`: a new workflow from a title and steps; the services check the steps. */
export const createWorkflowTool = defineTool({
  name: 'create_workflow',
  description:
    'Create a workflow: a title and ordered steps, each { id, tool, params } with tool one of http, transform, ' +
    'condition, delay, wait_for_event, llm, webhook, email, workflow, log. Params may reference {{ input.x }} ' +
    'and {{ steps.<id>.output }}. The slug (derived from the title unless given) is its action name. ' +
    'With generate: true and no steps, the steps are generated from the title and description (by the ' +
    "configured LLM, else from the template catalogue): the workflow is 'generating' until get_workflow shows it 'active'.",
  input: z.strictObject({
    title: z.string().min(1).max(200),
    description: z.string().max(5000).optional(),
    slug: z.string().min(1).max(64).optional(),
    steps: z.array(z.record(z.string(), z.unknown())).max(500).default([]),
    generate: z.boolean().optional().describe('Generate the steps from the title and description'),
    trigger_config: z.record(z.string(), z.unknown()).optional(),
    credit_cost: z.number().int().min(0).optional(),
    timeout_ms: z.number().int().min(1).optional(),
    max_iterations: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .describe('Step executions one run may make, loop passes included (default 1000)'),
    metadata: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Free-form; "estimated_duration" (e.g. "3-5 min") is shown until runs give a measured one'),
  }),
  output: workflowSummary.extend({ version: z.number(), totalSteps: z.number() }),
  access: WRITE,
  async run({ generate, ...args }, { stepwise, principal }) {
    const input = { ...args, steps: args.steps as never, trigger_config: args.trigger_config as never };
    const workflow = await stepwise.generations.createOrGenerate(principal.org_id, input, generate === true);
    return {
      ...(await summarize(stepwise, workflow)),
      version: workflow.version,
      totalSteps: workflow.definition.steps.length,
    };
  },
});

export const WORKFLOW_TOOLS: McpTool[] = [listWorkflowsTool, getWorkflowTool, createWorkflowTool];
