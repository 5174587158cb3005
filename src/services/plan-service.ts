import type { Clock } from '../domain/clock.js';
import {
  checkPlanAccess,
  concurrencyLimitError,
  DEFAULT_PLANS,
  insufficientCreditsError,
  type Plan,
  type PlanWorkflow,
} from '../domain/plan.js';
import type { RunAdmission, RunAdmissionRefused, Store } from '../store/store.js';

/** How long an org's plan name is trusted without reading the org again. */
const PLAN_CACHE_MS = 5000;
const PLAN_CACHE_SIZE = 10_000;

/**
 * Plans of orgs and the pre-flight checks of a run start, in document 003's order:
 * the workflow exists (the caller's 404), plan access (403), then the concurrency cap
 * (429) and the credit balance (402), which `Store.insertRun` checks atomically with
 * the insert from the admission this service builds.
 */
export class PlanService {
  private readonly orgPlans = new Map<string, { plan: string; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    readonly plans: Readonly<Record<string, Plan>>,
    readonly defaultPlan: string,
  ) {}

  /**
   * The plan called `name`. A name no longer configured (an org created under an older
   * `STEPWISE_PLANS`) gets the free plan's limits under its own name, never no limits.
   */
  plan(name: string): Plan {
    return this.plans[name] ?? { ...DEFAULT_PLANS.free!, name };
  }

  /** The org's plan (cached for a few seconds). */
  async planOf(orgId: string): Promise<Plan> {
    const cached = this.orgPlans.get(orgId);
    const now = this.clock.now();
    if (cached && cached.until > now) return this.plan(cached.plan);
    const org = await this.store.getOrg(orgId);
    const name = org?.plan ?? this.defaultPlan;
    if (this.orgPlans.size >= PLAN_CACHE_SIZE) this.orgPlans.clear();
    this.orgPlans.set(orgId, { plan: name, until: now + PLAN_CACHE_MS });
    return this.plan(name);
  }

  /**
   * Pre-flight check 2 (plan access), then what `insertRun` must check and reserve.
   * @returns undefined when there is nothing to check (no cap, a free workflow): the fast path.
   * @throws 403 PLAN_ACCESS_DENIED
   */
  async admission(orgId: string, workflow: PlanWorkflow): Promise<{ plan: Plan; admission?: RunAdmission }> {
    const plan = await this.planOf(orgId);
    checkPlanAccess(plan, workflow);
    if (plan.max_concurrent_runs === null && workflow.credit_cost === 0) return { plan };
    return {
      plan,
      admission: { max_concurrent_runs: plan.max_concurrent_runs, credits: workflow.credit_cost },
    };
  }

  /** The caller's error for a start the store refused (checks 3 and 4). */
  refusal(refused: RunAdmissionRefused, plan: Plan, workflow: PlanWorkflow) {
    return refused.reason === 'concurrency'
      ? concurrencyLimitError(plan, refused.value)
      : insufficientCreditsError(workflow, refused.value);
  }
}
