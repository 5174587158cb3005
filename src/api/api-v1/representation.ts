import type { WorkflowGeneration } from '../../domain/generation.js';
import type { RunRecord, WorkflowRecord } from '../../domain/model.js';
import type { MarketplaceListing } from '../../domain/marketplace.js';
import { iso, isoOrNull } from '../../domain/clock.js';

/**
 * Progress as document 004 computes it: `current_step / total_steps` (its example: step 2
 * of 5 → 0.4), so the step in flight counts; 1 once the run ended well.
 */
export function apiV1Progress(run: Pick<RunRecord, 'status' | 'current_step' | 'total_steps'>): number {
  if (run.status === 'completed' || run.status === 'partial_complete') return 1;
  if (run.total_steps === 0) return 0;
  return Math.round((Math.min(run.current_step, run.total_steps) / run.total_steps) * 1000) / 1000;
}

/** A workflow as document 004's Workflow Object: snake_case, `trigger_config`, `is_public`. */
export function apiV1Workflow(workflow: WorkflowRecord) {
  return {
    id: workflow.id,
    title: workflow.title,
    description: workflow.description,
    trigger_config: workflow.trigger_config,
    steps: workflow.definition.steps,
    timeout_ms: workflow.definition.timeout_ms ?? null,
    concurrency: workflow.definition.concurrency ?? null,
    throttle: workflow.definition.throttle ?? null,
    max_iterations: workflow.definition.max_iterations ?? null,
    priority: workflow.definition.priority ?? 0,
    status: workflow.status,
    is_public: workflow.is_public,
    created_at: iso(workflow.created_at),
    updated_at: iso(workflow.updated_at),
    version: workflow.version,
    slug: workflow.slug,
    generation: workflow.generation ? apiV1Generation(workflow.generation) : null,
  };
}

/** How the steps were generated, times as ISO strings like the rest of the object. */
export function apiV1Generation(generation: WorkflowGeneration) {
  return {
    ...generation,
    requested_at: isoOrNull(generation.requested_at),
    started_at: isoOrNull(generation.started_at),
    finished_at: isoOrNull(generation.finished_at),
  };
}

/**
 * `GET …/status`: the workflow's latest run. A workflow that never ran is `idle` with
 * zeros, a value no run status uses, so a client cannot mistake it for a run's state.
 */
export function apiV1Status(workflow: WorkflowRecord, latest: RunRecord | undefined) {
  if (!latest) {
    return {
      workflow_id: workflow.id,
      status: 'idle',
      current_step: 0,
      total_steps: 0,
      progress: 0,
      execution_id: null,
    };
  }
  return {
    workflow_id: workflow.id,
    status: latest.status,
    current_step: latest.current_step,
    total_steps: latest.total_steps,
    progress: apiV1Progress(latest),
    execution_id: latest.id,
  };
}

/** One entry of `GET …/executions`: a run, with its input as `context` and its output as `result`. */
export function apiV1Execution(run: RunRecord) {
  return {
    id: run.id,
    workflow_id: run.workflow_id,
    workflow_version: run.workflow_version,
    status: run.status,
    created_at: iso(run.created_at),
    started_at: isoOrNull(run.started_at),
    completed_at: isoOrNull(run.finished_at),
    duration_ms:
      run.finished_at !== null && run.started_at !== null ? run.finished_at - run.started_at : null,
    current_step: run.current_step,
    total_steps: run.total_steps,
    progress: apiV1Progress(run),
    context: run.input,
    result: run.output,
    error: run.error,
  };
}

/**
 * A marketplace listing as `explore`, `community` and `public/{id}` show it (the dashboard reads
 * the same shape). Where it was published from is never part of it.
 */
export function apiV1Listing(listing: MarketplaceListing) {
  return {
    id: listing.id,
    kind: listing.kind,
    slug: listing.slug,
    title: listing.title,
    description: listing.description,
    category: listing.category,
    credit_cost: listing.snapshot.credit_cost,
    estimated_duration: listing.snapshot.estimated_duration,
    inputs: listing.snapshot.inputs,
    trigger_config: listing.snapshot.trigger_config,
    steps: listing.snapshot.steps,
    required_secrets: listing.snapshot.required_secrets,
    install_count: listing.install_count,
    published_at: isoOrNull(listing.published_at),
    updated_at: iso(listing.updated_at),
  };
}
