import type { CreditEntry, RunRecord, RunStepRecord, WorkflowRecord } from '../../domain/model.js';
import { apiV1Generation } from '../api-v1/representation.js';
import { iso, isoOrNull } from '../../domain/clock.js';

/** Progress as a fraction of steps done, 1 once the run ended well. */
export function runProgress(run: RunRecord): number {
  if (run.status === 'completed' || run.status === 'partial_complete') return 1;
  if (run.total_steps === 0) return 0;
  return Math.round((Math.min(run.step_index, run.total_steps) / run.total_steps) * 1000) / 1000;
}

/** A workflow as document 002's clients see it (camelCase, `callbackUrl`, `webhook`, `endCall`). */
export function v1Workflow(workflow: WorkflowRecord) {
  const { webhook, endCall, ...otherMetadata } = workflow.metadata as {
    webhook?: unknown;
    endCall?: unknown;
  };
  return {
    id: workflow.id,
    title: workflow.title,
    description: workflow.description,
    slug: workflow.slug,
    status: workflow.status,
    version: workflow.version,
    steps: workflow.definition.steps,
    timeoutMs: workflow.definition.timeout_ms ?? null,
    concurrency: workflow.definition.concurrency ?? null,
    throttle: workflow.definition.throttle ?? null,
    maxIterations: workflow.definition.max_iterations ?? null,
    priority: workflow.definition.priority ?? 0,
    triggerConfig: workflow.trigger_config,
    callbackUrl: workflow.callback_url,
    webhook: webhook ?? null,
    endCall: endCall ?? null,
    creditCost: workflow.credit_cost,
    metadata: otherMetadata,
    generation: workflow.generation ? apiV1Generation(workflow.generation) : null,
    createdAt: iso(workflow.created_at),
    updatedAt: iso(workflow.updated_at),
  };
}

/** A run as document 002 calls it: a job. */
export function v1Job(run: RunRecord, steps?: RunStepRecord[]) {
  return {
    jobId: run.id,
    workflowId: run.workflow_id,
    workflowVersion: run.workflow_version,
    status: run.status,
    progress: runProgress(run),
    currentStep: run.current_step,
    totalSteps: run.total_steps,
    input: run.input,
    output: run.output,
    error: run.error,
    trigger: run.trigger,
    createdAt: iso(run.created_at),
    startedAt: isoOrNull(run.started_at),
    finishedAt: isoOrNull(run.finished_at),
    durationMs: run.finished_at !== null && run.started_at !== null ? run.finished_at - run.started_at : null,
    ...(steps
      ? {
          steps: steps.map((step) => ({
            stepId: step.step_id,
            tool: step.tool,
            iteration: step.iteration,
            attempt: step.attempt,
            status: step.status,
            output: step.output,
            error: step.error,
            startedAt: isoOrNull(step.started_at),
            finishedAt: isoOrNull(step.finished_at),
          })),
        }
      : {}),
  };
}

/** A credit statement's times as ISO strings, as every other /v1 answer writes them. */
export function v1CreditStatement<T extends { renews_at: number | null; entries: CreditEntry[] }>(
  statement: T,
) {
  return {
    ...statement,
    renews_at: isoOrNull(statement.renews_at),
    entries: statement.entries.map((entry) => ({ ...entry, created_at: iso(entry.created_at) })),
  };
}
