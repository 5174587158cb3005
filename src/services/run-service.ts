import type { Clock } from '../domain/clock.js';
import { conflict, notFound, StepwiseError, validationError } from '../domain/errors.js';
import { parsePeriodMs, renderGroupKey, throttleGroup } from '../domain/flow-control.js';
import { newId } from '../domain/ids.js';
import type {
  Millis,
  RunEventRecord,
  RunRecord,
  RunStepRecord,
  RunTrigger,
  WorkflowDefinition,
} from '../domain/model.js';
import { RUN_STATUSES, type RunStatus } from '../domain/run-state.js';
import { NotJsonError, toStorableJson, type JsonValue } from '../domain/storable-json.js';
import { RunAdmissionRefused, type Store, type ThrottleRequest } from '../store/store.js';
import type { PlanService } from './plan-service.js';
import type { WorkflowService } from './workflow-service.js';

export interface StartRunOptions {
  input?: unknown;
  /**
   * The same key in the same org returns the run it first started; on another workflow it
   * is refused (409 IDEMPOTENCY_KEY_REUSED).
   */
  idempotency_key?: string;
  trigger?: RunTrigger;
  site_id?: string | null;
  parent_run_id?: string | null;
}

export interface RunDetail {
  run: RunRecord;
  steps: RunStepRecord[];
  events: RunEventRecord[];
}

const MAX_INPUT_BYTES = 1_000_000;

/** The input as the stores keep it, so the run that starts reads exactly what is stored. */
function storableInput(input: unknown): JsonValue {
  try {
    return toStorableJson(input);
  } catch (error) {
    if (error instanceof NotJsonError) throw validationError('input', `input: ${error.message}`);
    throw error;
  }
}

/**
 * Checks the workflow's concurrency key renders over the input (400 otherwise) and, for a
 * throttled workflow, says which throttle group counts this start. The store counts it,
 * once the start is accepted.
 */
function throttleRequest(
  workflowId: string,
  definition: WorkflowDefinition,
  run: { id: string; input: unknown },
): ThrottleRequest | undefined {
  const { concurrency, throttle } = definition;
  if (concurrency) {
    renderGroupKey(concurrency.key, { ...run, workflow_id: workflowId }, 'concurrency.key');
  }
  if (!throttle) return undefined;
  const key = renderGroupKey(throttle.key, { ...run, workflow_id: workflowId }, 'throttle.key');
  return {
    group: throttleGroup(workflowId, key),
    limit: throttle.limit,
    period_ms: parsePeriodMs(throttle.period) ?? 60_000,
  };
}

/** The bounds on sub-workflows (`STEPWISE_MAX_SUB_WORKFLOW_DEPTH`, `STEPWISE_MAX_CHILD_RUNS`). */
export interface FanOutLimits {
  /** Deepest nesting of a child run; a run started from outside is depth 0. */
  maxDepth: number;
  /** Most runs one run may start over its whole life. */
  maxChildRuns: number;
}

export const DEFAULT_FAN_OUT: FanOutLimits = { maxDepth: 10, maxChildRuns: 1000 };

/** Starting, reading and cancelling runs. */
export class RunService {
  constructor(
    private readonly store: Store,
    private readonly workflows: WorkflowService,
    private readonly clock: Clock,
    /** Plans, credits and concurrency; without it (tests of other rules) nothing is checked. */
    private readonly plans?: PlanService,
    private readonly fanOut: FanOutLimits = DEFAULT_FAN_OUT,
  ) {}

  /**
   * Starts a run, after document 003's pre-flight checks: the workflow exists (404),
   * its plan allows it (403 PLAN_ACCESS_DENIED), the org is under its concurrency cap
   * (429 CONCURRENCY_LIMIT) and has the credits (402 INSUFFICIENT_CREDITS), which are
   * reserved atomically with the insert. Every start goes through here: REST, MCP,
   * schedules, event triggers and sub-workflows. A sub-workflow start (`parent_run_id`)
   * is also bounded: its workflow must be active (409 WORKFLOW_INACTIVE: a deactivated
   * workflow starts no new children, though a person may still run it by hand, as in
   * n8n), its depth at most `maxDepth` (409 SUB_WORKFLOW_DEPTH_EXCEEDED), its parent under
   * `maxChildRuns` started runs (409 SUB_WORKFLOW_LIMIT_EXCEEDED) and not being cancelled
   * (409 PARENT_RUN_STOPPING). The run is of the workflow's current version.
   * @returns the run and whether this call created it. */
  async start(
    orgId: string,
    workflowRef: string,
    options: StartRunOptions = {},
  ): Promise<{ run: RunRecord; created: boolean }> {
    const workflow = await this.workflows.get(orgId, workflowRef);
    if (workflow.status === 'generating' || workflow.status === 'failed') {
      throw new StepwiseError(
        'WORKFLOW_NOT_RUNNABLE',
        409,
        `workflow '${workflow.id}' is '${workflow.status}' and has no steps to run yet`,
      );
    }
    const depth = options.parent_run_id ? await this.childDepth(orgId, options.parent_run_id) : 0;
    const input = storableInput(options.input ?? {});
    if (JSON.stringify(input).length > MAX_INPUT_BYTES) {
      throw validationError('input', 'input: a run input is at most 1 MB of JSON');
    }
    if (
      options.idempotency_key !== undefined &&
      (options.idempotency_key.length < 1 || options.idempotency_key.length > 255)
    ) {
      throw validationError('idempotency_key', 'idempotency_key: between 1 and 255 characters');
    }
    const { plan, admission } = this.plans
      ? await this.plans.admission(orgId, workflow)
      : { plan: null, admission: undefined };
    const now = this.clock.now();
    const id = newId('run');
    const throttle = throttleRequest(workflow.id, workflow.definition, { id, input });
    const run: RunRecord = {
      id,
      org_id: orgId,
      site_id: options.site_id ?? null,
      workflow_id: workflow.id,
      workflow_version: workflow.version,
      input,
      total_steps: workflow.definition.steps.length,
      cancel_requested: false,
      idempotency_key: options.idempotency_key ?? null,
      parent_run_id: options.parent_run_id ?? null,
      trigger: options.trigger ?? { type: 'api' },
      credits_reserved: admission?.credits ?? 0,
      credits_consumed: 0,
      lease_epoch: 0,
      priority: workflow.definition.priority ?? 0,
      depth,
      created_at: now,
      status: 'pending',
      step_index: 0,
      current_step: 0,
      attempt: 1,
      iteration: 1,
      step_passes: {},
      step_state: null,
      resume_payload: null,
      available_at: now,
      lease_owner: null,
      lease_expires_at: null,
      wait_event_type: null,
      wait_match: null,
      wait_run_id: null,
      has_failed_steps: false,
      output: null,
      error: null,
      started_at: null,
      finished_at: null,
      deadline_at: null,
      updated_at: now,
    };
    const event = {
      run_id: id,
      type: 'run.created' as const,
      // The store adds `throttled_until` when the throttle puts the start in a later window.
      data: { workflow_version: workflow.version, trigger: run.trigger },
      at: now,
    };
    const child = run.parent_run_id === null ? undefined : { max_children: this.fanOut.maxChildRuns };
    let inserted: { run: RunRecord; created: boolean };
    try {
      inserted = await this.store.insertRun({ run, event, admission, throttle, child });
    } catch (error) {
      if (!(error instanceof RunAdmissionRefused)) throw error;
      const childRefusal = this.childRefusal(error, run, workflow.id);
      if (childRefusal) throw childRefusal;
      if (this.plans && plan) throw this.plans.refusal(error, plan, workflow);
      throw error;
    }
    if (!inserted.created && inserted.run.workflow_id !== workflow.id) {
      // A replay answers a repeat of the same request. This key already stands for a run of
      // another workflow, which is not what this caller asked for: returning it would hide that.
      throw conflict(
        'IDEMPOTENCY_KEY_REUSED',
        `idempotency_key: '${options.idempotency_key}' already started run '${inserted.run.id}' of workflow '${inserted.run.workflow_id}'; use a new key to run workflow '${workflow.id}'`,
      );
    }
    return inserted;
  }

  /**
   * The depth of a child of `parentRunId`, refused past the cap. Whether the workflow is
   * active is the store's to check, after the idempotency lookup (see `NewRun.child`).
   */
  private async childDepth(orgId: string, parentRunId: string): Promise<number> {
    const parent = await this.get(orgId, parentRunId);
    const depth = parent.depth + 1;
    if (depth > this.fanOut.maxDepth) {
      throw new StepwiseError(
        'SUB_WORKFLOW_DEPTH_EXCEEDED',
        409,
        `run '${parent.id}' is at sub-workflow depth ${parent.depth}; runs nest at most ${this.fanOut.maxDepth} deep (STEPWISE_MAX_SUB_WORKFLOW_DEPTH)`,
      );
    }
    return depth;
  }

  private childRefusal(
    refused: RunAdmissionRefused,
    run: RunRecord,
    workflowId: string,
  ): StepwiseError | null {
    switch (refused.reason) {
      case 'workflow_inactive':
        return workflowInactive(workflowId);
      case 'parent_stopping':
        return new StepwiseError(
          'PARENT_RUN_STOPPING',
          409,
          `run '${run.parent_run_id}' is cancelled or has ended, so it starts no more runs`,
        );
      case 'children':
        return new StepwiseError(
          'SUB_WORKFLOW_LIMIT_EXCEEDED',
          409,
          `run '${run.parent_run_id}' already started ${refused.value} runs; one run may start at most ${this.fanOut.maxChildRuns} (STEPWISE_MAX_CHILD_RUNS)`,
        );
      default:
        return null;
    }
  }

  async get(orgId: string, runId: string): Promise<RunRecord> {
    const run = await this.store.getRun(orgId, runId);
    if (!run) throw notFound('run', runId);
    return run;
  }

  /** A run and its step attempts, without the timeline: what status pollers read. */
  async withSteps(orgId: string, runId: string): Promise<Omit<RunDetail, 'events'>> {
    const run = await this.get(orgId, runId);
    return { run, steps: await this.store.listRunSteps(run.id) };
  }

  async detail(orgId: string, runId: string): Promise<RunDetail> {
    const run = await this.get(orgId, runId);
    const [steps, events] = await Promise.all([
      this.store.listRunSteps(run.id),
      this.store.listRunEvents(run.id),
    ]);
    return { run, steps, events };
  }

  list(
    orgId: string,
    filter: {
      workflow_id?: string;
      status?: RunStatus[];
      created_after?: Millis;
      created_before?: Millis;
      limit?: number;
      offset?: number;
    } = {},
  ): Promise<RunRecord[]> {
    for (const status of filter.status ?? []) {
      if (!RUN_STATUSES.includes(status)) {
        throw validationError('status', `status: '${status}' is not one of ${RUN_STATUSES.join(', ')}`);
      }
    }
    return this.store.listRuns({
      org_id: orgId,
      workflow_id: filter.workflow_id,
      status: filter.status,
      created_after: filter.created_after,
      created_before: filter.created_before,
      limit: Math.min(Math.max(filter.limit ?? 50, 1), 500),
      offset: Math.max(filter.offset ?? 0, 0),
    });
  }

  /**
   * Cancels a run. A run no worker holds is cancelled at once; a run in flight gets a
   * cancel request that aborts its current step within moments. With `cascade` (the
   * default) its unfinished descendants are cancelled too. The run is cancelled first: a
   * run asked to cancel starts no more children, so none escapes the walk that follows.
   */
  async cancel(
    orgId: string,
    runId: string,
    { reason = 'cancelled by request', cascade = true }: { reason?: string; cascade?: boolean } = {},
  ): Promise<RunRecord> {
    const result = await this.cancelOne(orgId, runId, reason);
    if (!result) {
      const run = await this.get(orgId, runId);
      throw new StepwiseError(
        'RUN_ALREADY_FINISHED',
        409,
        `run '${run.id}' already finished as '${run.status}'`,
      );
    }
    if (cascade) {
      const because = `${reason} (cascaded from run ${runId})`;
      for (const descendant of await this.store.listActiveDescendants(orgId, runId)) {
        await this.cancelOne(orgId, descendant, because);
      }
    }
    return result.run;
  }

  private cancelOne(orgId: string, runId: string, reason: string) {
    const now = this.clock.now();
    return this.store.cancelRun(orgId, runId, now, {
      cancelled: { run_id: runId, type: 'run.cancelled', data: { reason }, at: now },
      requested: { run_id: runId, type: 'run.cancel_requested', data: { reason }, at: now },
    });
  }
}

function workflowInactive(workflowId: string): StepwiseError {
  return new StepwiseError(
    'WORKFLOW_INACTIVE',
    409,
    `workflow '${workflowId}' is not active, so no run may start it as a sub-workflow; activate it first`,
  );
}
