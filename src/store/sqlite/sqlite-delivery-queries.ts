import type { DeliveryAttemptRecord, DeliveryRecord, RunResult } from '../../domain/delivery.js';
import { newId } from '../../domain/ids.js';
import type { Millis, RunRecord } from '../../domain/model.js';
import { isFinalStatus } from '../../domain/run-state.js';
import {
  SIGNING_SECRET_NAME,
  type ClaimedDelivery,
  type DeliveryAttemptResult,
  type DeliveryDetail,
  type DeliveryStore,
} from '../delivery-store.js';
import type { SqliteConnection, StoreSignal } from './sqlite-connection.js';
import { RUN_EVENT_INPUT_CODECS, encodeRecord, insertSql } from './sqlite-rows.js';

const SQL = {
  callbackTargets: `SELECT r.org_id, r.status, w.callback_url, json_extract(w.metadata, '$.webhook.url') AS webhook_url
    FROM runs r JOIN workflows w ON w.id = r.workflow_id WHERE r.id = ?`,
  insertDelivery: `INSERT INTO deliveries (id, org_id, run_id, url, event_type, status, attempts, next_attempt_at,
      created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (run_id, url) DO NOTHING`,
  // Turns between orgs, as the PostgreSQL claim explains: an org's k-th due delivery gets turn
  // k plus its deliveries in flight (leased: due again within one lease); lowest turns first.
  dueDeliveries: `WITH in_flight AS (
      SELECT org_id, count(*) AS n FROM deliveries
      WHERE status = 'pending' AND lease_owner IS NOT NULL AND next_attempt_at > @now AND next_attempt_at <= @until
      GROUP BY org_id
    ), turns AS (
      SELECT d.id, d.next_attempt_at,
        row_number() OVER (PARTITION BY d.org_id ORDER BY d.next_attempt_at, d.id) + coalesce(f.n, 0) AS turn
      FROM deliveries d LEFT JOIN in_flight f ON f.org_id = d.org_id
      WHERE d.status = 'pending' AND d.next_attempt_at <= @now
    )
    SELECT d.*, r.workflow_id AS run_workflow_id, r.status AS run_status, r.output AS run_output,
      r.error AS run_error, r.started_at AS run_started_at, r.finished_at AS run_finished_at
    FROM turns t JOIN deliveries d ON d.id = t.id JOIN runs r ON r.id = d.run_id
    ORDER BY t.turn, t.next_attempt_at, t.id LIMIT @limit`,
  nextDueAt: `SELECT MIN(next_attempt_at) AS at FROM deliveries WHERE status = 'pending' AND next_attempt_at > ?`,
  lease: 'UPDATE deliveries SET lease_owner = ?, next_attempt_at = ? WHERE id = ?',
  applyAttempt: `UPDATE deliveries SET status = @status, attempts = @attempt, next_attempt_at = @next_attempt_at,
      lease_owner = NULL, last_status_code = @status_code, last_error = @error, updated_at = @at
    WHERE id = @delivery_id AND lease_owner = @owner AND attempts = @attempt - 1 AND status = 'pending'`,
  insertAttempt: `INSERT INTO delivery_attempts (id, delivery_id, attempt, status_code, error, duration_ms, at)
    VALUES (@id, @delivery_id, @attempt, @status_code, @error, @duration_ms, @at)`,
  insertEvent: insertSql('run_events', RUN_EVENT_INPUT_CODECS),
  deliveriesOfRun: 'SELECT * FROM deliveries WHERE org_id = ? AND run_id = ? ORDER BY created_at, id',
  attemptsOf: `SELECT * FROM delivery_attempts WHERE delivery_id IN (SELECT value FROM json_each(?))
    ORDER BY delivery_id, attempt`,
  signingSecret: 'SELECT ciphertext FROM secrets WHERE org_id = ? AND name = ?',
  createSigningSecret: `INSERT INTO secrets (org_id, name, ciphertext, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (org_id, name) DO NOTHING`,
  replaceSigningSecret: `INSERT INTO secrets (org_id, name, ciphertext, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (org_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
} as const;

/**
 * Inserts the pending deliveries of a run that has just become final, one per distinct
 * callback URL of its workflow. Call it inside the write transaction that made the run
 * final: that is what makes the deliveries as durable as the run's end (an outbox). When
 * any was queued, `deliveriesAvailable` is pushed onto `signals` to wake the dispatchers.
 */
export function enqueueRunCallbacks(
  connection: SqliteConnection,
  runId: string,
  at: Millis,
  signals: StoreSignal[],
): void {
  const target = connection.statement(SQL.callbackTargets).get(runId) as
    { org_id: string; status: RunRecord['status']; callback_url: unknown; webhook_url: unknown } | undefined;
  if (target === undefined || !isFinalStatus(target.status)) return;
  const urls = new Set([target.callback_url, target.webhook_url]);
  let queued = 0;
  for (const url of urls) {
    if (typeof url !== 'string' || url === '') continue;
    queued += connection
      .statement(SQL.insertDelivery)
      .run(newId('dlv'), target.org_id, runId, url, `run.${target.status}`, at, at, at).changes;
  }
  if (queued > 0) signals.push({ kind: 'deliveriesAvailable' });
}

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

function toDelivery(row: Record<string, unknown>): DeliveryRecord {
  return {
    id: row.id as string,
    org_id: row.org_id as string,
    run_id: row.run_id as string,
    url: row.url as string,
    event_type: row.event_type as DeliveryRecord['event_type'],
    status: row.status as DeliveryRecord['status'],
    attempts: row.attempts as number,
    next_attempt_at: row.next_attempt_at as Millis | null,
    last_status_code: row.last_status_code as number | null,
    last_error: row.last_error as string | null,
    created_at: row.created_at as Millis,
    updated_at: row.updated_at as Millis,
  };
}

function toRunResult(row: Record<string, unknown>): RunResult {
  return {
    id: row.run_id as string,
    workflow_id: row.run_workflow_id as string,
    status: row.run_status as RunResult['status'],
    output: parseJson(row.run_output as string | null),
    error: parseJson(row.run_error as string | null) as RunResult['error'],
    started_at: row.run_started_at as Millis | null,
    finished_at: row.run_finished_at as Millis | null,
  };
}

/** The DeliveryStore of the Sqlite backend. */
export class SqliteDeliveryQueries implements DeliveryStore {
  constructor(readonly connection: SqliteConnection) {}

  async claimDueDeliveries(
    owner: string,
    limit: number,
    leaseMs: number,
    now: Millis,
  ): Promise<ClaimedDelivery[]> {
    return this.connection.write(() => {
      const rows = this.connection
        .statement(SQL.dueDeliveries)
        .all({ now, until: now + leaseMs, limit }) as Record<string, unknown>[];
      const lease = this.connection.statement(SQL.lease);
      return rows.map((row) => {
        lease.run(owner, now + leaseMs, row.id);
        return { ...toDelivery(row), next_attempt_at: now + leaseMs, run: toRunResult(row) };
      });
    });
  }

  async nextDueAt(now: Millis): Promise<Millis | null> {
    const row = this.connection.statement(SQL.nextDueAt).get(now) as { at: Millis | null };
    return row.at;
  }

  async recordDeliveryAttempt(result: DeliveryAttemptResult): Promise<boolean> {
    const { outcome, event, ...attempt } = result;
    return this.connection.write(() => {
      const { changes } = this.connection.statement(SQL.applyAttempt).run({
        ...attempt,
        status: outcome.status,
        next_attempt_at: outcome.next_attempt_at,
      });
      if (changes === 0) return false;
      this.connection.statement(SQL.insertAttempt).run({
        id: newId('dla'),
        delivery_id: attempt.delivery_id,
        attempt: attempt.attempt,
        status_code: attempt.status_code,
        error: attempt.error,
        duration_ms: attempt.duration_ms,
        at: attempt.at,
      });
      if (event) this.connection.statement(SQL.insertEvent).run(encodeRecord(event, RUN_EVENT_INPUT_CODECS));
      return true;
    });
  }

  async listRunDeliveries(orgId: string, runId: string): Promise<DeliveryDetail[]> {
    const deliveries = (
      this.connection.statement(SQL.deliveriesOfRun).all(orgId, runId) as Record<string, unknown>[]
    ).map(toDelivery);
    if (deliveries.length === 0) return [];
    const attempts = this.connection
      .statement(SQL.attemptsOf)
      .all(JSON.stringify(deliveries.map((delivery) => delivery.id))) as DeliveryAttemptRecord[];
    return deliveries.map((delivery) => ({
      ...delivery,
      attempt_log: attempts.filter((attempt) => attempt.delivery_id === delivery.id),
    }));
  }

  async getSigningSecret(orgId: string): Promise<string | null> {
    const row = this.connection.statement(SQL.signingSecret).get(orgId, SIGNING_SECRET_NAME) as
      { ciphertext: string } | undefined;
    return row?.ciphertext ?? null;
  }

  async createSigningSecret(orgId: string, ciphertext: string, at: Millis): Promise<string> {
    return this.connection.write(() => {
      this.connection.statement(SQL.createSigningSecret).run(orgId, SIGNING_SECRET_NAME, ciphertext, at);
      const row = this.connection.statement(SQL.signingSecret).get(orgId, SIGNING_SECRET_NAME) as {
        ciphertext: string;
      };
      return row.ciphertext;
    });
  }

  async replaceSigningSecret(orgId: string, ciphertext: string, at: Millis): Promise<void> {
    this.connection.statement(SQL.replaceSigningSecret).run(orgId, SIGNING_SECRET_NAME, ciphertext, at);
  }
}
