import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Webhook } from 'standardwebhooks';
import type { Clock } from '../domain/clock.js';
import {
  buildRunCallback,
  DEFAULT_DELIVERY_RETRY,
  deliveryOutcome,
  type DeliveryOutcome,
  type DeliveryRetryPolicy,
} from '../domain/delivery.js';
import { StepFailure } from '../domain/errors.js';
import type { RunEventInput } from '../domain/model.js';
import type { ClaimedDelivery } from '../store/delivery-store.js';
import type { Store } from '../store/store.js';
import { USER_AGENT } from '../tools/http-support.js';
import { describeUrl, guardedFetch } from '../tools/network-guard.js';
import { sleepUntilNextDue, WakeUp } from './wake-up.js';

/** How a dispatcher paces, bounds and retries its sends. */
export interface DispatcherConfig {
  /** Deliveries sent at once by this process. */
  concurrency: number;
  /**
   * Longest sleep between claims. A delivery queued by a run's end wakes the dispatcher at
   * once (in-process, or by NOTIFY on PostgreSQL), and a retry due sooner shortens the sleep.
   */
  pollMs: number;
  /** How long a claim lasts; must exceed `requestTimeoutMs` so a live sender never loses it mid-send. */
  leaseMs: number;
  /** An attempt without a complete answer after this long fails (and is retried). */
  requestTimeoutMs: number;
  retry: DeliveryRetryPolicy;
}

/** Defaults: 8 at once, a 10 s request timeout under a 60 s lease, the default retry policy. */
export const DEFAULT_DISPATCHER_CONFIG: DispatcherConfig = {
  concurrency: 8,
  pollMs: 1000,
  leaseMs: 60_000,
  requestTimeoutMs: 10_000,
  retry: DEFAULT_DELIVERY_RETRY,
};

/** What a dispatcher needs from its process. */
export interface DispatcherDeps {
  store: Store;
  clock: Clock;
  /** The org's `whsec_…` secret that signs its callbacks. */
  signingSecret(orgId: string): Promise<string>;
  /** STEPWISE_ALLOW_PRIVATE_NETWORK: without it a private or loopback URL fails for good. */
  allowPrivateNetwork: boolean;
  log(level: 'info' | 'warn' | 'error', message: string, data: Record<string, unknown>): void;
  random?: () => number;
}

interface AttemptReport {
  status_code: number | null;
  error: string | null;
  succeeded: boolean;
  permanent: boolean;
}

/**
 * Sends the run-result callbacks the store queued when runs finished. Each delivery is
 * claimed under a lease (so processes sharing a database never send the same attempt at
 * once), POSTed signed per Standard Webhooks through the SSRF guard, and its attempt
 * recorded with the next one scheduled, or the delivery closed as delivered or failed.
 * A sender that dies mid-send leaves its lease to expire: delivery is at least once, and
 * the stable `webhook-id` lets receivers drop the repeat.
 *
 * Wakes when the store signals `deliveriesAvailable` (a run ended with callback URLs, in
 * this process or, on PostgreSQL, any other), on a timer for the next scheduled retry or
 * lease expiry, and on the poll interval as the fallback.
 */
export class DeliveryDispatcher {
  /** The lease holder name this process writes on the deliveries it claims. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly inflight = new Set<Promise<void>>();
  private running = false;
  private readonly wakeUp = new WakeUp();
  private loopDone: Promise<void> | null = null;
  private unlisten: (() => Promise<void>) | null = null;

  constructor(
    private readonly deps: DispatcherDeps,
    private readonly config: DispatcherConfig = DEFAULT_DISPATCHER_CONFIG,
  ) {
    if (config.leaseMs <= config.requestTimeoutMs) {
      throw new RangeError('DispatcherConfig.leaseMs must exceed requestTimeoutMs');
    }
  }

  /**
   * Subscribes to the store's `deliveriesAvailable` signal and starts the claim loop;
   * deliveries already due (e.g. queued while no dispatcher ran) go out first.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unlisten = await this.deps.store.listen({
      runsAvailable: () => undefined,
      cancelRequested: () => undefined,
      deliveriesAvailable: () => this.signal(),
    });
    // stop() came while we subscribed: there is no loop to run.
    if (!this.running) {
      await this.unlisten();
      this.unlisten = null;
      return;
    }
    this.loopDone = this.loop();
  }

  /** Stops claiming and waits for the sends in flight, which the request timeout bounds. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.signal();
    await this.loopDone;
    await Promise.allSettled([...this.inflight]);
    await this.unlisten?.();
    this.unlisten = null;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.wakeUp.beginRound();
      const free = this.config.concurrency - this.inflight.size;
      let claimed = 0;
      const lookedAt = this.deps.clock.now();
      if (free > 0) {
        try {
          const due = await this.deps.store.deliveries.claimDueDeliveries(
            this.owner,
            free,
            this.config.leaseMs,
            lookedAt,
          );
          claimed = due.length;
          for (const delivery of due) this.launch(delivery);
        } catch (error) {
          this.deps.log('error', 'claiming callback deliveries failed; retrying after the poll interval', {
            error: String(error),
          });
        }
      }
      if (!this.running) break;
      // A full claim suggests a backlog: claim again as soon as a slot frees up.
      if (this.wakeUp.pending || (free > 0 && claimed === free)) continue;
      // With every slot busy, the send that frees one signals.
      // Otherwise until the earliest scheduled retry or lease expiry.
      const sleepMs =
        free > 0
          ? await sleepUntilNextDue(
              (at) => this.deps.store.deliveries.nextDueAt(at),
              lookedAt,
              () => this.deps.clock.now(),
              this.config.pollMs,
            )
          : this.config.pollMs;
      await this.wakeUp.sleep(sleepMs);
    }
  }

  private launch(delivery: ClaimedDelivery): void {
    const done = this.deliver(delivery)
      .catch((error: unknown) => {
        this.deps.log(
          'error',
          'recording a callback attempt failed; it is sent again when its lease expires',
          {
            delivery_id: delivery.id,
            error: String(error),
          },
        );
      })
      .finally(() => {
        const wasFull = this.inflight.size >= this.config.concurrency;
        this.inflight.delete(done);
        if (wasFull) this.signal();
      });
    this.inflight.add(done);
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const started = performance.now();
    const report = await this.post(delivery);
    const durationMs = Math.round(performance.now() - started);
    const attempt = delivery.attempts + 1;
    const outcome = deliveryOutcome(
      this.config.retry,
      {
        number: attempt,
        succeeded: report.succeeded,
        permanent: report.permanent,
        created_at: delivery.created_at,
      },
      this.deps.clock,
      this.deps.random,
    );
    const at = this.deps.clock.now();
    const recorded = await this.deps.store.deliveries.recordDeliveryAttempt({
      delivery_id: delivery.id,
      owner: this.owner,
      attempt,
      status_code: report.status_code,
      error: report.error,
      duration_ms: durationMs,
      at,
      outcome,
      event: finalEvent(delivery, attempt, report, outcome, at),
    });
    // A retry was scheduled: the loop, asleep on a timer set before it, re-arms for it.
    if (recorded && outcome.status === 'pending') this.signal();
    if (!recorded) {
      this.deps.log('warn', 'a callback attempt outlived its lease; another sender owns the delivery now', {
        delivery_id: delivery.id,
        attempt,
      });
    }
  }

  private async post(delivery: ClaimedDelivery): Promise<AttemptReport> {
    const timeout = AbortSignal.timeout(this.config.requestTimeoutMs);
    try {
      const secret = await this.deps.signingSecret(delivery.org_id);
      const body = JSON.stringify(buildRunCallback(delivery.run));
      const sentAt = new Date(this.deps.clock.now());
      const headers = {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'webhook-id': delivery.id,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(delivery.id, sentAt, body),
      };
      const response = await guardedFetch(
        delivery.url,
        { method: 'POST', headers, body, signal: timeout },
        { allowPrivate: this.deps.allowPrivateNetwork },
      );
      // Only the status matters; the body is dropped unread so a chatty receiver costs nothing.
      await response.body?.cancel();
      const succeeded = response.status >= 200 && response.status <= 299;
      return {
        status_code: response.status,
        error: succeeded ? null : `the receiver answered HTTP ${response.status}`,
        succeeded,
        permanent: false,
      };
    } catch (error) {
      const permanent = error instanceof StepFailure && !error.retriable;
      const message = timeout.aborted
        ? `no complete answer within ${this.config.requestTimeoutMs} ms`
        : describeError(error);
      return { status_code: null, error: message, succeeded: false, permanent };
    }
  }

  private signal(): void {
    this.wakeUp.signal();
  }
}

/** `callback.delivered` or `callback.failed` for an attempt that ends its delivery; null for a retry. */
function finalEvent(
  delivery: ClaimedDelivery,
  attempts: number,
  report: AttemptReport,
  outcome: DeliveryOutcome,
  at: number,
): RunEventInput | null {
  if (outcome.status === 'pending') return null;
  const data: Record<string, unknown> = {
    delivery_id: delivery.id,
    url: safeUrl(delivery.url),
    attempts,
    status_code: report.status_code,
  };
  if (outcome.status === 'failed') data.error = report.error;
  const type = outcome.status === 'delivered' ? 'callback.delivered' : 'callback.failed';
  return { run_id: delivery.run_id, type, data, at };
}

/** The URL without query or credentials, which may carry a receiver's token, for the timeline. */
function safeUrl(url: string): string {
  try {
    return describeUrl(new URL(url));
  } catch {
    return '(invalid URL)';
  }
}

/** fetch reports network errors as "fetch failed" with the useful part in `cause`. */
function describeError(error: unknown): string {
  if (error instanceof StepFailure) return `${error.code}: ${error.message}`;
  if (error instanceof Error) {
    const cause = error.cause as { code?: string; message?: string } | undefined;
    const detail = cause?.code ?? cause?.message;
    return detail ? `${error.message}: ${detail}` : error.message;
  }
  return String(error);
}
