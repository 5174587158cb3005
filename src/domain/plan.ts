import { z } from 'zod';
import { StepwiseError } from './errors.js';

/**
 * Plans: what an org may do. Pure configuration and rules; the services read an org's
 * plan by name and apply these checks, the store enforces the counted ones atomically.
 */

/** Which workflows a plan may run: every one, or those listed by slug and/or up to a credit cost. */
export type PlanWorkflowAccess = 'all' | { slugs?: string[]; max_credit_cost?: number };

export interface RateLimits {
  /** POST/PUT/PATCH/DELETE calls and MCP `tools/call` of a mutating tool, per key and minute. */
  mutating_per_minute: number;
  /** GET calls and read-only MCP tools, per key and minute. */
  read_per_minute: number;
}

export interface Plan {
  name: string;
  /** Cap on the org's pending + running runs; null = no cap. */
  max_concurrent_runs: number | null;
  workflows: PlanWorkflowAccess;
  /** Null = no rate limit. */
  rate_limits: RateLimits | null;
  /**
   * The allowance each credit period tops the org's balance up to (CreditService has the
   * rules); a new org's first grant. 0 = no allowance, never renewed.
   */
  monthly_credits: number;
  /**
   * MCP sessions the org may hold open at once in one process (each may carry one SSE
   * stream); null = only the process-wide bound.
   */
  max_mcp_sessions: number | null;
  /** The org's workflows waiting for or in AI step generation at once; null = no cap. */
  max_generating_workflows: number | null;
}

/** Document 003: mutating calls are limited to 10 a minute; reads are looser. */
export const DEFAULT_RATE_LIMITS: RateLimits = { mutating_per_minute: 10, read_per_minute: 120 };

/**
 * The built-in plans. `unlimited` is for a self-hosted operator's own orgs (and the
 * test suite): no caps, no rate limits, and a grant large enough never to matter.
 */
export const DEFAULT_PLANS: Readonly<Record<string, Plan>> = {
  free: {
    name: 'free',
    max_concurrent_runs: 3,
    workflows: { max_credit_cost: 25 },
    rate_limits: DEFAULT_RATE_LIMITS,
    monthly_credits: 100,
    max_mcp_sessions: 10,
    max_generating_workflows: 2,
  },
  pro: {
    name: 'pro',
    max_concurrent_runs: 10,
    workflows: 'all',
    rate_limits: DEFAULT_RATE_LIMITS,
    monthly_credits: 2000,
    max_mcp_sessions: 50,
    max_generating_workflows: 5,
  },
  enterprise: {
    name: 'enterprise',
    max_concurrent_runs: 100,
    workflows: 'all',
    rate_limits: { mutating_per_minute: 600, read_per_minute: 6000 },
    monthly_credits: 50_000,
    max_mcp_sessions: 500,
    max_generating_workflows: 25,
  },
  unlimited: {
    name: 'unlimited',
    max_concurrent_runs: null,
    workflows: 'all',
    rate_limits: null,
    monthly_credits: 1_000_000_000,
    max_mcp_sessions: null,
    max_generating_workflows: null,
  },
};

const count = z.number().int().min(0);
const planOverrideSchema = z
  .object({
    max_concurrent_runs: count.min(1).nullable().optional(),
    workflows: z
      .union([
        z.literal('all'),
        z
          .object({ slugs: z.array(z.string().min(1)).optional(), max_credit_cost: count.optional() })
          .strict(),
      ])
      .optional(),
    rate_limits: z
      .object({ mutating_per_minute: count.min(1), read_per_minute: count.min(1) })
      .partial()
      .strict()
      .nullable()
      .optional(),
    monthly_credits: count.optional(),
    max_mcp_sessions: count.min(1).nullable().optional(),
    max_generating_workflows: count.min(1).nullable().optional(),
  })
  .strict();

/** `STEPWISE_PLANS`: plan name → fields overriding the built-in plan of that name (or the free plan, for a new name). */
export const plansOverrideSchema = z.record(z.string().regex(/^[a-z0-9_-]{1,50}$/), planOverrideSchema);
export type PlansOverride = z.infer<typeof plansOverrideSchema>;

/** The built-in plans with `overrides` applied; a new name starts from `free`. */
export function resolvePlans(overrides: PlansOverride = {}): Record<string, Plan> {
  const plans: Record<string, Plan> = { ...DEFAULT_PLANS };
  for (const [name, override] of Object.entries(overrides)) {
    const base = plans[name] ?? DEFAULT_PLANS.free!;
    const rateLimits =
      override.rate_limits === null
        ? null
        : override.rate_limits === undefined
          ? base.rate_limits
          : { ...(base.rate_limits ?? DEFAULT_RATE_LIMITS), ...override.rate_limits };
    plans[name] = {
      name,
      max_concurrent_runs:
        override.max_concurrent_runs === undefined ? base.max_concurrent_runs : override.max_concurrent_runs,
      workflows: override.workflows ?? base.workflows,
      rate_limits: rateLimits,
      monthly_credits: override.monthly_credits ?? base.monthly_credits,
      max_mcp_sessions:
        override.max_mcp_sessions === undefined ? base.max_mcp_sessions : override.max_mcp_sessions,
      max_generating_workflows:
        override.max_generating_workflows === undefined
          ? base.max_generating_workflows
          : override.max_generating_workflows,
    };
  }
  return plans;
}

/** The workflow facts plan access looks at. */
export interface PlanWorkflow {
  id: string;
  slug: string;
  credit_cost: number;
}

/** Pre-flight check 2 (document 003): the workflow must be available on the plan. @throws 403 PLAN_ACCESS_DENIED */
export function checkPlanAccess(plan: Plan, workflow: PlanWorkflow): void {
  const access = plan.workflows;
  if (access === 'all') return;
  if (access.slugs !== undefined && !access.slugs.includes(workflow.slug)) {
    throw new StepwiseError(
      'PLAN_ACCESS_DENIED',
      403,
      `workflow '${workflow.slug}' is not available on the '${plan.name}' plan, which offers ${access.slugs.map((s) => `'${s}'`).join(', ') || 'no workflows'}; run one of those or upgrade the org's plan`,
    );
  }
  if (access.max_credit_cost !== undefined && workflow.credit_cost > access.max_credit_cost) {
    throw new StepwiseError(
      'PLAN_ACCESS_DENIED',
      403,
      `workflow '${workflow.slug}' costs ${workflow.credit_cost} credits a run; the '${plan.name}' plan runs workflows of at most ${access.max_credit_cost}; upgrade the org's plan`,
    );
  }
}

/** How long a caller over the concurrency cap should wait before trying again. */
export const CONCURRENCY_RETRY_AFTER_SECONDS = 30;

/** Pre-flight check 3: @returns the 429 for an org already at its cap. */
export function concurrencyLimitError(plan: Plan, active: number): StepwiseError {
  return new StepwiseError(
    'CONCURRENCY_LIMIT',
    429,
    `the org has ${active} runs pending or running, the most the '${plan.name}' plan allows (${plan.max_concurrent_runs ?? active}); wait for one to finish (or cancel one) and try again, or upgrade the plan`,
    { retryAfterSeconds: CONCURRENCY_RETRY_AFTER_SECONDS },
  );
}

/** How long a caller over the generation cap should wait: a generation takes seconds to a minute. */
const GENERATION_RETRY_AFTER_SECONDS = 30;

/** @returns the 429 for an org whose workflows already generate as many as its plan allows at once. */
export function generationLimitError(plan: Plan, generating: number): StepwiseError {
  return new StepwiseError(
    'GENERATION_LIMIT',
    429,
    `the org has ${generating} workflows generating their steps, the most the '${plan.name}' plan allows at once (${plan.max_generating_workflows ?? generating}); wait for one to become 'active' or 'failed' and try again, or upgrade the plan`,
    { retryAfterSeconds: GENERATION_RETRY_AFTER_SECONDS },
  );
}

/** Pre-flight check 4: @returns the 402 for a balance below the workflow's cost. */
export function insufficientCreditsError(workflow: PlanWorkflow, balance: number): StepwiseError {
  return new StepwiseError(
    'INSUFFICIENT_CREDITS',
    402,
    `workflow '${workflow.slug}' costs ${workflow.credit_cost} credits and the org's balance is ${balance}; add credits (POST /v1/admin/orgs/{id}/credits or stepwise credits grant) and try again`,
  );
}

/** A fixed one-minute window: its start, and seconds until the next one. */
export function rateWindow(now: number): { start: number; resetSeconds: number } {
  const start = now - (now % 60_000);
  return { start, resetSeconds: Math.max(1, Math.ceil((start + 60_000 - now) / 1000)) };
}

/**
 * The credit period holding `at`: its calendar month in UTC, `YYYY-MM`. Periods compare
 * as strings, so a stored period is enough to tell whether this one has been renewed.
 * @example creditPeriod(Date.UTC(2024, 10, 30, 23, 59)) // '2024-11'
 */
export function creditPeriod(at: number): string {
  return new Date(at).toISOString().slice(0, 7);
}

/** When the credit period after the one holding `at` starts: the 1st of the next month, 00:00 UTC. */
export function nextCreditPeriodStart(at: number): number {
  const date = new Date(at);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

/** The reason of the grant a period's renewal writes. */
export function monthlyAllowanceReason(plan: Plan, period: string): string {
  return `monthly allowance of the '${plan.name}' plan for ${period}`;
}
