import type pg from 'pg';
import { firstWindowWithRoom } from '../../domain/flow-control.js';
import type { CreditEntry, Millis } from '../../domain/model.js';
import type { LimitStore } from '../limit-store.js';
import { RunAdmissionRefused, type RunAdmission, type ThrottleRequest } from '../store.js';
import { lockNames, nowOr, type Queryable, withTransaction } from './postgres-rows.js';

/**
 * An `INSERT … SELECT` of the `consume` (completed, partial_complete: amount 0) or
 * `release` (failed, cancelled: +credits_reserved) entries of the final runs in `source`,
 * a relation with the columns id, org_id, status, credits_reserved, finished_at and
 * updated_at of `runs`. Like `runCallbacksInsertSql`, a fragment so the statement that
 * makes runs final carries it and the ledger commits with the runs' end. A run without
 * reserved credits costs nothing; UNIQUE (run_id, kind) and the NOT EXISTS make a
 * replay a no-op, never a second charge or refund.
 */
export const runCreditsSettleSql = (source: string): string => `
  INSERT INTO credit_ledger (id, org_id, run_id, kind, amount, created_at)
  SELECT 'cr_' || gen_random_uuid(), f.org_id, f.id,
    CASE WHEN f.status IN ('completed', 'partial_complete') THEN 'consume' ELSE 'release' END,
    CASE WHEN f.status IN ('completed', 'partial_complete') THEN 0 ELSE f.credits_reserved END,
    COALESCE(f.finished_at, f.updated_at)
  FROM ${source} AS f
  WHERE f.credits_reserved > 0 AND f.status IN ('completed', 'partial_complete', 'failed', 'cancelled')
    AND NOT EXISTS (SELECT 1 FROM credit_ledger l WHERE l.run_id = f.id AND l.kind IN ('consume', 'release'))
  ON CONFLICT (run_id, kind) WHERE run_id IS NOT NULL DO NOTHING`;

/** Consumes or releases the credits of runs made final outside the checkpoint (an idle cancel). */
export async function settleRunCredits(db: Queryable, runIds: string[]): Promise<void> {
  await db.query(
    runCreditsSettleSql(
      '(SELECT id, org_id, status, credits_reserved, finished_at, updated_at FROM runs WHERE id = ANY($1::text[]))',
    ),
    [runIds],
  );
}

/**
 * The admission checks of `insertRun`. The caller's transaction must hold `lockOrg`,
 * so every admission of one org, in every process, runs one after another: the count and
 * the balance cannot change before the insert commits (only reserves lower the balance,
 * and each takes this lock).
 * @throws RunAdmissionRefused
 */
export async function checkAdmission(
  client: pg.PoolClient,
  orgId: string,
  admission: RunAdmission,
): Promise<void> {
  if (admission.max_concurrent_runs !== null) {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM runs WHERE org_id = $1 AND status IN ('pending', 'running')`,
      [orgId],
    );
    const n = rows[0]?.n ?? 0;
    if (n >= admission.max_concurrent_runs) throw new RunAdmissionRefused('concurrency', n);
  }
  if (admission.credits > 0) {
    const balance = await creditBalance(client, orgId);
    if (balance < admission.credits) throw new RunAdmissionRefused('credits', balance);
  }
}

/** Locks the org row until the transaction ends: admissions of one org run one at a time, in every process. */
export async function lockOrg(client: pg.PoolClient, orgId: string): Promise<void> {
  await client.query('SELECT 1 FROM orgs WHERE id = $1 FOR NO KEY UPDATE', [orgId]);
}

/** Locks the throttle `group`'s counters until the transaction ends: its starts are counted one at a time, in every process. */
export async function lockThrottle(client: pg.PoolClient, group: string): Promise<void> {
  await lockNames(client, [group]);
}

/**
 * Counts one start of `throttle.group` in the first window, from the one holding now on,
 * with fewer than `limit` starts, pruning the group's windows that ended. Now is `at`, or
 * the database's clock when `at` is null. The caller's transaction must hold
 * `lockThrottle`, taken before this reads the clock, so a start that waited for the lock
 * counts from when it got it.
 * @returns that window's start.
 */
export async function reserveThrottleWindow(
  client: pg.PoolClient,
  { group, limit, period_ms }: ThrottleRequest,
  at: Millis | null,
): Promise<Millis> {
  const clock = await client.query<{ now: string }>(`SELECT ${nowOr('$1')} AS now`, [at]);
  const now = Number(clock.rows[0]!.now);
  await client.query('DELETE FROM rate_limits WHERE key = $1 AND window_start < $2', [
    group,
    now - period_ms,
  ]);
  const { rows } = await client.query<{ window_start: string; count: number }>(
    'SELECT window_start, count FROM rate_limits WHERE key = $1 AND window_start >= $2',
    [group, now - period_ms],
  );
  const counts = new Map(rows.map((row) => [Number(row.window_start), row.count]));
  const start = firstWindowWithRoom(counts, now, period_ms, limit);
  await client.query(
    `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
      ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1`,
    [group, start],
  );
  return start;
}

/** Writes the `reserve` entry of a run just inserted, in the insert's transaction. */
export async function reserveRunCredits(
  db: Queryable,
  orgId: string,
  runId: string,
  credits: number,
  at: Millis,
): Promise<void> {
  await db.query(
    `INSERT INTO credit_ledger (id, org_id, run_id, kind, amount, created_at)
      VALUES ('cr_' || gen_random_uuid(), $1, $2, 'reserve', $3, $4)`,
    [orgId, runId, -credits, at],
  );
}

async function creditBalance(db: Queryable, orgId: string): Promise<number> {
  const { rows } = await db.query<{ balance: number }>(
    'SELECT COALESCE(SUM(amount), 0)::bigint AS balance FROM credit_ledger WHERE org_id = $1',
    [orgId],
  );
  return Number(rows[0]?.balance ?? 0);
}

/** Inserts a ledger entry (a grant), e.g. in the org's creating transaction. */
export async function insertCreditEntry(db: Queryable, entry: CreditEntry): Promise<void> {
  await db.query(
    `INSERT INTO credit_ledger (id, org_id, run_id, kind, amount, reason, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [entry.id, entry.org_id, entry.run_id, entry.kind, entry.amount, entry.reason, entry.created_at],
  );
}

/** `LimitStore` on PostgreSQL: counters shared by every process on the database. */
export class PostgresLimitQueries implements LimitStore {
  constructor(private readonly pool: pg.Pool) {}

  creditBalance(orgId: string): Promise<number> {
    return creditBalance(this.pool, orgId);
  }

  async listCreditLedger(orgId: string, page: { limit: number; offset: number }): Promise<CreditEntry[]> {
    const { rows } = await this.pool.query<CreditEntry>(
      `SELECT id, org_id, run_id, kind, amount, reason, created_at FROM credit_ledger
        WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
      [orgId, page.limit, page.offset],
    );
    return rows.map((row) => ({ ...row, amount: Number(row.amount), created_at: Number(row.created_at) }));
  }

  async grantCredits(entry: CreditEntry): Promise<number> {
    await insertCreditEntry(this.pool, entry);
    return creditBalance(this.pool, entry.org_id);
  }

  renewCredits(
    orgId: string,
    period: string,
    allowance: number,
    reason: string,
    at: Millis,
  ): Promise<{ renewed: boolean; balance: number }> {
    return withTransaction(this.pool, async (client) => {
      // The UPDATE takes the row lock `lockOrg` takes; a concurrent renewal waits for it,
      // then re-reads the row, finds the period set and updates nothing: one winner.
      const { rowCount } = await client.query(
        // Periods only move forward (YYYY-MM compares as text); an org without one is renewed too.
        `UPDATE orgs SET credits_period = $2 WHERE id = $1 AND (credits_period IS NULL OR credits_period < $2)
          RETURNING id`,
        [orgId, period],
      );
      const balance = await creditBalance(client, orgId);
      if (rowCount === 0) return { renewed: false, balance };
      const topUp = Math.max(0, allowance - balance);
      if (topUp > 0) {
        await client.query(
          `INSERT INTO credit_ledger (id, org_id, run_id, kind, amount, reason, created_at)
            VALUES ('cr_' || gen_random_uuid(), $1, NULL, 'grant', $2, $3, $4)`,
          [orgId, topUp, reason, at],
        );
      }
      return { renewed: true, balance: balance + topUp };
    });
  }

  async hitRateLimit(key: string, windowStart: Millis): Promise<number> {
    const { rows } = await this.pool.query<{ count: number }>({
      name: 'stepwise_hit_rate_limit',
      text: `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
        ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count`,
      values: [key, windowStart],
    });
    return rows[0]!.count;
  }

  async pruneRateLimits(before: Millis): Promise<void> {
    // Throttle windows can be longer than a minute; reserveThrottleWindow prunes its own group.
    await this.pool.query(`DELETE FROM rate_limits WHERE window_start < $1 AND key NOT LIKE 'throttle:%'`, [
      before,
    ]);
  }

  async acquireConcurrencySlot(
    group: string,
    runId: string,
    limit: number,
    expiresAt: Millis,
    now: Millis,
  ): Promise<boolean> {
    return this.locked(group, async (client) => {
      const held = await client.query(
        'SELECT 1 FROM concurrency_slots WHERE group_key = $1 AND run_id = $2 AND expires_at > $3',
        [group, runId, now],
      );
      if (held.rowCount === 0) {
        await client.query('DELETE FROM concurrency_slots WHERE group_key = $1 AND expires_at <= $2', [
          group,
          now,
        ]);
        const { rows } = await client.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM concurrency_slots WHERE group_key = $1 AND expires_at > $2',
          [group, now],
        );
        if ((rows[0]?.n ?? 0) >= limit) return false;
      }
      await client.query(
        `INSERT INTO concurrency_slots (group_key, run_id, expires_at) VALUES ($1, $2, $3)
          ON CONFLICT (group_key, run_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
        [group, runId, expiresAt],
      );
      return true;
    });
  }

  async releaseConcurrencySlot(group: string, runId: string): Promise<void> {
    await this.pool.query('DELETE FROM concurrency_slots WHERE group_key = $1 AND run_id = $2', [
      group,
      runId,
    ]);
  }

  async renewConcurrencySlots(runIds: string[], expiresAt: Millis): Promise<void> {
    if (runIds.length === 0) return;
    await this.pool.query('UPDATE concurrency_slots SET expires_at = $1 WHERE run_id = ANY($2::text[])', [
      expiresAt,
      runIds,
    ]);
  }

  /** Runs `work` in a transaction holding the advisory lock of `key`: one at a time per key, in every process. */
  private locked<T>(key: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, async (client) => {
      await lockNames(client, [key]);
      return work(client);
    });
  }
}
