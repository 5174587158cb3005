import type { Clock } from '../domain/clock.js';
import { notFound, validationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { CreditEntry } from '../domain/model.js';
import type { Store } from '../store/store.js';

/** An org's balance and the ledger entries that explain it. */
export interface CreditStatement {
  org_id: string;
  balance: number;
  entries: CreditEntry[];
}

const MAX_GRANT = 1_000_000_000;

/**
 * Credits: the balance of an org is the sum of its ledger. Runs reserve (−cost) when
 * accepted, and when they end either consume (a 0 entry: the reserve is spent) or
 * release (+cost back); those entries are written by the store with the run's insert and
 * its final checkpoint. New orgs get their plan's `monthly_credits` as a first grant;
 * there is no automatic monthly renewal: top-ups are grants (admin route, CLI).
 */
export class CreditService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  balance(orgId: string): Promise<number> {
    return this.store.limits.creditBalance(orgId);
  }

  /** Newest entries first. */
  ledger(orgId: string, page: { limit?: number; offset?: number } = {}): Promise<CreditEntry[]> {
    return this.store.limits.listCreditLedger(orgId, {
      limit: Math.min(Math.max(page.limit ?? 50, 1), 500),
      offset: Math.max(page.offset ?? 0, 0),
    });
  }

  async statement(orgId: string, page: { limit?: number; offset?: number } = {}): Promise<CreditStatement> {
    if (!(await this.store.getOrg(orgId))) throw notFound('org', orgId);
    const [balance, entries] = await Promise.all([this.balance(orgId), this.ledger(orgId, page)]);
    return { org_id: orgId, balance, entries };
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
    return this.store.limits.grantCredits(grantEntry(orgId, amount, reason, this.clock.now()));
  }
}

/** A grant ledger entry (also the first grant of a new org). */
export function grantEntry(orgId: string, amount: number, reason: string | null, at: number): CreditEntry {
  return { id: newId('cr'), org_id: orgId, run_id: null, kind: 'grant', amount, reason, created_at: at };
}
