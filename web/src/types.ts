// The shapes the REST API answers with, as far as the dashboard reads them.
import type { RunStatus } from './api';

export interface ErrorInfo {
  code: string;
  message: string;
  [key: string]: unknown;
}

export interface Step {
  id: string;
  tool: string;
  params?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface TriggerConfig {
  type: 'manual' | 'scheduled' | 'event' | string;
  enabled?: boolean;
  schedule?: string;
  timezone?: string;
  event_type?: string;
  [key: string]: unknown;
}

export interface InputSpec {
  type: 'string' | 'number' | 'boolean' | 'object' | 'array';
  description?: string;
  required?: boolean;
  default?: unknown;
}

export interface Workflow {
  id: string;
  title: string;
  description: string | null;
  slug: string;
  status: string;
  version: number;
  steps: Step[];
  triggerConfig: TriggerConfig | null;
  creditCost: number;
  metadata: { inputs?: Record<string, InputSpec>; [key: string]: unknown };
  createdAt: string;
  updatedAt: string;
}

export interface JobStep {
  stepId: string;
  tool: string;
  attempt: number;
  status: string;
  /** The input after templating (run detail only). */
  input?: unknown;
  output: unknown;
  error: ErrorInfo | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface Job {
  jobId: string;
  workflowId: string;
  workflowVersion: number;
  status: RunStatus;
  progress: number;
  currentStep: string | number | null;
  totalSteps: number;
  input: unknown;
  output: unknown;
  error: ErrorInfo | null;
  trigger: { type: string; [key: string]: unknown } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  creditsConsumed?: number;
  steps?: JobStep[];
}

export interface TimelineEvent {
  seq: number;
  type: string;
  at: string;
  data: Record<string, unknown> | null;
}

export interface RunDetail extends Job {
  steps: JobStep[];
  timeline: TimelineEvent[];
}

export interface Delivery {
  id: string;
  url: string;
  event_type: string;
  status: string;
  attempts: number;
  /** Epoch milliseconds. */
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  attempt_log: {
    attempt: number;
    status_code: number | null;
    error: string | null;
    duration_ms: number;
    at: number;
  }[];
}

export interface Schedule {
  scheduleId: string;
  workFlowId: string;
  kind: string;
  cron: string | null;
  scheduledDate: string | null;
  nextFireAt: string | null;
  timezone: string;
  scheduleStatus: string;
  statusReason: string | null;
}

export interface WorkflowSummary {
  workflow_id: string;
  total_runs: number;
  by_status: Record<RunStatus, number>;
  success_rate: number | null;
  duration_ms: { p50: number | null; p95: number | null };
  credits_used: number;
}

/** `GET /v1/credits`: the key's org's plan and balance (its ledger is left unread here). */
export interface CreditAccount {
  org_id: string;
  plan: { name: string; max_concurrent_runs: number | null; monthly_credits: number };
  balance: number;
  /** When the balance is next topped up to `monthly_credits` (ISO); null when the plan has none. */
  renews_at: string | null;
}

export interface TimelineBucket {
  bucket_start: string;
  total: number;
  by_status: Record<RunStatus, number>;
}

export interface WorkflowTimeline {
  from: string;
  to: string;
  bucket: string;
  bucket_ms: number;
  buckets: TimelineBucket[];
}

export interface Listing {
  id: string;
  kind: 'template' | 'community';
  slug: string;
  title: string;
  description: string;
  category: string;
  credit_cost: number;
  estimated_duration: string | null;
  inputs: Record<string, InputSpec> | null;
  trigger_config: TriggerConfig | null;
  steps: Step[];
  required_secrets: string[];
  install_count: number;
}

export interface Instance {
  id: string;
  name: string;
  status: string;
  activity: string;
  site_id: string;
  context: string | null;
  created_at: string;
  updated_at: string;
}
