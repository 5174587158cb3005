import { permanentFailure, StepFailure, toErrorInfo, type ErrorInfo } from '../domain/errors.js';
import {
  pickProgress,
  type RunEventInput,
  type RunEventType,
  type RunProgress,
  type RunRecord,
  type RunStepRecord,
} from '../domain/model.js';
import { hasAttemptsLeft, retryDelayMs } from '../domain/retry.js';
import { assertTransition, type RunStatus } from '../domain/run-state.js';
import { SecretRedactor } from '../domain/secret-redaction.js';
import { referencedSecrets, type TemplateScope } from '../domain/templating.js';
import {
  DEFAULT_MAX_ITERATIONS,
  DEFAULT_RETRY_POLICY,
  nextStepIndex,
  type StepDefinition,
  type WorkflowDefinition,
} from '../domain/workflow.js';
import type { ToolOutcome } from '../tools/tool.js';
import { executedPasses, passesAfterMove } from '../domain/step-passes.js';
import { slotFor, type RunSlot } from './concurrency-slot.js';
import { CheckpointRefused } from './checkpoint-queue.js';
import { LeaseWatch } from './lease-watch.js';
import { RunRecorder } from './run-recorder.js';
import type { ExecutionDeps } from './execution-deps.js';
import { invokeStep, stopError, whenHolds, type StepResult, type StopReason } from './step-invocation.js';

export type { StopReason } from './step-invocation.js';

/** A step still running after this long has its start committed on its own, so it shows as running. */
const STEP_START_VISIBILITY_MS = 25;

/** A run waiting on a child run re-checks it this often, in case the child's wake-up was missed. */
const CHILD_RECHECK_MS = 30_000;

/**
 * Executes one leased run: step after step while it holds the lease, committing each
 * step's result with the run's cursor before starting the next. It returns when the
 * run finishes, parks (delay, event, retry backoff, child run) or is stopped.
 */
export class RunExecution {
  private readonly progress: RunProgress;
  private readonly stopper = new AbortController();
  private stopReason: StopReason | null = null;
  private lastOutput: unknown = null;
  private concurrencySlot: RunSlot | null = null;
  private definition: WorkflowDefinition | null = null;
  /**
   * When the run reached the step at its cursor, as a wait counts it: when the previous
   * step began (a callback it asked for may come back before its result is even read),
   * or, for a run this execution has not moved yet, its last checkpoint (its acceptance
   * when new).
   */
  private reachedAt: number;
  private stepStartedAt: number;
  private readonly leaseWatch: LeaseWatch;
  /** Knows every secret value the run's steps use: what this execution stores and logs goes through it. */
  private readonly redactor = new SecretRedactor();
  private readonly deps: ExecutionDeps;
  private readonly recorder: RunRecorder;

  /**
   * @param leaseConfirmedUntil `performance.now()` when the claim was asked for, plus the
   *   lease: the store set the expiry no earlier, whatever either clock says.
   */
  constructor(
    readonly run: RunRecord,
    private readonly outputs: Record<string, unknown>,
    deps: ExecutionDeps,
    leaseConfirmedUntil: number,
  ) {
    this.deps = {
      ...deps,
      log: (level, message, data) =>
        deps.log(level, this.redactor.redactText(message), this.redactor.redact(data)),
    };
    const { id: _id, ...rest } = run;
    this.progress = pickProgress(rest);
    this.progress.step_passes = { ...(this.progress.step_passes ?? {}) };
    this.recorder = new RunRecorder(run, this.progress, this.redactor, this.deps);
    this.leaseWatch = new LeaseWatch(leaseConfirmedUntil, () => this.stop('lease_lost'));
    this.reachedAt = run.updated_at;
    this.stepStartedAt = run.updated_at;
  }

  /** The lease this execution holds: what fences its writes. */
  get lease(): { id: string; lease_epoch: number } {
    return { id: this.run.id, lease_epoch: this.run.lease_epoch };
  }

  get id(): string {
    return this.run.id;
  }

  /** Why the execution was stopped from outside, if it was. */
  get stoppedFor(): StopReason | null {
    return this.stopReason;
  }

  /** Aborts the step in flight; the first reason given wins. */
  stop(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.stopper.abort(reason);
  }

  /** The run's concurrency slot, once it asked for one; the worker renews a held one with the lease. */
  get slot(): RunSlot | null {
    return this.concurrencySlot;
  }

  /** A renewal landed: the lease holds at least until `until` (`performance.now()` time); see `LeaseWatch`. */
  leaseConfirmed(until: number): void {
    this.leaseWatch.confirm(until);
  }

  /** `text` without the secret values this execution knows, for a line written about it elsewhere. */
  redactText(text: string): string {
    return this.redactor.redactText(text);
  }

  async execute(): Promise<void> {
    this.leaseWatch.start();
    try {
      await this.executeLeased();
    } catch (error) {
      if (!(error instanceof CheckpointRefused)) throw error;
      // Even the step's failure could not be stored: nothing more can be written for this
      // run now, so it is left to resume from its last stored step once its lease expires.
      this.deps.log(
        'error',
        'a checkpoint of the run could not be stored; it resumes after its lease expires',
        {
          run_id: this.run.id,
          error: error.message,
        },
      );
    } finally {
      this.leaseWatch.stop();
    }
  }

  private async executeLeased(): Promise<void> {
    const definition = await this.deps.definitions.definitionAt(
      this.run.workflow_id,
      this.run.workflow_version,
    );
    this.definition = definition;
    await this.learnSecrets(definition);
    // A cancel that reached a run waiting for a slot ends it now, without waiting for one.
    this.concurrencySlot = this.run.cancel_requested ? null : slotFor(this.run, definition, this.deps);
    const attempt = await this.concurrencySlot?.acquire(this.deps.clock.now());
    if (attempt && !attempt.held) {
      // Refused before any step ran: the run gives its lease back until the re-check.
      this.park(attempt.retryAt);
      await this.commit(attempt.events, []);
      return;
    }
    try {
      await this.executeSteps(definition, attempt?.events ?? []);
    } finally {
      await this.concurrencySlot?.release();
    }
  }

  /**
   * Decrypts every secret the workflow's steps reference, up front, so that an execution
   * resuming a run redacts the values the steps before it used as well as its own.
   */
  private async learnSecrets(definition: WorkflowDefinition): Promise<void> {
    const names = referencedSecrets(definition.steps.map((step) => step.params));
    if (names.size === 0) return;
    this.redactor.add(Object.values(await this.deps.secrets.resolve(this.run.org_id, names)));
  }

  private async executeSteps(definition: WorkflowDefinition, carried: RunEventInput[]): Promise<void> {
    const now = this.deps.clock.now();
    const events = [...carried];
    if (this.progress.started_at === null) {
      this.progress.started_at = now;
      this.progress.deadline_at = definition.timeout_ms ? now + definition.timeout_ms : null;
      events.push(this.recorder.event('run.started', { attempt: this.progress.attempt }, now));
    }
    const previous = definition.steps
      .slice(0, this.progress.step_index)
      .reverse()
      .find((step) => step.id in this.outputs);
    if (previous) this.lastOutput = this.outputs[previous.id];
    const deadlineTimer = this.armDeadline();
    try {
      if (this.run.cancel_requested) this.stop('cancel');
      await this.loop(definition, events);
    } finally {
      if (deadlineTimer) clearTimeout(deadlineTimer);
    }
  }

  private armDeadline(): NodeJS.Timeout | null {
    if (this.progress.deadline_at === null) return null;
    const timer = setTimeout(
      () => this.stop('run_timeout'),
      Math.max(0, this.progress.deadline_at - this.deps.clock.now()),
    );
    timer.unref();
    return timer;
  }

  private async loop(definition: WorkflowDefinition, carried: RunEventInput[]): Promise<void> {
    let events = carried;
    for (;;) {
      if (this.progress.deadline_at !== null && this.deps.clock.now() >= this.progress.deadline_at)
        this.stop('run_timeout');
      if (this.deps.draining?.()) this.stop('shutdown');
      if (this.leaseWatch.lapsed) this.stop('lease_lost');
      if (this.stopReason) return this.handleStop(this.stopReason, events, null);
      const step = definition.steps[this.progress.step_index];
      if (!step)
        return this.finish(this.progress.has_failed_steps ? 'partial_complete' : 'completed', events, null);
      const limit = definition.max_iterations ?? DEFAULT_MAX_ITERATIONS;
      if (this.progress.step_state === null && executedPasses(this.progress) >= limit) {
        return this.finish('failed', events, {
          code: 'MAX_ITERATIONS_EXCEEDED',
          message: `the run made ${limit} step executions, its workflow's max_iterations; a loop that never ends?`,
          step_id: step.id,
        } as ErrorInfo);
      }

      const startedAt = this.deps.clock.now();
      this.stepStartedAt = startedAt;
      const resuming = this.progress.step_state !== null || this.progress.resume_payload !== null;
      const holds =
        resuming ||
        step.when === undefined ||
        (await whenHolds(step.when!, this.scopeData(), this.deps, this.stopper.signal));
      if (this.stopReason) return this.handleStop(this.stopReason, events, null);
      if (holds instanceof StepFailure) {
        const failure = { kind: 'failure', failure: holds, params: null } as const;
        const next = await this.handleFailure(step, failure, events, startedAt, this.deps.clock.now());
        events = [];
        if (next === 'stop') return;
        continue;
      }
      if (!holds) {
        const record = this.recorder.stepRecord(step, 'skipped', null, null, null, startedAt);
        events.push(this.recorder.event('step.skipped', { step_id: step.id, when: step.when }, startedAt));
        this.advanceTo(this.progress.step_index + 1);
        if (!(await this.commit(events, [record]))) return;
        events = [];
        continue;
      }

      this.progress.current_step = this.progress.step_index + 1;
      events.push(
        this.recorder.event(
          'step.started',
          {
            step_id: step.id,
            step_index: this.progress.step_index,
            attempt: this.progress.attempt,
            ...(this.progress.iteration > 1 ? { iteration: this.progress.iteration } : {}),
            tool: step.tool,
          },
          startedAt,
        ),
      );
      // A quick step's start is committed together with its result (one write, not two);
      // a slow step's start is committed after a moment so status readers see it running.
      const startEvents = events;
      events = [];
      let startCommitted = false;
      const startTimer = setTimeout(() => {
        startCommitted = true;
        void this.commit(startEvents, []).catch(() => undefined);
      }, STEP_START_VISIBILITY_MS);
      const result = await this.runStep(step);
      clearTimeout(startTimer);
      if (!startCommitted) events = startEvents;
      const finishedAt = this.deps.clock.now();
      if (result.kind === 'stopped') {
        return this.handleStop(
          result.reason,
          events,
          this.recorder.stepRecord(step, 'failed', result.params, null, stopError(result.reason), startedAt),
        );
      }
      const next = await this.settleStoring(definition, step, result, events, startedAt, finishedAt);
      events = [];
      if (next === 'stop') return;
    }
  }

  /**
   * Settles the step's result. When the store refuses the checkpoint carrying it (even
   * retried alone), the step fails instead, once and for good, with a checkpoint that
   * leaves out its input and output: the run goes on as after any permanent step failure
   * rather than running the step again after its lease expires.
   */
  private async settleStoring(
    definition: WorkflowDefinition,
    step: StepDefinition,
    result: Exclude<StepResult, { kind: 'stopped' }>,
    carried: RunEventInput[],
    startedAt: number,
    finishedAt: number,
  ): Promise<'continue' | 'stop'> {
    const progress = { ...this.progress };
    const { lastOutput, reachedAt } = this;
    const hadOutput = step.id in this.outputs;
    const previousOutput = this.outputs[step.id];
    try {
      return await this.settle(definition, step, result, [...carried], startedAt, finishedAt);
    } catch (error) {
      if (!(error instanceof CheckpointRefused)) throw error;
      Object.assign(this.progress, progress);
      this.lastOutput = lastOutput;
      this.reachedAt = reachedAt;
      if (hadOutput) this.outputs[step.id] = previousOutput;
      else delete this.outputs[step.id];
      const failure = permanentFailure(
        'STEP_RESULT_NOT_STORABLE',
        `step '${step.id}': the store refused its result (${error.reason})`,
      );
      return this.handleFailure(
        step,
        { kind: 'failure', failure, params: null },
        carried,
        startedAt,
        finishedAt,
      );
    }
  }

  private async settle(
    definition: WorkflowDefinition,
    step: StepDefinition,
    result: Exclude<StepResult, { kind: 'stopped' }>,
    events: RunEventInput[],
    startedAt: number,
    finishedAt: number,
  ): Promise<'continue' | 'stop'> {
    if (result.kind === 'failure') return this.handleFailure(step, result, events, startedAt, finishedAt);
    const { outcome } = result;
    if (outcome.kind === 'suspend') {
      await this.suspend(step, outcome, events, finishedAt);
      return 'stop';
    }

    this.outputs[step.id] = outcome.output;
    this.lastOutput = outcome.output;
    const record = this.recorder.stepRecord(
      step,
      'completed',
      result.params,
      outcome.output,
      null,
      startedAt,
      finishedAt,
    );
    events.push(
      this.recorder.event(
        'step.completed',
        { step_id: step.id, attempt: this.progress.attempt, duration_ms: finishedAt - startedAt },
        finishedAt,
      ),
    );
    const target = nextStepIndex(definition, this.progress.step_index, outcome.next);
    if (typeof target !== 'number') {
      await this.finish('failed', events, target, [record]);
      return 'stop';
    }
    this.advanceTo(target);
    // The last step's result and the run's end share one commit.
    if (target >= definition.steps.length) {
      await this.finish(this.progress.has_failed_steps ? 'partial_complete' : 'completed', events, null, [
        record,
      ]);
      return 'stop';
    }
    return (await this.commit(events, [record])) ? 'continue' : 'stop';
  }

  private scopeData(): Record<string, unknown> {
    return {
      input: this.run.input,
      steps: Object.fromEntries(Object.entries(this.outputs).map(([id, output]) => [id, { output }])),
      run: { id: this.run.id, workflow_id: this.run.workflow_id, attempt: this.progress.attempt },
    };
  }

  private runStep(step: StepDefinition): Promise<StepResult> {
    const hasResume = this.progress.step_state !== null || this.progress.resume_payload !== null;
    return invokeStep({
      run: this.run,
      step,
      attempt: this.progress.attempt,
      iteration: this.progress.iteration,
      reachedAt: this.reachedAt,
      resume: hasResume ? { state: this.progress.step_state, payload: this.progress.resume_payload } : null,
      scope: this.scopeData() as Omit<TemplateScope, 'secrets'>,
      runSignal: this.stopper.signal,
      stopReason: () => this.stopReason,
      redactor: this.redactor,
      deps: this.deps,
    });
  }

  private async handleFailure(
    step: StepDefinition,
    result: Extract<StepResult, { kind: 'failure' }>,
    carried: RunEventInput[],
    startedAt: number,
    finishedAt: number,
  ): Promise<'continue' | 'stop'> {
    const { failure } = result;
    const error = toErrorInfo(failure);
    const attempt = this.progress.attempt;
    const record = this.recorder.stepRecord(
      step,
      'failed',
      result.params,
      null,
      error,
      startedAt,
      finishedAt,
    );
    const events = [
      ...carried,
      this.recorder.event('step.failed', { step_id: step.id, attempt, error }, finishedAt),
    ];
    const policy = step.retry ?? DEFAULT_RETRY_POLICY;
    if (failure.retriable && hasAttemptsLeft(policy, attempt)) {
      const delay = Math.max(retryDelayMs(policy, attempt + 1, this.deps.random), failure.retryAfterMs ?? 0);
      const wakeAt = this.capByDeadline(finishedAt + delay);
      events.push(
        this.recorder.event(
          'step.retry_scheduled',
          { step_id: step.id, next_attempt: attempt + 1, delay_ms: delay, wake_at: wakeAt },
          finishedAt,
        ),
      );
      this.progress.attempt = attempt + 1;
      this.progress.step_state = null;
      this.progress.resume_payload = null;
      this.park(wakeAt);
      await this.commit(events, [record]);
      return 'stop';
    }
    if (step.continue_on_error) {
      this.progress.has_failed_steps = true;
      this.advanceTo(this.progress.step_index + 1);
      return (await this.commit(events, [record])) ? 'continue' : 'stop';
    }
    await this.finish('failed', events, { ...error, step_id: step.id } as ErrorInfo, [record]);
    return 'stop';
  }

  private async suspend(
    step: StepDefinition,
    outcome: Extract<ToolOutcome, { kind: 'suspend' }>,
    carried: RunEventInput[],
    at: number,
  ): Promise<void> {
    const wait = outcome.wait;
    let wakeAt = outcome.wake_at;
    if (wait?.kind === 'run' && wakeAt === null) wakeAt = at + CHILD_RECHECK_MS;
    this.progress.step_state = outcome.state ?? {};
    this.progress.resume_payload = null;
    this.progress.wait_event_type = wait?.kind === 'event' ? wait.event_type : null;
    this.progress.wait_match = wait?.kind === 'event' ? wait.match : null;
    this.progress.wait_run_id = wait?.kind === 'run' ? wait.run_id : null;
    this.recorder.waitBeganAt = wait?.kind === 'event' ? wait.since : null;
    const parkedUntil = wakeAt === null ? this.progress.deadline_at : this.capByDeadline(wakeAt);
    this.park(parkedUntil);
    await this.commit(
      [
        ...carried,
        this.recorder.event(
          'run.waiting',
          { step_id: step.id, wake_at: parkedUntil, wait: wait ?? null },
          at,
        ),
      ],
      [],
    );
  }

  private async handleStop(
    reason: StopReason,
    events: RunEventInput[],
    record: RunStepRecord | null,
  ): Promise<void> {
    const records = record ? [record] : [];
    if (reason === 'cancel')
      return this.finish(
        'cancelled',
        events,
        { code: 'CANCELLED', message: 'the run was cancelled' },
        records,
      );
    if (reason === 'run_timeout') {
      return this.finish(
        'failed',
        events,
        { code: 'RUN_TIMEOUT', message: 'the run passed its timeout_ms' },
        records,
      );
    }
    // Shutdown or a lost lease: the step result is unknown, so the step runs again elsewhere.
  }

  private async finish(
    status: RunStatus,
    events: RunEventInput[],
    error: ErrorInfo | null,
    records: RunStepRecord[] = [],
  ): Promise<void> {
    assertTransition(this.progress.status, status);
    const at = this.deps.clock.now();
    this.progress.status = status;
    this.progress.finished_at = at;
    this.progress.output = status === 'completed' || status === 'partial_complete' ? this.lastOutput : null;
    this.progress.error = error;
    this.clearStepState();
    this.park(null);
    const data: Record<string, unknown> = { duration_ms: at - (this.progress.started_at ?? at) };
    if (error) data.error = error;
    await this.commit(
      [...events, this.recorder.event(`run.${status}` as RunEventType, data, at)],
      records,
      this.run.parent_run_id,
    );
  }

  /** Releases the lease; the run becomes claimable again at `availableAt` (null = only a wake-up). */
  private park(availableAt: number | null): void {
    this.progress.lease_owner = null;
    this.progress.lease_expires_at = null;
    this.progress.available_at = availableAt;
  }

  /** Moves the cursor to `index`, ending the pass through the current step. */
  private advanceTo(index: number): void {
    if (this.definition) Object.assign(this.progress, passesAfterMove(this.definition, this.progress, index));
    this.progress.step_index = index;
    this.reachedAt = this.stepStartedAt;
    this.progress.attempt = 1;
    this.clearStepState();
  }

  /** Forgets what the step at the cursor kept while suspended and what it waited for. */
  private clearStepState(): void {
    this.progress.step_state = null;
    this.progress.resume_payload = null;
    this.progress.wait_event_type = null;
    this.progress.wait_match = null;
    this.progress.wait_run_id = null;
  }

  private capByDeadline(at: number): number {
    return this.progress.deadline_at === null ? at : Math.min(at, this.progress.deadline_at);
  }

  private async commit(
    events: RunEventInput[],
    steps: RunStepRecord[],
    wakeParent: string | null = null,
  ): Promise<boolean> {
    const ok = await this.recorder.commit(events, steps, wakeParent);
    if (!ok) this.stop('lease_lost');
    return ok;
  }
}
