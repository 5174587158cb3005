import { firstWindowWithRoom } from '../../domain/flow-control.js';
import { newId } from '../../domain/ids.js';
import type { CreditEntry, Millis } from '../../domain/model.js';
import type { LimitStore } from '../limit-store.js';
import { RunAdmissionRefused, type RunAdmission, type ThrottleRequest } from '../store.js';
import type { SqliteConnection } from './sqlite-connection.js';

const SQL = {
  insertEntry: `INSERT INTO credit_ledger (id, org_id, run_id, kind, amount, reason, created_at)
    VALUES (@id, @org_id, @run_id, @kind, @amount, @reason, @created_at)`,
  balance: 'SELECT COALESCE(SUM(amount), 0) AS balance FROM credit_ledger WHERE org_id = ?',
  // Periods only move forward (YYYY-MM compares as text); an org without one is renewed too.
  claimPeriod: `UPDATE orgs SET credits_period = @period
    WHERE id = @org_id AND (credits_period IS NULL OR credits_period < @period)`,
  ledger: `SELECT * FROM credit_ledger WHERE org_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`,
  activeRuns: `SELECT count(*) AS n FROM runs WHERE org_id = ? AND status IN ('pending', 'running')`,
  // A final run that reserved credits: consumed (0, the reserve is spent) or released (+reserved).
  // The NOT EXISTS keeps a run from being both consumed and released.
  settle: `INSERT INTO credit_ledger (id, org_id, run_id, kind, amount, reason, created_at)
    SELECT @id, org_id, id,
      CASE WHEN status IN ('completed', 'partial_complete') THEN 'consume' ELSE 'release' END,
      CASE WHEN status IN ('completed', 'partial_complete') THEN 0 ELSE credits_reserved END,
      NULL, @at
    FROM runs WHERE id = @run_id AND credits_reserved > 0
      AND status IN ('completed', 'partial_complete', 'failed', 'cancelled')
      AND NOT EXISTS (SELECT 1 FROM credit_ledger WHERE run_id = @run_id AND kind IN ('consume', 'release'))
    ON CONFLICT DO NOTHING`,
  hit: `INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING count`,
  // Throttle windows can be longer than a minute; reserveThrottleWindow prunes its own group.
  prune: "DELETE FROM rate_limits WHERE window_start < ? AND key NOT LIKE 'throttle:%'",
  pruneKey: 'DELETE FROM rate_limits WHERE key = ? AND window_start < ?',
  windows: 'SELECT window_start, count FROM rate_limits WHERE key = ? AND window_start >= ?',
  heldSlot: 'SELECT 1 AS held FROM concurrency_slots WHERE group_key = ? AND run_id = ? AND expires_at > ?',
  liveSlots: 'SELECT count(*) AS n FROM concurrency_slots WHERE group_key = ? AND expires_at > ?',
  dropExpiredSlots: 'DELETE FROM concurrency_slots WHERE group_key = ? AND expires_at <= ?',
  takeSlot: `INSERT INTO concurrency_slots (group_key, run_id, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (group_key, run_id) DO UPDATE SET expires_at = excluded.expires_at`,
  renewSlots: 'UPDATE concurrency_slots SET expires_at = ? WHERE run_id IN (SELECT value FROM json_each(?))',
  releaseSlot: 'DELETE FROM concurrency_slots WHERE group_key = ? AND run_id = ?',
} as const;

/**
 * The admission checks of `insertRun`, run inside its write transaction (SQLite has one
 * writer, so nothing can change the counts between this check and the insert).
 * @throws RunAdmissionRefused
 */
export function checkAdmission(connection: SqliteConnection, orgId: string, admission: RunAdmission): void {
  if (admission.max_concurrent_runs !== null) {
    const { n } = connection.statement(SQL.activeRuns).get(orgId) as { n: number };
    if (n >= admission.max_concurrent_runs) throw new RunAdmissionRefused('concurrency', n);
  }
  if (admission.credits > 0) {
    const { balance } = connection.statement(SQL.balance).get(orgId) as { balance: number };
    if (balance < admission.credits) throw new RunAdmissionRefused('credits', balance);
  }
}

/** Writes the `reserve` entry of a run just inserted; same transaction as the insert. */
export function reserveRunCredits(
  connection: SqliteConnection,
  orgId: string,
  runId: string,
  credits: number,
  at: Millis,
): void {
  connection.statement(SQL.insertEntry).run({
    id: newId('cr'),
    org_id: orgId,
    run_id: runId,
    kind: 'reserve',
    amount: -credits,
    reason: null,
    created_at: at,
  });
}

/**
 * Counts one start of `throttle.group` in the first window, from the one holding `now` on,
 * with fewer than `limit` starts, pruning the group's windows that ended. Call it inside
 * the write transaction that inserts the run (one writer: nothing counts in between).
 * @returns that window's start.
 */
export function reserveThrottleWindow(
  connection: SqliteConnection,
  { group, limit, period_ms }: ThrottleRequest,
  now: Millis,
): Millis {
  connection.statement(SQL.pruneKey).run(group, now - period_ms);
  const rows = connection.statement(SQL.windows).all(group, now - period_ms) as {
    window_start: number;
    count: number;
  }[];
  const counts = new Map(rows.map((row) => [row.window_start, row.count]));
  const start = firstWindowWithRoom(counts, now, period_ms, limit);
  connection.statement(SQL.hit).get(group, start);
  return start;
}

/**
 * Consumes or releases the credits of a run that has just become final. Call it inside
 * the write transaction that made the run final, like `enqueueRunCallbacks`.
 */
export function settleRunCredits(connection: SqliteConnection, runId: string, at: Millis): void {
  connection.statement(SQL.settle).run({ id: newId('cr'), run_id: runId, at });
}

const toEntry = (row: Record<string, unknown>): CreditEntry => ({
  id: row.id as string,
  org_id: row.org_id as string,
  run_id: (row.run_id as string | null) ?? null,
  kind: row.kind as CreditEntry['kind'],
  amount: row.amount as number,
  reason: (row.reason as string | null) ?? null,
  created_at: row.created_at as Millis,
});

/** `LimitStore` on SQLite. */
export class SqliteLimitQueries implements LimitStore {
  constructor(private readonly connection: SqliteConnection) {}

  /** Inserts a grant; for use inside another write transaction (org creation). */
  insertEntry(entry: CreditEntry): void {
    this.connection.statement(SQL.insertEntry).run(entry);
  }

  async creditBalance(orgId: string): Promise<number> {
    return (this.connection.statement(SQL.balance).get(orgId) as { balance: number }).balance;
  }

  async listCreditLedger(orgId: string, page: { limit: number; offset: number }): Promise<CreditEntry[]> {
    const rows = this.connection.statement(SQL.ledger).all(orgId, page.limit, page.offset);
    return (rows as Record<string, unknown>[]).map(toEntry);
  }

  async grantCredits(entry: CreditEntry): Promise<number> {
    return this.connection.write(() => {
      this.insertEntry(entry);
      return (this.connection.statement(SQL.balance).get(entry.org_id) as { balance: number }).balance;
    });
  }

  async renewCredits(
    orgId: string,
    period: string,
    allowance: number,
    reason: string,
    at: Millis,
  ): Promise<{ renewed: boolean; balance: number }> {
    // The single writer's transaction: nothing else (no admission) writes in between.
    return this.connection.write(() => {
      const { changes } = this.connection.statement(SQL.claimPeriod).run({ period, org_id: orgId });
      const { balance } = this.connection.statement(SQL.balance).get(orgId) as { balance: number };
      if (changes === 0) return { renewed: false, balance };
      const topUp = Math.max(0, allowance - balance);
      if (topUp > 0) {
        this.insertEntry({
          id: newId('cr'),
          org_id: orgId,
          run_id: null,
          kind: 'grant',
          amount: topUp,
          reason,
          created_at: at,
        });
      }
      return { renewed: true, balance: balance + topUp };
    });
  }

  async hitRateLimit(key: string, windowStart: Millis): Promise<number> {
    // Joined with the other writes of this turn: one commit, not one fsync per request.
    return this.connection.writeSoon(
      () => (this.connection.statement(SQL.hit).get(key, windowStart) as { count: number }).count,
    );
  }

  async pruneRateLimits(before: Millis): Promise<void> {
    this.connection.statement(SQL.prune).run(before);
  }

  async acquireConcurrencySlot(
    group: string,
    runId: string,
    limit: number,
    expiresAt: Millis,
    now: Millis,
  ): Promise<boolean> {
    return this.connection.writeSoon(() => {
      const held = this.connection.statement(SQL.heldSlot).get(group, runId, now) !== undefined;
      if (!held) {
        this.connection.statement(SQL.dropExpiredSlots).run(group, now);
        const { n } = this.connection.statement(SQL.liveSlots).get(group, now) as { n: number };
        if (n >= limit) return false;
      }
      this.connection.statement(SQL.takeSlot).run(group, runId, expiresAt);
      return true;
    });
  }

  async releaseConcurrencySlot(group: string, runId: string): Promise<void> {
    await this.connection.writeSoon(() => void this.connection.statement(SQL.releaseSlot).run(group, runId));
  }

  async renewConcurrencySlots(runIds: string[], expiresAt: Millis): Promise<void> {
    if (runIds.length === 0) return;
    await this.connection.writeSoon(
      () => void this.connection.statement(SQL.renewSlots).run(expiresAt, JSON.stringify(runIds)),
    );
  }
}
