import type { CreditEntry, Millis } from '../domain/model.js';

/**
 * Credits and rate-limit counters. Reserving credits and counting throttled starts are
 * part of `Store.insertRun`, and consuming or releasing credits part of the checkpoint
 * that ends a run (and of an idle cancel), so those commit with the run; this interface
 * holds the rest.
 */
export interface LimitStore {
  /** SUM(amount) of the org's ledger; 0 for an org without entries. */
  creditBalance(orgId: string): Promise<number>;
  /** The org's ledger, newest first. */
  listCreditLedger(orgId: string, page: { limit: number; offset: number }): Promise<CreditEntry[]>;
  /** Appends a grant (positive `amount`, no run). @returns the balance after it. */
  grantCredits(entry: CreditEntry): Promise<number>;
  /**
   * Renews the org's credits for `period` (`YYYY-MM`) at most once, across processes: when
   * the org's `credits_period` is null or earlier than `period` (never later: a process
   * whose clock lags at a month's turn must not renew the past month again), sets it and tops the balance up to
   * `allowance` with one `grant` of `max(0, allowance - balance)` (none when the balance
   * covers it) with `reason`, created `at`. Runs under the org lock run admissions take, so
   * no admission checks a balance between the period's change and the top-up. An unknown
   * org gets nothing. @returns whether this call renewed, and the balance after it.
   */
  renewCredits(
    orgId: string,
    period: string,
    allowance: number,
    reason: string,
    at: Millis,
  ): Promise<{ renewed: boolean; balance: number }>;
  /**
   * Adds one to the counter of `key` in the window starting at `windowStart`, atomically
   * across processes. @returns the count after this call.
   */
  hitRateLimit(key: string, windowStart: Millis): Promise<number>;
  /** Deletes counters of windows that started before `before`. */
  pruneRateLimits(before: Millis): Promise<void>;
  /**
   * Takes a slot of concurrency `group` for `runId` if fewer than `limit` other runs hold a
   * live one (expires_at > now), atomically across processes; a run that already holds one
   * keeps it. The slot lasts until `expiresAt` unless renewed. @returns whether it holds a slot.
   */
  acquireConcurrencySlot(
    group: string,
    runId: string,
    limit: number,
    expiresAt: Millis,
    now: Millis,
  ): Promise<boolean>;
  /** Gives the run's slot of `group` back. */
  releaseConcurrencySlot(group: string, runId: string): Promise<void>;
  /** Extends the slots the runs hold (with their leases). */
  renewConcurrencySlots(runIds: string[], expiresAt: Millis): Promise<void>;
}
