import type {
  DeliveryAttemptRecord,
  DeliveryOutcome,
  DeliveryRecord,
  RunResult,
} from '../domain/delivery.js';
import type { Millis, RunEventInput } from '../domain/model.js';

/**
 * Where the org's callback signing secret lives: a row of the `secrets` table whose name
 * `SecretService` refuses and templates cannot reference (a dot ends a `secrets.` path).
 */
export const SIGNING_SECRET_NAME = 'stepwise.callback_signing_secret';

/** A delivery leased to one sender, with the finished run whose result it carries. */
export interface ClaimedDelivery extends DeliveryRecord {
  run: RunResult;
}

/** One finished attempt, as the sender that holds the lease records it. */
export interface DeliveryAttemptResult {
  delivery_id: string;
  /** The lease holder; the record is refused when another sender took the delivery over. */
  owner: string;
  /** This attempt's number: the claimed `attempts` plus one. */
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  at: Millis;
  outcome: DeliveryOutcome;
  /** `callback.delivered` or `callback.failed`, written with the attempt when it ends the delivery. */
  event: RunEventInput | null;
}

/** A delivery with all its attempts, oldest first. */
export interface DeliveryDetail extends DeliveryRecord {
  attempt_log: DeliveryAttemptRecord[];
}

/**
 * Outbound callback deliveries and their attempts. Deliveries are never inserted through
 * this interface: the write that makes a run final inserts one per distinct callback URL
 * of its workflow (`callback_url`, `metadata.webhook.url`) in the same transaction.
 */
export interface DeliveryStore {
  /**
   * Leases up to `limit` pending deliveries due at `now`, taking turns between orgs: an
   * org's k-th due delivery has turn k plus the deliveries it has in flight (leased within
   * the last `leaseMs`), lowest turn first, oldest due first among equals. Sets the owner
   * and pushes `next_attempt_at` to `now + leaseMs`, so a sender that dies lets the
   * delivery come due again. Concurrent callers never get the same delivery.
   */
  claimDueDeliveries(owner: string, limit: number, leaseMs: number, now: Millis): Promise<ClaimedDelivery[]>;
  /**
   * The earliest `next_attempt_at` after `now` of a pending delivery (a scheduled retry, or
   * the expiry of a lease), for a precise wake-up timer; null when none is ahead.
   */
  nextDueAt(now: Millis): Promise<Millis | null>;
  /**
   * Records an attempt and applies its outcome (with its event) in one transaction.
   * @returns false, writing nothing, when `owner` no longer holds the delivery at `attempt - 1` attempts.
   */
  recordDeliveryAttempt(result: DeliveryAttemptResult): Promise<boolean>;
  /** The run's deliveries with their attempts, oldest first; none when the run is not the org's. */
  listRunDeliveries(orgId: string, runId: string): Promise<DeliveryDetail[]>;
  /** The sealed signing secret of the org, if it has one. */
  getSigningSecret(orgId: string): Promise<string | null>;
  /**
   * Stores `ciphertext` as the org's signing secret unless it already has one.
   * @returns the secret now stored: `ciphertext`, or the one a concurrent caller stored first.
   */
  createSigningSecret(orgId: string, ciphertext: string, at: Millis): Promise<string>;
  /** Replaces (or creates) the org's signing secret. */
  replaceSigningSecret(orgId: string, ciphertext: string, at: Millis): Promise<void>;
}
