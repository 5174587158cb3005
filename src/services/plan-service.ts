import type { Clock } from '../domain/clock.js';
import { notFound, validationError } from '../domain/errors.js';
import {
  checkPlanAccess,
  concurrencyLimitError,
  creditPeriod,
  DEFAULT_PLANS,
  insufficientCreditsError,
  monthlyAllowanceReason,
  type Plan,
  type PlanWorkflow,
} from '../domain/plan.js';
import type { RunAdmission, RunAdmissionRefused, Store } from '../store/store.js';

/** How long an org's plan name and credit period are trusted without reading the org again. */
const PLAN_CACHE_MS = 5000;
const PLAN_CACHE_SIZE = 10_000;

/** What the service remembers of an org: its plan and the credit period it was last renewed for. */
interface CachedOrg {
  plan: string;
  creditsPeriod: string | null;
  until: number;
}

/**
 * Plans of orgs and the pre-flight checks of a run start, in document 003's order:
 * the workflow exists (the caller's 404), plan access (403), then the concurrency cap
 * (429) and the credit balance (402), which `Store.insertRun` checks atomically with
 * the insert from the admission this service builds. It also decides when an org's
 * monthly credits are due (see CreditService for the rules).
 */
export class PlanService {
  private readonly orgs = new Map<string, CachedOrg>();

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
    return this.plan((await this.cachedOrg(orgId)).plan);
  }

  /**
   * Renews the org's monthly credits when the current period's renewal is due: the plan has
   * an allowance and the org's remembered period is another one. Due or not is decided from
   * the cached org, so an org renewed this period costs no query.
   * @returns the balance after the renewal, or undefined when none was due (read it yourself).
   */
  async renewCredits(orgId: string): Promise<number | undefined> {
    const org = await this.cachedOrg(orgId);
    return this.renewIfDue(orgId, org, this.plan(org.plan));
  }

  /**
   * Pre-flight check 2 (plan access), then what `insertRun` must check and reserve; a paid
   * start first renews the org's credits when they are due.
   * @returns undefined when there is nothing to check (no cap, a free workflow): the fast path.
   * @throws 403 PLAN_ACCESS_DENIED
   */
  async admission(orgId: string, workflow: PlanWorkflow): Promise<{ plan: Plan; admission?: RunAdmission }> {
    const org = await this.cachedOrg(orgId);
    const plan = this.plan(org.plan);
    checkPlanAccess(plan, workflow);
    if (plan.max_concurrent_runs === null && workflow.credit_cost === 0) return { plan };
    if (workflow.credit_cost > 0) await this.renewIfDue(orgId, org, plan);
    return {
      plan,
      admission: { max_concurrent_runs: plan.max_concurrent_runs, credits: workflow.credit_cost },
    };
  }

  /**
   * Moves the org (by id) to the plan called `planName`. Its new limits hold at once in this
   * process and within a few seconds (the plan cache) in the others; runs already accepted
   * keep going, and credits stay as they are until the next monthly top-up, to the new
   * plan's allowance.
   * @throws 400 naming `plan` for a plan that is not configured; 404 for an unknown org.
   */
  async changePlan(orgId: string, planName: string): Promise<Plan> {
    const plan = this.plans[planName];
    if (!plan) {
      throw validationError(
        'plan',
        `plan: '${planName}' is not one of ${Object.keys(this.plans).join(', ')}`,
      );
    }
    if (!(await this.store.setOrgPlan(orgId, planName))) throw notFound('org', orgId);
    this.orgs.delete(orgId);
    return plan;
  }

  /** The caller's error for a start the store refused (checks 3 and 4). */
  refusal(refused: RunAdmissionRefused, plan: Plan, workflow: PlanWorkflow) {
    return refused.reason === 'concurrency'
      ? concurrencyLimitError(plan, refused.value)
      : insufficientCreditsError(workflow, refused.value);
  }

  private async cachedOrg(orgId: string): Promise<CachedOrg> {
    const cached = this.orgs.get(orgId);
    const now = this.clock.now();
    if (cached && cached.until > now) return cached;
    const org = await this.store.getOrg(orgId);
    const entry: CachedOrg = {
      plan: org?.plan ?? this.defaultPlan,
      creditsPeriod: org?.credits_period ?? null,
      until: now + PLAN_CACHE_MS,
    };
    if (this.orgs.size >= PLAN_CACHE_SIZE) this.orgs.clear();
    this.orgs.set(orgId, entry);
    return entry;
  }

  private async renewIfDue(orgId: string, org: CachedOrg, plan: Plan): Promise<number | undefined> {
    const now = this.clock.now();
    const period = creditPeriod(now);
    // Periods (YYYY-MM) compare as text; one already renewed for a later period is done too.
    if ((org.creditsPeriod !== null && org.creditsPeriod >= period) || plan.monthly_credits <= 0)
      return undefined;
    // Idempotent in the store: starts racing at a month's turn renew once between them.
    const { balance } = await this.store.limits.renewCredits(
      orgId,
      period,
      plan.monthly_credits,
      monthlyAllowanceReason(plan, period),
      now,
    );
    // Renewed here or by another process: either way this period is done. The entry cached
    // now may be newer than `org` (read again meanwhile), so update that one.
    const cached = this.orgs.get(orgId);
    if (cached && (cached.creditsPeriod === null || cached.creditsPeriod < period))
      cached.creditsPeriod = period;
    return balance;
  }
}
