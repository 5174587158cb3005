import { z } from 'zod';
import { StepFailure, StepwiseError, permanentFailure } from '../domain/errors.js';
import { FINAL_RUN_STATUSES } from '../domain/run-state.js';
import type { StepTool, SubRunPort, ToolOutcome } from './tool.js';

const workflowParamsSchema = z.strictObject({
  /** The child workflow's id or slug, in the same org. */
  workflow: z.string().min(1).max(200),
  input: z.unknown().optional(),
  /** Wait for the child run to end (default), or only start it. */
  wait: z.boolean().default(true),
});
/** Params of the `workflow` tool, as validated. */
export type WorkflowParams = z.infer<typeof workflowParamsSchema>;

interface SubRunState {
  run_id: string;
}

/** The service refuses with our errors: a 4xx is final (unknown workflow, no credits), except a rate limit. */
function startFailure(error: unknown, workflow: string): unknown {
  if (!(error instanceof StepwiseError) || error.status >= 500) return error;
  const message = `could not start workflow '${workflow}': ${error.message}`;
  if (error.status === 429) {
    return new StepFailure('SUB_WORKFLOW_START_FAILED', message, {
      retryAfterMs: error.retryAfterSeconds === undefined ? undefined : error.retryAfterSeconds * 1000,
      details: { code: error.code },
    });
  }
  return permanentFailure('SUB_WORKFLOW_START_FAILED', message, { code: error.code });
}

/** Finishes the step if the child run has ended, else parks until it does. */
async function settle(runs: SubRunPort, runId: string): Promise<ToolOutcome> {
  const run = await runs.get(runId);
  if (!run)
    throw permanentFailure('SUB_WORKFLOW_FAILED', `sub-workflow run ${runId} no longer exists`, {
      run_id: runId,
    });
  if (!(FINAL_RUN_STATUSES as readonly string[]).includes(run.status)) {
    return {
      kind: 'suspend',
      state: { run_id: runId } satisfies SubRunState,
      wake_at: null,
      wait: { kind: 'run', run_id: runId },
    };
  }
  if (run.status === 'completed' || run.status === 'partial_complete') {
    return { kind: 'done', output: { run_id: runId, status: run.status, output: run.output } };
  }
  const why = run.error ? `: ${run.error.code}: ${run.error.message}` : '';
  throw permanentFailure('SUB_WORKFLOW_FAILED', `sub-workflow run ${runId} ended ${run.status}${why}`, {
    run_id: runId,
    status: run.status,
    error: run.error,
  });
}

/** The `workflow` tool: runs another workflow of the org as a step. */
export const workflowTool: StepTool<WorkflowParams> = {
  name: 'workflow',
  description:
    'Starts another workflow of this org (by id or slug) with `input`. With wait: true (default) the step waits, ' +
    'holding no worker, until that run ends and outputs { run_id, status, output }; a child that fails or is ' +
    'cancelled fails this step with SUB_WORKFLOW_FAILED. With wait: false it outputs { run_id } at once. ' +
    'Retries and crashes never start a second child run.',
  params: workflowParamsSchema,
  async execute(params, ctx) {
    if (ctx.resume) return settle(ctx.runs, (ctx.resume.state as SubRunState).run_id);
    let runId: string;
    try {
      // The step's idempotency key makes a repeated start find the run it already began.
      runId = (await ctx.runs.start(params.workflow, params.input ?? {}, ctx.idempotency_key)).id;
    } catch (error) {
      throw startFailure(error, params.workflow);
    }
    if (!params.wait) return { kind: 'done', output: { run_id: runId } };
    return settle(ctx.runs, runId);
  },
};
