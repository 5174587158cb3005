import { z } from 'zod';
import type { Stepwise } from '../app/stepwise.js';
import { StepwiseError } from '../domain/errors.js';
import type { WorkflowRecord } from '../domain/model.js';
import { defineTool } from './tool-definition.js';

const MAX_ACTIONS_LISTED = 500;

async function findAction(stepwise: Stepwise, orgId: string, action: string): Promise<WorkflowRecord | null> {
  try {
    return await stepwise.workflows.get(orgId, action);
  } catch (error) {
    if (error instanceof StepwiseError && error.status === 404) return null;
    throw error;
  }
}

/**
 * `workflows { action, payload }` (document 000): runs the org's workflow whose slug is
 * `action` (an id works too, as in REST), with `payload` as input; `payload.site_id`
 * defaults to the key's site. An unknown action is a 404 (`-32000`) listing the org's actions.
 */
export const workflowsActionTool = defineTool({
  name: 'workflows',
  description:
    'Execute business and data workflows. Use this tool to trigger backend processes (lead research, campaign ' +
    "building, content generation, …). `action` is the name (slug) of one of the organisation's workflows; " +
    'list_workflows shows them.',
  input: z.strictObject({
    action: z.string().min(1).max(200).describe('The workflow action to execute: a workflow slug'),
    payload: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'The parameters for the workflow. Must include site_id (automatically injected if not provided).',
      ),
  }),
  output: z.object({
    success: z.literal(true),
    result: z.object({
      run_id: z.string(),
      status: z.string(),
      workflow: z.string().describe('The action (workflow slug) that runs'),
      workflow_id: z.string(),
      site_id: z.string(),
    }),
  }),
  access: { scope: 'workflows:write', mutating: true },
  async run(args, { stepwise, principal }) {
    const orgId = principal.org_id;
    const workflow = await findAction(stepwise, orgId, args.action);
    if (!workflow) {
      const page = await stepwise.workflows.list(orgId, { limit: MAX_ACTIONS_LISTED, offset: 0 });
      const names = [...new Set(page.map((w) => w.slug))].sort();
      throw new StepwiseError(
        'UNKNOWN_ACTION',
        404,
        `action '${args.action}' is not a workflow of this organisation; actions: ${names.join(', ') || '(none yet)'}`,
        { field: 'action' },
      );
    }
    const payload = { ...args.payload };
    const requested = payload.site_id === undefined ? undefined : (payload.site_id as string);
    const siteId = await stepwise.instances.resolveSiteId(orgId, requested, principal.site_id);
    payload.site_id = siteId;
    const { run } = await stepwise.runs.start(orgId, workflow.id, {
      input: payload,
      site_id: siteId,
      trigger: { type: 'api', via: 'mcp', action: workflow.slug, key_id: principal.key_id },
    });
    return {
      success: true as const,
      result: {
        run_id: run.id,
        status: run.status,
        workflow: workflow.slug,
        workflow_id: workflow.id,
        site_id: siteId,
      },
    };
  },
});
