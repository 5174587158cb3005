import type { ErrorInfo } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { RunEventInput, RunEventType, RunProgress, RunRecord, RunStepRecord } from '../domain/model.js';
import type { SecretRedactor } from '../domain/secret-redaction.js';
import type { StepDefinition } from '../domain/workflow.js';
import type { RunCheckpoint } from '../store/store.js';
import type { ExecutionDeps } from './execution-deps.js';

/**
 * Writes down what one execution of a run does: its step attempts and timeline events as
 * records, and its progress as checkpoints fenced by the claim's epoch, with the run's
 * secret values redacted from everything a reader sees. It reads the execution's progress
 * as it stands at each commit.
 */
export class RunRecorder {
  /** When the event wait the next parking checkpoint commits began (its `since`). */
  waitBeganAt: number | null = null;

  constructor(
    private readonly run: RunRecord,
    private readonly progress: RunProgress,
    private readonly redactor: SecretRedactor,
    private readonly deps: Pick<ExecutionDeps, 'clock' | 'checkpoints'>,
  ) {}

  /** Commits the progress with `events` and `steps`. @returns false when the lease was lost. */
  commit(
    events: RunEventInput[],
    steps: RunStepRecord[],
    wakeParent: string | null = null,
  ): Promise<boolean> {
    this.progress.updated_at = this.deps.clock.now();
    const checkpoint: RunCheckpoint = {
      run_id: this.run.id,
      org_id: this.run.org_id,
      lease_epoch: this.run.lease_epoch,
      progress: { ...this.progress, step_passes: { ...this.progress.step_passes } },
      steps,
      events,
      wake_parent_run_id: wakeParent,
      wait_began_at: this.progress.wait_event_type === null ? null : this.waitBeganAt,
    };
    return this.deps.checkpoints.submit(this.redactor.empty ? checkpoint : this.redacted(checkpoint));
  }

  /** The attempt of `step` at the cursor's pass and attempt. */
  stepRecord(
    step: StepDefinition,
    status: RunStepRecord['status'],
    input: unknown,
    output: unknown,
    error: ErrorInfo | null,
    startedAt: number,
    finishedAt = startedAt,
  ): RunStepRecord {
    return {
      id: newId('step'),
      run_id: this.run.id,
      step_id: step.id,
      step_index: this.progress.step_index,
      iteration: this.progress.iteration,
      attempt: this.progress.attempt,
      tool: step.tool,
      status,
      input,
      output,
      error,
      started_at: startedAt,
      finished_at: finishedAt,
    };
  }

  event(type: RunEventType, data: Record<string, unknown>, at: number): RunEventInput {
    return { run_id: this.run.id, type, data, at };
  }

  /**
   * The checkpoint with the run's secret values redacted from everything a reader sees:
   * step inputs, outputs and errors, the timeline and the run's output and error. The
   * run's own state (cursor, wait match, a suspended step's state) is kept as the engine
   * needs it.
   */
  private redacted(checkpoint: RunCheckpoint): RunCheckpoint {
    const { redactor } = this;
    return {
      ...checkpoint,
      progress: {
        ...checkpoint.progress,
        output: redactor.redact(checkpoint.progress.output),
        error: redactor.redact(checkpoint.progress.error),
      },
      steps: checkpoint.steps.map((step) => ({
        ...step,
        input: redactor.redact(step.input),
        output: redactor.redact(step.output),
        error: redactor.redact(step.error),
      })),
      events: checkpoint.events.map((event) => ({ ...event, data: redactor.redact(event.data) })),
    };
  }
}
