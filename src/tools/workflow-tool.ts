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

/** Refusals of the fan-out caps: the step fails with the cap's own code, which names it. */
const FAN_OUT_CAPS: ReadonlySet<string> = new Set([
  'SUB_WORKFLOW_DEPTH_EXCEEDED',
  'SUB_WORKFLOW_LIMIT_EXCEEDED',
]);

/**
 * The service refuses with our errors: a 4xx is final (unknown or inactive workflow, no
 * credits, a fan-out cap), except a rate limit, and a refusal because this run is being
 * cancelled, which the cancel itself ends (retried, the next claim carries the cancel out).
 */
function startFailure(error: unknown, workflow: string): unknown {
  if (!(error instanceof StepwiseError) || error.status >= 500) return error;
  const message = `could not start workflow '${workflow}': ${error.message}`;
  if (FAN_OUT_CAPS.has(error.code)) return permanentFailure(error.code, message);
  if (error.code === 'PARENT_RUN_STOPPING') {
    return new StepFailure('SUB_WORKFLOW_START_FAILED', message, {
      retryAfterMs: 0,
      details: { code: error.code },
    });
  }
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
    'Retries and crashes never start a second child run. The workflow must be active; runs nest at most ' +
    'STEPWISE_MAX_SUB_WORKFLOW_DEPTH deep (SUB_WORKFLOW_DEPTH_EXCEEDED) and one run starts at most ' +
    'STEPWISE_MAX_CHILD_RUNS runs (SUB_WORKFLOW_LIMIT_EXCEEDED).',
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
