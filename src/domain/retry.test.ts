import { describe, expect, it } from 'vitest';
import { hasAttemptsLeft, retryDelayMs } from './retry.js';

const exponential = { max_attempts: 5, backoff: 'exponential' as const, initial_ms: 100, max_ms: 1000 };

describe('retryDelayMs', () => {
  it('doubles per attempt up to max_ms, with half of it jittered', () => {
    expect(retryDelayMs(exponential, 2, () => 1)).toBe(100);
    expect(retryDelayMs(exponential, 3, () => 1)).toBe(200);
    expect(retryDelayMs(exponential, 4, () => 1)).toBe(400);
    expect(retryDelayMs(exponential, 9, () => 1)).toBe(1000);
    expect(retryDelayMs(exponential, 3, () => 0)).toBe(100);
  });

  it('keeps a fixed delay fixed', () => {
    const fixed = { ...exponential, backoff: 'fixed' as const };
    expect(retryDelayMs(fixed, 2, () => 1)).toBe(100);
    expect(retryDelayMs(fixed, 7, () => 1)).toBe(100);
  });

  it('spreads delays between half and all of the computed value', () => {
    for (let i = 0; i < 100; i += 1) {
      const delay = retryDelayMs(exponential, 3);
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(200);
    }
  });
});

describe('hasAttemptsLeft', () => {
  it('counts attempts including the first', () => {
    expect(hasAttemptsLeft({ ...exponential, max_attempts: 3 }, 2)).toBe(true);
    expect(hasAttemptsLeft({ ...exponential, max_attempts: 3 }, 3)).toBe(false);
    expect(hasAttemptsLeft({ ...exponential, max_attempts: 1 }, 1)).toBe(false);
  });
});
