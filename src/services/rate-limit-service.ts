import type { Clock } from '../domain/clock.js';
import { rateLimited } from '../domain/errors.js';
import { rateWindow, type Plan } from '../domain/plan.js';
import type { Store } from '../store/store.js';

export type CallKind = 'mutating' | 'read';

/** Where a key stands in the current window, for `RateLimit-*` headers. */
export interface RateLimitState {
  kind: CallKind;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
  allowed: boolean;
}

const WINDOW_MS = 60_000;

/**
 * Per-key rate limits in fixed one-minute windows, counted in the store (an UPSERT …
 * RETURNING), so on PostgreSQL every process shares the same counters. Mutating calls
 * and reads have separate budgets, from the plan of the key's org.
 */
export class RateLimitService {
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * Counts one call. @returns the key's state after it (`allowed: false` when over the
   * limit), or null when the plan has no rate limits.
   */
  async hit(keyId: string, kind: CallKind, plan: Plan): Promise<RateLimitState | null> {
    if (plan.rate_limits === null) return null;
    const limit =
      kind === 'mutating' ? plan.rate_limits.mutating_per_minute : plan.rate_limits.read_per_minute;
    const now = this.clock.now();
    const window = rateWindow(now);
    const count = await this.store.limits.hitRateLimit(`${keyId}:${kind}`, window.start);
    this.pruneNowAndThen(now);
    return {
      kind,
      limit,
      remaining: Math.max(0, limit - count),
      resetSeconds: window.resetSeconds,
      allowed: count <= limit,
    };
  }

  /**
   * Counts one call and refuses it when over the limit (REST and MCP call this alike).
   * @throws 429 RATE_LIMITED with `retryAfterSeconds`
   */
  async consume(keyId: string, kind: CallKind, plan: Plan): Promise<RateLimitState | null> {
    const state = await this.hit(keyId, kind, plan);
    if (state && !state.allowed) throw rateLimitError(state, plan);
    return state;
  }

  private pruneNowAndThen(now: number): void {
    if (now - this.lastPrune < WINDOW_MS) return;
    this.lastPrune = now;
    // Best effort: an old counter left behind costs a row, never a wrong answer.
    this.store.limits.pruneRateLimits(now - 2 * WINDOW_MS).catch(() => undefined);
  }
}

/** The 429 for a key over its limit. */
export function rateLimitError(state: RateLimitState, plan: Plan) {
  return rateLimited(
    state.resetSeconds,
    `this API key made more than ${state.limit} ${state.kind === 'mutating' ? 'mutating' : 'read'} calls this minute, the '${plan.name}' plan's limit; retry after ${state.resetSeconds} s`,
  );
}
