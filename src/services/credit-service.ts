import type { Clock } from '../domain/clock.js';
import { notFound, validationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { CreditEntry, Millis } from '../domain/model.js';
import { nextCreditPeriodStart, type Plan } from '../domain/plan.js';
import type { Store } from '../store/store.js';
import type { PlanService } from './plan-service.js';

/** An org's balance and the ledger entries that explain it. */
export interface CreditStatement {
  org_id: string;
  balance: number;
  /** When the balance is next topped up to the plan's `monthly_credits`; null = the plan has none. */
  renews_at: Millis | null;
  entries: CreditEntry[];
}

/** What an org's own key may see of its account: its statement and the plan behind it. */
export interface CreditAccount extends CreditStatement {
  plan: Plan;
}

const MAX_GRANT = 1_000_000_000;

/**
 * Credits: the balance of an org is the sum of its ledger. Runs reserve (−cost) when
 * accepted, and when they end either consume (a 0 entry: the reserve is spent) or
 * release (+cost back); those entries are written by the store with the run's insert and
 * its final checkpoint. Credits beyond the plan's allowance are grants (admin route, CLI).
 *
 * Monthly renewal: a credit period is a calendar month in UTC (`creditPeriod`). A new org
 * gets its plan's `monthly_credits` as its first grant, the allowance of its creation
 * month. At the org's first credit check in a later period (a start of a workflow with
 * `credit_cost` > 0, a read of the balance or statement, or a grant) its balance is topped
 * up to `monthly_credits` with one grant of `max(0, monthly_credits − balance)`, reason
 * "monthly allowance of the '<plan>' plan for <YYYY-MM>"; no entry when the balance already
 * covers it. So granted credits above the allowance carry over and the allowance itself
 * does not pile up; credits reserved by unfinished runs count as spent (a later release
 * may lift the balance above the allowance). A plan with `monthly_credits` 0 never renews.
 * The store renews at most once per org and period across processes (`orgs.credits_period`,
 * under the lock admissions take); PlanService decides from its cached org whether one is
 * due, so starts pay no extra query once the org is renewed. Renewing before a grant keeps
 * a grant made on the 1st from being counted toward that month's allowance.
 */
export class CreditService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly plans: PlanService,
  ) {}

  /** The org's balance, renewed first when its monthly credits are due. */
  async balance(orgId: string): Promise<number> {
    return (await this.plans.renewCredits(orgId)) ?? this.store.limits.creditBalance(orgId);
  }

  /** Newest entries first. */
  ledger(orgId: string, page: { limit?: number; offset?: number } = {}): Promise<CreditEntry[]> {
    return this.store.limits.listCreditLedger(orgId, {
      limit: Math.min(Math.max(page.limit ?? 50, 1), 500),
      offset: Math.max(page.offset ?? 0, 0),
    });
  }

  async statement(orgId: string, page: { limit?: number; offset?: number } = {}): Promise<CreditStatement> {
    const { plan: _plan, ...statement } = await this.account(orgId, page);
    return statement;
  }

  /**
   * The caller's account (`GET /v1/credits`, MCP `get_credits`): the statement plus the
   * limits of the org's plan, so a user or assistant can tell before a start whether it
   * would be refused.
   */
  async account(orgId: string, page: { limit?: number; offset?: number } = {}): Promise<CreditAccount> {
    const org = await this.store.getOrg(orgId);
    if (!org) throw notFound('org', orgId);
    const plan = this.plans.plan(org.plan);
    // After the balance: the ledger then holds the renewal's grant, if this read renewed.
    const balance = await this.balance(orgId);
    const entries = await this.ledger(orgId, page);
    const renewsAt = plan.monthly_credits > 0 ? nextCreditPeriodStart(this.clock.now()) : null;
    return { org_id: orgId, plan, balance, renews_at: renewsAt, entries };
  }

  /** Adds `amount` (a positive whole number) to the org's balance. @returns the new balance. */
  async grant(orgId: string, amount: number, reason: string | null = null): Promise<number> {
    if (!Number.isSafeInteger(amount) || amount < 1 || amount > MAX_GRANT) {
      throw validationError('amount', `amount: a whole number of credits from 1 to ${MAX_GRANT}`);
    }
    if (reason !== null && reason.length > 500) {
      throw validationError('reason', 'reason: at most 500 characters');
    }
    if (!(await this.store.getOrg(orgId))) throw notFound('org', orgId);
    await this.plans.renewCredits(orgId);
    return this.store.limits.grantCredits(grantEntry(orgId, amount, reason, this.clock.now()));
  }
}

/** A grant ledger entry (also the first grant of a new org). */
export function grantEntry(orgId: string, amount: number, reason: string | null, at: number): CreditEntry {
  return { id: newId('cr'), org_id: orgId, run_id: null, kind: 'grant', amount, reason, created_at: at };
}
