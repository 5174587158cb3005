import type { Clock } from './clock.js';
import type { ErrorInfo } from './errors.js';
import type { Millis, RunRecord } from './model.js';
import { retryDelayMs } from './retry.js';

/** Where a delivery stands: `pending` until a 2xx answer (`delivered`) or until it gives up (`failed`). */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** The callback event of each final run status. */
export type RunCallbackType = 'run.completed' | 'run.partial_complete' | 'run.failed' | 'run.cancelled';

/** One final-result callback of one run to one URL; its id is the `webhook-id` receivers dedupe on. */
export interface DeliveryRecord {
  id: string;
  org_id: string;
  run_id: string;
  url: string;
  event_type: RunCallbackType;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  /** When the next attempt is due; null once delivered or failed. */
  next_attempt_at: Millis | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Millis;
  updated_at: Millis;
}

/** One POST of a delivery: the receiver's status code, or why there was none. */
export interface DeliveryAttemptRecord {
  id: string;
  delivery_id: string;
  /** 1 for the first attempt. */
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  at: Millis;
}

/** The fields of a finished run that its callback reports. */
export type RunResult = Pick<
  RunRecord,
  'id' | 'workflow_id' | 'status' | 'output' | 'error' | 'started_at' | 'finished_at'
>;

/** The JSON body of a run callback, in the Standard Webhooks `{ type, timestamp, data }` envelope. */
export interface RunCallbackPayload {
  type: RunCallbackType;
  /** When the run finished, ISO 8601. */
  timestamp: string;
  data: {
    runId: string;
    /** The run id again, under the name document 002 clients read. */
    jobId: string;
    workflowId: string;
    status: RunRecord['status'];
    output: unknown;
    error: ErrorInfo | null;
    startedAt: string | null;
    finishedAt: string;
    durationMs: number;
  };
}

/** How long failed deliveries keep being retried, and how far apart. */
export interface DeliveryRetryPolicy {
  /** Delay before the second attempt; it doubles with each attempt after that. */
  initialMs: number;
  /** The delay stops growing here. */
  maxMs: number;
  /** No attempt is scheduled later than this after the delivery was created. */
  giveUpAfterMs: number;
}

/** 10 s doubling up to 1 h, for up to 24 h: about 30 attempts. */
export const DEFAULT_DELIVERY_RETRY: DeliveryRetryPolicy = {
  initialMs: 10_000,
  maxMs: 3_600_000,
  giveUpAfterMs: 24 * 3_600_000,
};

/** The callback type announcing a run that ended in `status`. */
export const runCallbackType = (status: RunRecord['status']): RunCallbackType =>
  `run.${status}` as RunCallbackType;

/**
 * The body POSTed for a finished run. It depends on the run alone, so every attempt of a
 * delivery sends the same bytes.
 */
export function buildRunCallback(run: RunResult): RunCallbackPayload {
  const finishedAt = run.finished_at ?? run.started_at ?? 0;
  const iso = (at: Millis) => new Date(at).toISOString();
  return {
    type: runCallbackType(run.status),
    timestamp: iso(finishedAt),
    data: {
      runId: run.id,
      jobId: run.id,
      workflowId: run.workflow_id,
      status: run.status,
      output: run.output ?? null,
      error: run.error,
      startedAt: run.started_at === null ? null : iso(run.started_at),
      finishedAt: iso(finishedAt),
      // A run cancelled before it started took no time, as its run.cancelled event says.
      durationMs: finishedAt - (run.started_at ?? finishedAt),
    },
  };
}

/** What an attempt's result means for its delivery. */
export type DeliveryOutcome =
  | { status: 'delivered'; next_attempt_at: null }
  | { status: 'failed'; next_attempt_at: null }
  | { status: 'pending'; next_attempt_at: Millis };

/**
 * Decides what follows attempt `attempt` (1-based): delivered on success; failed when the
 * failure is permanent or the next try would fall past `giveUpAfterMs`; otherwise a retry
 * after an exponential delay with equal jitter (the rule steps use), read from `clock`.
 */
export function deliveryOutcome(
  policy: DeliveryRetryPolicy,
  attempt: { number: number; succeeded: boolean; permanent: boolean; created_at: Millis },
  clock: Clock,
  random: () => number = Math.random,
): DeliveryOutcome {
  if (attempt.succeeded) return { status: 'delivered', next_attempt_at: null };
  if (attempt.permanent) return { status: 'failed', next_attempt_at: null };
  const delay = retryDelayMs(
    { backoff: 'exponential', initial_ms: policy.initialMs, max_ms: policy.maxMs, max_attempts: Infinity },
    attempt.number + 1,
    random,
  );
  const next = clock.now() + delay;
  return next > attempt.created_at + policy.giveUpAfterMs
    ? { status: 'failed', next_attempt_at: null }
    : { status: 'pending', next_attempt_at: next };
}
