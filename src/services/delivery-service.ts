import { randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { notFound } from '../domain/errors.js';
import type { DeliveryDetail } from '../store/delivery-store.js';
import type { Store } from '../store/store.js';
import type { SecretBox } from './secret-box.js';

/** Standard Webhooks asks for 24 to 64 random bytes. */
const SIGNING_SECRET_BYTES = 32;

const generateSigningSecret = (): string => `whsec_${randomBytes(SIGNING_SECRET_BYTES).toString('base64')}`;

/**
 * Run-result callbacks as an org sees them: the secret their signatures verify with, and
 * what was delivered where. Sending is the `DeliveryDispatcher`'s job.
 */
export class DeliveryService {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
    private readonly clock: Clock,
  ) {}

  /**
   * The org's Standard Webhooks signing secret (`whsec_…`), created on first use and
   * stored encrypted. Receivers verify `webhook-signature` with it; show it to admins only.
   */
  async getSigningSecret(orgId: string): Promise<string> {
    const sealed =
      (await this.store.deliveries.getSigningSecret(orgId)) ??
      (await this.store.deliveries.createSigningSecret(
        orgId,
        this.box.seal(orgId, generateSigningSecret()),
        this.clock.now(),
      ));
    return this.box.open(orgId, sealed);
  }

  /**
   * Replaces the org's signing secret; attempts sent from now on are signed with the new
   * one, including retries of older deliveries.
   * @returns the new secret.
   */
  async rotateSigningSecret(orgId: string): Promise<string> {
    const secret = generateSigningSecret();
    await this.store.deliveries.replaceSigningSecret(orgId, this.box.seal(orgId, secret), this.clock.now());
    return secret;
  }

  /**
   * The run's callback deliveries with every attempt (status code, error, duration),
   * oldest first; an empty list when its workflow has no callback URL.
   * @throws StepwiseError `NOT_FOUND` (404) when the org has no such run.
   */
  async listRunDeliveries(orgId: string, runId: string): Promise<DeliveryDetail[]> {
    const run = await this.store.getRun(orgId, runId);
    if (!run) throw notFound('run', runId);
    return this.store.deliveries.listRunDeliveries(orgId, runId);
  }
}
