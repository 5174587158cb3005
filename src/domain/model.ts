import type { ErrorInfo } from './errors.js';
import type { RunStatus } from './run-state.js';
import type { WorkflowDefinition } from './workflow.js';

/** Milliseconds since the epoch. Every stored time is one of these, on every backend. */
export type Millis = number;

export interface Org {
  id: string;
  name: string;
  plan: string;
  created_at: Millis;
}

export interface Site {
  id: string;
  org_id: string;
  name: string;
  created_at: Millis;
}

export interface ApiKeyRecord {
  id: string;
  org_id: string;
  site_id: string | null;
  name: string;
  /** The first characters of the key, shown in listings so people can tell keys apart. */
  prefix: string;
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  key_hash: string;
  scopes: string[];
  created_at: Millis;
  revoked_at: Millis | null;
}

export const WORKFLOW_STATUSES = ['active', 'inactive', 'generating', 'failed'] as const;
export type WorkflowStatus = (typeof WORKFLOW_STATUSES)[number];

/** How a workflow starts besides being run by hand. Validated by the services that accept it. */
export interface TriggerConfig {
  type: 'manual' | 'scheduled' | 'event';
  enabled: boolean;
  schedule?: string;
  timezone?: string;
  event_type?: string;
  filters?: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface WorkflowRecord {
  id: string;
  org_id: string;
  slug: string;
  title: string;
  description: string;
  status: WorkflowStatus;
  trigger_config: TriggerConfig;
  is_public: boolean;
  credit_cost: number;
  callback_url: string | null;
  /** Dialect fields we keep and return but do not interpret (e.g. document 002's `endCall`). */
  metadata: Record<string, unknown>;
  /** The current version; each edit of the definition makes a new one. */
  version: number;
  definition: WorkflowDefinition;
  created_at: Millis;
  updated_at: Millis;
}

export interface RunTrigger {
  type: 'manual' | 'api' | 'schedule' | 'event' | 'workflow' | 'cli';
  [detail: string]: unknown;
}

/** The fields of a run that the engine rewrites at each checkpoint. */
export interface RunProgress {
  status: RunStatus;
  /** Index into the pinned definition's steps of the step to run next. */
  step_index: number;
  /** 1-based number of the step in flight or last run, for status displays; 0 before any. */
  current_step: number;
  /** Attempt number of the step at `step_index` (1 = first try). */
  attempt: number;
  /** State a suspended tool (delay, wait_for_event, workflow) keeps between its executions. */
  step_state: unknown;
  /** What woke a suspended step: the matching event's data. */
  resume_payload: unknown;
  /** When a worker may next claim the run; null = only an event or a child run can wake it. */
  available_at: Millis | null;
  lease_owner: string | null;
  lease_expires_at: Millis | null;
  wait_event_type: string | null;
  wait_match: Record<string, unknown> | null;
  wait_run_id: string | null;
  has_failed_steps: boolean;
  output: unknown;
  error: ErrorInfo | null;
  started_at: Millis | null;
  finished_at: Millis | null;
  deadline_at: Millis | null;
  updated_at: Millis;
}

export interface RunRecord extends RunProgress {
  id: string;
  org_id: string;
  site_id: string | null;
  workflow_id: string;
  workflow_version: number;
  input: unknown;
  total_steps: number;
  cancel_requested: boolean;
  idempotency_key: string | null;
  parent_run_id: string | null;
  trigger: RunTrigger;
  credits_reserved: number;
  credits_consumed: number;
  created_at: Millis;
}

const PROGRESS_FIELDS = [
  'status',
  'step_index',
  'current_step',
  'attempt',
  'step_state',
  'resume_payload',
  'available_at',
  'lease_owner',
  'lease_expires_at',
  'wait_event_type',
  'wait_match',
  'wait_run_id',
  'has_failed_steps',
  'output',
  'error',
  'started_at',
  'finished_at',
  'deadline_at',
  'updated_at',
] as const satisfies readonly (keyof RunProgress)[];

/** The progress fields of a run record: what a checkpoint writes back. */
export function pickProgress(run: Omit<RunRecord, 'id'>): RunProgress {
  return Object.fromEntries(PROGRESS_FIELDS.map((field) => [field, run[field]])) as unknown as RunProgress;
}

export type RunStepStatus = 'completed' | 'failed' | 'skipped';

/** One attempt of one step. */
export interface RunStepRecord {
  id: string;
  run_id: string;
  step_id: string;
  step_index: number;
  attempt: number;
  tool: string;
  status: RunStepStatus;
  input: unknown;
  output: unknown;
  error: ErrorInfo | null;
  started_at: Millis;
  finished_at: Millis;
}

export const RUN_EVENT_TYPES = [
  'run.created',
  'run.started',
  'step.started',
  'step.completed',
  'step.failed',
  'step.skipped',
  'step.retry_scheduled',
  'run.waiting',
  'run.woke',
  'run.cancel_requested',
  'run.lease_expired',
  'run.completed',
  'run.partial_complete',
  'run.failed',
  'run.cancelled',
  'callback.delivered',
  'callback.failed',
] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

export interface RunEventInput {
  run_id: string;
  type: RunEventType;
  data: Record<string, unknown>;
  at: Millis;
}

export interface RunEventRecord extends RunEventInput {
  /** Increases with every event written; orders a run's timeline. */
  seq: number;
}

/** An event posted to Stepwise (`POST /v1/events`), kept for triggers and audit. */
export interface EventRecord {
  id: string;
  org_id: string;
  type: string;
  data: unknown;
  created_at: Millis;
}

export type { WorkflowDefinition };

export const CREDIT_ENTRY_KINDS = ['grant', 'reserve', 'consume', 'release'] as const;
export type CreditEntryKind = (typeof CREDIT_ENTRY_KINDS)[number];

/**
 * One movement of an org's credits. The balance is the sum of `amount` over the org's
 * entries: a grant adds, a reserve (when a run is accepted) subtracts the run's cost, a
 * release (the run failed or was cancelled) adds it back, and a consume (the run
 * completed) is a 0-amount record that the reserved credits were spent.
 */
export interface CreditEntry {
  id: string;
  org_id: string;
  run_id: string | null;
  kind: CreditEntryKind;
  amount: number;
  reason: string | null;
  created_at: Millis;
}
