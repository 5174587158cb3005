import type { RetryPolicy } from './workflow.js';

/**
 * Delay before attempt `nextAttempt` (2 = first retry). "Equal jitter": half the
 * computed delay is fixed, half random, so retries spread out but never collapse to zero.
 * `random` is injected so the rule stays a pure function.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  nextAttempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, nextAttempt - 2);
  const base =
    policy.backoff === 'fixed'
      ? policy.initial_ms
      : Math.min(policy.max_ms, policy.initial_ms * 2 ** exponent);
  const capped = Math.min(base, policy.max_ms);
  return Math.round(capped / 2 + (capped / 2) * random());
}

export const hasAttemptsLeft = (policy: RetryPolicy, attemptJustFailed: number): boolean =>
  attemptJustFailed < policy.max_attempts;
