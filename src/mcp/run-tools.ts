import { z } from 'zod';
import type { RunRecord } from '../domain/model.js';
import { RUN_STATUSES } from '../domain/run-state.js';
import { estimateDuration } from './estimated-duration.js';
import { defineTool, type McpTool } from './tool-definition.js';
import { invalidArgument } from './tool-errors.js';
import { isoOrNull } from '../domain/clock.js';

const READ = { scope: 'workflows:read', mutating: false } as const;
const WRITE = { scope: 'workflows:write', mutating: true } as const;

const POLL_HINT =
  'Poll get_run_status with this runId to track progress. Status will transition from pending → running → completed.';

const runStatus = z.enum(RUN_STATUSES);
const errorInfo = z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() });

/** 0..1: the share of steps done; 1 once the run completed. */
export function runProgress(run: RunRecord): number {
  if (run.status === 'completed' || run.status === 'partial_complete') return 1;
  if (run.total_steps === 0) return 0;
  return Math.round((Math.min(run.step_index, run.total_steps) / run.total_steps) * 1000) / 1000;
}

/** `run_workflow` (document 003): start a run; the answer comes at once with the run id. */
export const runWorkflowTool = defineTool({
  name: 'run_workflow',
  description:
    'Start a workflow run (asynchronous). Returns a runId immediately. The workflow executes in the background — ' +
    'poll get_run_status with the returned runId until status is "completed", "partial_complete", or "failed". ' +
    'This is a mutating tool subject to the stricter rate limit of 10 requests/minute. ' +
    'companyId is injected from your API key: do not pass it.',
  input: z.strictObject({
    workflowId: z
      .string()
      .min(1)
      .describe('The workflow ID (or slug) to run. Use list_workflows to see available IDs.'),
    configuration: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'Optional configuration passed to the workflow as its input. Can include a "context" string with additional instructions.',
      ),
  }),
  output: z.object({
    runId: z.string().describe('Unique identifier for this run. Use with get_run_status.'),
    workflowId: z.string().describe('The workflow that was started'),
    workflowName: z.string().describe('Human-readable workflow name'),
    status: z.literal('pending').describe('Initial status, always "pending"'),
    creditsReserved: z.number().describe('Credits reserved for this run'),
    estimatedDuration: z.string().describe('Expected completion time'),
    _hint: z.string().describe('Guidance on next steps'),
  }),
  access: WRITE,
  precheck(raw) {
    if ('companyId' in raw) {
      throw invalidArgument('companyId', 'is injected from your API key; do not pass it');
    }
  },
  async run(args, { stepwise, principal }) {
    const { run } = await stepwise.runs.start(principal.org_id, args.workflowId, {
      input: args.configuration ?? {},
      site_id: principal.site_id,
      trigger: { type: 'api', via: 'mcp', key_id: principal.key_id },
    });
    const workflow = await stepwise.workflows.get(principal.org_id, run.workflow_id);
    return {
      runId: run.id,
      workflowId: args.workflowId,
      workflowName: workflow.title,
      status: 'pending' as const,
      creditsReserved: run.credits_reserved,
      estimatedDuration: await estimateDuration(stepwise.reports, workflow, stepwise.clock.now()),
      _hint: POLL_HINT,
    };
  },
});

const runStatusOutput = z.object({
  runId: z.string(),
  workflowId: z.string(),
  status: runStatus,
  progress: z.number().describe('0..1, the share of steps done'),
  currentStep: z.number().describe('1-based number of the step in flight or last run; 0 before any'),
  totalSteps: z.number(),
  result: z.unknown().describe('The output of a finished run, else null'),
  error: errorInfo.nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

/** `get_run_status`: where a run is, and its result or error once it ended. */
export const getRunStatusTool = defineTool({
  name: 'get_run_status',
  description:
    'Status of a run started with run_workflow: pending, running, completed, partial_complete, failed or cancelled, ' +
    'with progress, the current step, and the result or error once it ended. Poll at 5-10 second intervals.',
  input: z.strictObject({ runId: z.string().min(1).describe('The runId returned by run_workflow') }),
  output: runStatusOutput,
  access: READ,
  async run(args, { stepwise, principal }) {
    const run = await stepwise.runs.get(principal.org_id, args.runId);
    return {
      runId: run.id,
      workflowId: run.workflow_id,
      status: run.status,
      progress: runProgress(run),
      currentStep: run.current_step,
      totalSteps: run.total_steps,
      result: run.output ?? null,
      error: run.error,
      createdAt: new Date(run.created_at).toISOString(),
      startedAt: isoOrNull(run.started_at),
      finishedAt: isoOrNull(run.finished_at),
    };
  },
});

/** `cancel_run`: a run not started is cancelled at once; one in flight within moments. */
export const cancelRunTool = defineTool({
  name: 'cancel_run',
  description:
    'Cancel a run. A pending or waiting run is cancelled at once; a running one stops its current step within moments ' +
    '(status stays "running" with cancelRequested true until then). Cancelled runs do not consume credits. ' +
    'With cascade (default true) the sub-workflow runs it started, and theirs, are cancelled too.',
  input: z.strictObject({
    runId: z.string().min(1),
    reason: z.string().max(500).optional().describe('Kept on the run timeline'),
    cascade: z.boolean().optional().describe('Also cancel its unfinished sub-workflow runs (default true)'),
  }),
  output: z.object({ runId: z.string(), status: runStatus, cancelRequested: z.boolean() }),
  access: WRITE,
  async run(args, { stepwise, principal }) {
    const run = await stepwise.runs.cancel(principal.org_id, args.runId, {
      reason: args.reason,
      cascade: args.cascade,
    });
    return { runId: run.id, status: run.status, cancelRequested: run.cancel_requested };
  },
});

/** `list_runs`: the org's runs, newest first, optionally of one workflow or in some states. */
export const listRunsTool = defineTool({
  name: 'list_runs',
  description: "The organisation's runs, newest first; filter by workflow (id or slug) and status.",
  input: z.strictObject({
    workflowId: z.string().min(1).optional(),
    status: z.array(runStatus).optional(),
    limit: z.number().int().min(1).max(100).default(20),
    offset: z.number().int().min(0).default(0),
  }),
  output: z.object({
    runs: z.array(
      runStatusOutput.pick({
        runId: true,
        workflowId: true,
        status: true,
        progress: true,
        createdAt: true,
        finishedAt: true,
      }),
    ),
  }),
  access: READ,
  async run(args, { stepwise, principal }) {
    const workflowId =
      args.workflowId === undefined
        ? undefined
        : (await stepwise.workflows.get(principal.org_id, args.workflowId)).id;
    const runs = await stepwise.runs.list(principal.org_id, {
      workflow_id: workflowId,
      status: args.status,
      limit: args.limit,
      offset: args.offset,
    });
    return {
      runs: runs.map((run) => ({
        runId: run.id,
        workflowId: run.workflow_id,
        status: run.status,
        progress: runProgress(run),
        createdAt: new Date(run.created_at).toISOString(),
        finishedAt: isoOrNull(run.finished_at),
      })),
    };
  },
});

export const RUN_TOOLS: McpTool[] = [runWorkflowTool, getRunStatusTool, cancelRunTool, listRunsTool];
