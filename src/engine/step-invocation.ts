import { permanentFailure, StepFailure, toErrorInfo, type ErrorInfo } from '../domain/errors.js';
import { isTruthy } from '../domain/expression.js';
import type { RunRecord } from '../domain/model.js';
import type { SecretRedactor } from '../domain/secret-redaction.js';
import { NotJsonError, toStorableJson } from '../domain/storable-json.js';
import { referencedSecrets, renderTemplate, type TemplateScope } from '../domain/templating.js';
import type { StepDefinition } from '../domain/workflow.js';
import type { SubRunPort, ToolOutcome } from '../tools/tool.js';
import type { ExecutionDeps } from './execution-deps.js';

/** Why a run's execution was stopped from outside its current step. */
export type StopReason = 'cancel' | 'shutdown' | 'lease_lost' | 'run_timeout';

/** How one attempt of a step ended; `params` is what is stored as the attempt's input. */
export type StepResult =
  | { kind: 'outcome'; outcome: ToolOutcome; params: unknown }
  | { kind: 'failure'; failure: StepFailure; params: unknown }
  | { kind: 'stopped'; reason: StopReason; params: unknown };

/** The error stored on the attempt of a step aborted because its run was cancelled or timed out. */
export function stopError(reason: StopReason): ErrorInfo {
  return reason === 'cancel'
    ? { code: 'CANCELLED', message: 'the step was aborted because the run was cancelled' }
    : { code: 'RUN_TIMEOUT', message: 'the step was aborted because the run passed its timeout_ms' };
}

/** The key a step's side effects carry: the same for every attempt of one pass, new for each pass. */
export function stepIdempotencyKey(runId: string, stepId: string, iteration: number): string {
  return iteration <= 1 ? `${runId}:${stepId}` : `${runId}:${stepId}:${iteration}`;
}

/** The failures of an expression that broke its time or memory bound rather than its logic. */
const EXPRESSION_LIMITS: ReadonlySet<string> = new Set(['EXPRESSION_TIMEOUT', 'EXPRESSION_TOO_LARGE']);

/**
 * Whether a step's `when` holds over `scope`, or the failure of the step when the
 * expression broke a limit. One that cannot be evaluated (e.g. it reads a skipped step)
 * counts as false; one past its time or memory, or not evaluated at all, fails the step
 * as a tool's failure would.
 */
export async function whenHolds(
  when: string,
  scope: Record<string, unknown>,
  deps: Pick<ExecutionDeps, 'expressions'>,
  signal: AbortSignal,
): Promise<boolean | StepFailure> {
  try {
    return isTruthy(await deps.expressions.evaluate(when, scope, signal));
  } catch (error) {
    const { code, message } = toErrorInfo(error);
    if (error instanceof StepFailure && !error.retriable && !EXPRESSION_LIMITS.has(code)) return false;
    const retriable = !(error instanceof StepFailure) || error.retriable;
    return new StepFailure(code, `when: ${message}`, { retriable });
  }
}

export interface StepInvocation {
  run: RunRecord;
  step: StepDefinition;
  attempt: number;
  iteration: number;
  /** When the run reached this pass of the step (see `ToolContext.reached_at`). */
  reachedAt: number;
  /** Set when a suspended step runs again. */
  resume: { state: unknown; payload: unknown } | null;
  /** What templates may reference, secrets aside (they are decrypted here, only those referenced). */
  scope: Omit<TemplateScope, 'secrets'>;
  /** Aborted when the run is stopped from outside (cancel, run timeout, shutdown, lost lease). */
  runSignal: AbortSignal;
  stopReason(): StopReason | null;
  /** The run execution's redactor: it learns the secrets decrypted here and redacts the stored input and output. */
  redactor: SecretRedactor;
  deps: Pick<
    ExecutionDeps,
    'clock' | 'tools' | 'secrets' | 'subRuns' | 'toolSettings' | 'maxStepOutputBytes' | 'expressions' | 'log'
  >;
}

/**
 * Runs one attempt of a step: renders its params (secrets included), validates them with
 * the tool's schema, and executes the tool under the step's timeout and the run's stop
 * signal. The params and output it returns have the run's secret values redacted, and so
 * has the input of a sub-workflow it starts. Never throws: every ending is a `StepResult`.
 */
export async function invokeStep(invocation: StepInvocation): Promise<StepResult> {
  const { run, step, deps, redactor } = invocation;
  let params: unknown = step.params;
  const signal = step.timeout_ms
    ? AbortSignal.any([invocation.runSignal, AbortSignal.timeout(step.timeout_ms)])
    : invocation.runSignal;
  try {
    const tool = deps.tools.get(step.tool);
    if (!tool) throw permanentFailure('UNKNOWN_TOOL', `step '${step.id}' uses unknown tool '${step.tool}'`);
    const secrets = await deps.secrets.resolve(run.org_id, referencedSecrets(step.params));
    redactor.add(Object.values(secrets));
    const rendered = renderTemplate(step.params, { ...invocation.scope, secrets });
    const parsed = tool.params.safeParse(rendered);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = ['steps', step.id, 'params', ...(issue?.path ?? []).map(String)].join('.');
      throw permanentFailure('PARAMS_INVALID', `${field}: ${issue?.message ?? 'is invalid'}`);
    }
    params = toStorableJson(redactor.redact(parsed.data));
    const outcome = await abortable(
      tool.execute(parsed.data, {
        run_id: run.id,
        step_id: step.id,
        org_id: run.org_id,
        workflow_id: run.workflow_id,
        attempt: invocation.attempt,
        iteration: invocation.iteration,
        reached_at: invocation.reachedAt,
        idempotency_key: stepIdempotencyKey(run.id, step.id, invocation.iteration),
        signal,
        now: () => deps.clock.now(),
        settings: deps.toolSettings,
        resume: invocation.resume,
        runs: redactingSubRuns(deps.subRuns(run.org_id, run.id), redactor),
        expressions: deps.expressions,
        log: (message, data) => deps.log('info', message, { run_id: run.id, step_id: step.id, ...data }),
      }),
      signal,
    );
    const storable = withinOutputLimit(step, storableOutcome(step, outcome), deps.maxStepOutputBytes);
    return { kind: 'outcome', outcome: redactedOutcome(storable, redactor), params };
  } catch (error) {
    const stopped = invocation.stopReason();
    if (stopped) return { kind: 'stopped', reason: stopped, params };
    if (signal.aborted) {
      return {
        kind: 'failure',
        failure: new StepFailure('STEP_TIMEOUT', `step '${step.id}' timed out after ${step.timeout_ms} ms`),
        params,
      };
    }
    const failure =
      error instanceof StepFailure ? error : new StepFailure('STEP_ERROR', toErrorInfo(error).message);
    return { kind: 'failure', failure, params };
  }
}

/**
 * The outcome with its output (or suspended state) as the stores will keep it, so later
 * steps of this execution see exactly what a resumed execution reads back.
 * @throws StepFailure (not retriable) when the tool gave something JSON cannot hold.
 */
function storableOutcome(step: StepDefinition, outcome: ToolOutcome): ToolOutcome {
  try {
    return outcome.kind === 'done'
      ? { ...outcome, output: toStorableJson(outcome.output) }
      : { ...outcome, state: toStorableJson(outcome.state) };
  } catch (error) {
    if (!(error instanceof NotJsonError)) throw error;
    const what = outcome.kind === 'done' ? 'output' : 'state';
    throw permanentFailure('STEP_OUTPUT_INVALID', `step '${step.id}' ${what}: ${error.message}`);
  }
}

/**
 * The outcome, when its output is at most `maxBytes` of JSON: every later step, every read of
 * the run and its callback carry it, and a retry would only produce it again.
 * @throws StepFailure `OUTPUT_TOO_LARGE` (not retriable) naming the size and the limit.
 */
function withinOutputLimit(step: StepDefinition, outcome: ToolOutcome, maxBytes: number): ToolOutcome {
  if (outcome.kind !== 'done') return outcome;
  const bytes = Buffer.byteLength(JSON.stringify(outcome.output));
  if (bytes <= maxBytes) return outcome;
  throw permanentFailure(
    'OUTPUT_TOO_LARGE',
    `step '${step.id}' output is ${bytes} bytes of JSON, over the limit of ${maxBytes} bytes (STEPWISE_MAX_STEP_OUTPUT_BYTES)`,
    { bytes, limit: maxBytes },
  );
}

/** Settles with the tool's promise, or rejects as soon as the signal aborts even if the tool ignores it. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * A done outcome's output with the secrets redacted, so that later steps of this execution
 * see what a resumed execution reads back. A suspended step's state is the tool's own
 * bookkeeping (a time, a child run id), kept as it is.
 */
function redactedOutcome(outcome: ToolOutcome, redactor: SecretRedactor): ToolOutcome {
  return outcome.kind === 'done' ? { ...outcome, output: redactor.redact(outcome.output) } : outcome;
}

/** A child run's input is stored and shown like any run's: it gets no secret value (the child may reference the secret itself). */
function redactingSubRuns(port: SubRunPort, redactor: SecretRedactor): SubRunPort {
  return {
    start: (workflow, input, idempotencyKey) => port.start(workflow, redactor.redact(input), idempotencyKey),
    get: (runId) => port.get(runId),
  };
}
