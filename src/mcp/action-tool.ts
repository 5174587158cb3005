import { z } from 'zod';
import { defineTool } from './tool-definition.js';

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
    const { workflow, run, site_id } = await stepwise.actions.start({
      principal,
      action: args.action,
      payload: args.payload ?? {},
      via: 'mcp',
    });
    return {
      success: true as const,
      result: {
        run_id: run.id,
        status: run.status,
        workflow: workflow.slug,
        workflow_id: workflow.id,
        site_id,
      },
    };
  },
});
