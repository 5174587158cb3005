import type pg from 'pg';
import type { DeliveryAttemptRecord, DeliveryRecord, RunResult } from '../../domain/delivery.js';
import { newId } from '../../domain/ids.js';
import type { Millis } from '../../domain/model.js';
import {
  SIGNING_SECRET_NAME,
  type ClaimedDelivery,
  type DeliveryAttemptResult,
  type DeliveryDetail,
  type DeliveryStore,
} from '../delivery-store.js';
import { type Queryable, toJson } from './postgres-rows.js';

const DELIVERY_COLUMNS = [
  'id',
  'org_id',
  'run_id',
  'url',
  'event_type',
  'status',
  'attempts',
  'next_attempt_at',
  'last_status_code',
  'last_error',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof DeliveryRecord)[];

/**
 * An `INSERT … SELECT` of the pending deliveries of the final runs in `source`, a relation
 * with the columns id, org_id, workflow_id, status, finished_at and updated_at of `runs`:
 * one per distinct callback URL of the run's workflow (`callback_url`, `metadata.webhook.url`).
 * It is a fragment so the statement that makes runs final can carry it as a CTE, which
 * makes the deliveries commit with the runs' end (an outbox) at no extra round trip; it
 * returns the ids inserted, for `notifyDeliveriesSql`.
 * The DISTINCT keeps the lateral subquery from being flattened into a join, so each final
 * run costs one primary-key probe of `workflows` and other runs cost nothing.
 */
export const runCallbacksInsertSql = (source: string): string => `
  INSERT INTO deliveries (id, org_id, run_id, url, event_type, status, attempts, next_attempt_at, created_at, updated_at)
  SELECT 'dlv_' || gen_random_uuid(), f.org_id, f.id, t.url, 'run.' || f.status, 'pending', 0,
    COALESCE(f.finished_at, f.updated_at), COALESCE(f.finished_at, f.updated_at), COALESCE(f.finished_at, f.updated_at)
  FROM ${source} AS f
  CROSS JOIN LATERAL (
    SELECT DISTINCT u.url FROM workflows w
    CROSS JOIN LATERAL (VALUES (w.callback_url), (CASE jsonb_typeof(w.metadata -> 'webhook' -> 'url')
      WHEN 'string' THEN w.metadata -> 'webhook' ->> 'url' END)) AS u(url)
    WHERE w.id = f.workflow_id AND u.url <> ''
  ) AS t
  WHERE f.status IN ('completed', 'partial_complete', 'failed', 'cancelled')
  ON CONFLICT (run_id, url) DO NOTHING
  RETURNING id`;

/** NOTIFY channel of queued deliveries; the payload is empty. */
export const DELIVERIES_CHANNEL = 'stepwise_deliveries';

/**
 * A query sending one NOTIFY on `DELIVERIES_CHANNEL` when the relation `inserted` (a
 * `runCallbacksInsertSql` CTE) has rows, so the dispatchers of every process wake at the
 * commit instead of at their next poll. Its single column counts the notifications (0 or 1).
 */
export const notifyDeliveriesSql = (inserted: string): string =>
  `SELECT count(pg_notify('${DELIVERIES_CHANNEL}', '')) AS notified FROM (SELECT 1 FROM ${inserted} LIMIT 1) AS queued`;

/**
 * Inserts the pending deliveries of runs that became final outside the checkpoint
 * statement (an immediate cancel). Run it in the transaction that made them final.
 */
export async function enqueueRunCallbacks(db: Queryable, runIds: string[]): Promise<void> {
  const source =
    '(SELECT id, org_id, workflow_id, status, finished_at, updated_at FROM runs WHERE id = ANY($1::text[]))';
  await db.query(`WITH inserted AS (${runCallbacksInsertSql(source)}) ${notifyDeliveriesSql('inserted')}`, [
    runIds,
  ]);
}

/**
 * Takes turns between orgs: an org's k-th due delivery gets turn k plus the deliveries it
 * has in flight (leased, so due again only within one lease), and the lowest turns go first,
 * oldest first among equals. An org with a backlog, or slow receivers holding its sends,
 * thus never keeps another org's callbacks waiting for more than a turn. The turns pick a
 * few times `limit` candidates, of which the first `limit` not locked by a concurrent
 * claimer are taken, so claimers at once still get disjoint deliveries.
 */
const CLAIM_SQL = `
WITH in_flight AS (
  SELECT org_id, count(*) AS n FROM deliveries
  WHERE status = 'pending' AND lease_owner IS NOT NULL
    AND next_attempt_at > $3 AND next_attempt_at <= $3::bigint + $4::bigint
  GROUP BY org_id
), turns AS (
  SELECT d.id, d.next_attempt_at,
    row_number() OVER (PARTITION BY d.org_id ORDER BY d.next_attempt_at, d.id) + coalesce(f.n, 0) AS turn
  FROM deliveries d LEFT JOIN in_flight f ON f.org_id = d.org_id
  WHERE d.status = 'pending' AND d.next_attempt_at <= $3
), candidates AS (
  SELECT id, turn, next_attempt_at FROM turns ORDER BY turn, next_attempt_at, id LIMIT $2::int * 4
), due AS (
  SELECT d.id FROM deliveries d JOIN candidates c ON c.id = d.id
  WHERE d.status = 'pending' AND d.next_attempt_at <= $3
  ORDER BY c.turn, c.next_attempt_at, c.id
  LIMIT $2
  FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries SET lease_owner = $1, next_attempt_at = $3::bigint + $4::bigint
FROM due, runs r
WHERE deliveries.id = due.id AND r.id = deliveries.run_id
RETURNING ${DELIVERY_COLUMNS.map((column) => `deliveries.${column}`).join(', ')},
  r.workflow_id AS run_workflow_id, r.status AS run_status, r.output AS run_output, r.error AS run_error,
  r.started_at AS run_started_at, r.finished_at AS run_finished_at`;

const RECORD_SQL = `
WITH applied AS (
  UPDATE deliveries SET status = $3, attempts = $4, next_attempt_at = $5, lease_owner = NULL,
    last_status_code = $6, last_error = $7, updated_at = $9
  WHERE id = $1 AND lease_owner = $2 AND attempts = $4 - 1 AND status = 'pending'
  RETURNING id
), attempt AS (
  INSERT INTO delivery_attempts (id, delivery_id, attempt, status_code, error, duration_ms, at)
  SELECT $10, id, $4, $6, $7, $8, $9 FROM applied
), event AS (
  INSERT INTO run_events (run_id, type, data, at)
  SELECT $11, $12::text, $13, $14 FROM applied WHERE $12::text IS NOT NULL
)
SELECT count(*)::int AS applied FROM applied`;

function toDelivery(row: Record<string, unknown>): DeliveryRecord {
  return Object.fromEntries(
    DELIVERY_COLUMNS.map((column) => [column, row[column] ?? null]),
  ) as unknown as DeliveryRecord;
}

function toRunResult(row: Record<string, unknown>): RunResult {
  return {
    id: row.run_id as string,
    workflow_id: row.run_workflow_id as string,
    status: row.run_status as RunResult['status'],
    output: row.run_output ?? null,
    error: (row.run_error ?? null) as RunResult['error'],
    started_at: (row.run_started_at ?? null) as Millis | null,
    finished_at: (row.run_finished_at ?? null) as Millis | null,
  };
}

/** The DeliveryStore of the Postgres backend. */
export class PostgresDeliveryQueries implements DeliveryStore {
  constructor(readonly pool: pg.Pool) {}

  async claimDueDeliveries(
    owner: string,
    limit: number,
    leaseMs: number,
    now: Millis,
  ): Promise<ClaimedDelivery[]> {
    const { rows } = await this.pool.query({
      name: 'stepwise_claim_deliveries',
      text: CLAIM_SQL,
      values: [owner, limit, now, leaseMs],
    });
    return rows.map((row) => ({ ...toDelivery(row), run: toRunResult(row) }));
  }

  async nextDueAt(now: Millis): Promise<Millis | null> {
    const { rows } = await this.pool.query<{ next: Millis | null }>({
      name: 'stepwise_next_delivery_due',
      text: `SELECT min(next_attempt_at) AS next FROM deliveries WHERE status = 'pending' AND next_attempt_at > $1`,
      values: [now],
    });
    return rows[0]?.next ?? null;
  }

  async recordDeliveryAttempt(result: DeliveryAttemptResult): Promise<boolean> {
    const { event } = result;
    const { rows } = await this.pool.query<{ applied: number }>({
      name: 'stepwise_record_delivery_attempt',
      text: RECORD_SQL,
      values: [
        result.delivery_id,
        result.owner,
        result.outcome.status,
        result.attempt,
        result.outcome.next_attempt_at,
        result.status_code,
        result.error,
        result.duration_ms,
        result.at,
        newId('dla'),
        event?.run_id ?? null,
        event?.type ?? null,
        event ? toJson(event.data) : null,
        event?.at ?? null,
      ],
    });
    return rows[0]?.applied === 1;
  }

  async listRunDeliveries(orgId: string, runId: string): Promise<DeliveryDetail[]> {
    const { rows } = await this.pool.query(
      `SELECT ${DELIVERY_COLUMNS.join(', ')} FROM deliveries WHERE org_id = $1 AND run_id = $2
        ORDER BY created_at, id`,
      [orgId, runId],
    );
    if (rows.length === 0) return [];
    const deliveries = rows.map(toDelivery);
    const attempts = await this.pool.query<DeliveryAttemptRecord>(
      `SELECT id, delivery_id, attempt, status_code, error, duration_ms, at FROM delivery_attempts
        WHERE delivery_id = ANY($1::text[]) ORDER BY delivery_id, attempt`,
      [deliveries.map((delivery) => delivery.id)],
    );
    return deliveries.map((delivery) => ({
      ...delivery,
      attempt_log: attempts.rows.filter((attempt) => attempt.delivery_id === delivery.id),
    }));
  }

  async getSigningSecret(orgId: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ ciphertext: string }>(
      'SELECT ciphertext FROM secrets WHERE org_id = $1 AND name = $2',
      [orgId, SIGNING_SECRET_NAME],
    );
    return rows[0]?.ciphertext ?? null;
  }

  async createSigningSecret(orgId: string, ciphertext: string, at: Millis): Promise<string> {
    await this.pool.query(
      `INSERT INTO secrets (org_id, name, ciphertext, updated_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (org_id, name) DO NOTHING`,
      [orgId, SIGNING_SECRET_NAME, ciphertext, at],
    );
    // A new statement: its snapshot sees a concurrent winner the insert waited for.
    return (await this.getSigningSecret(orgId)) ?? ciphertext;
  }

  async replaceSigningSecret(orgId: string, ciphertext: string, at: Millis): Promise<void> {
    await this.pool.query(
      `INSERT INTO secrets (org_id, name, ciphertext, updated_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (org_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
      [orgId, SIGNING_SECRET_NAME, ciphertext, at],
    );
  }
}
