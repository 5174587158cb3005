import { describe, expect, it } from 'vitest';
import type { Clock } from './clock.js';
import { buildRunCallback, DEFAULT_DELIVERY_RETRY, deliveryOutcome, type RunResult } from './delivery.js';

const T0 = Date.UTC(2025, 5, 2, 9, 0, 0);
const at = (now: number): Clock => ({ now: () => now });
const HOUR = 3_600_000;

describe('deliveryOutcome', () => {
  const failed = (number: number, created_at = T0) => ({
    number,
    succeeded: false,
    permanent: false,
    created_at,
  });

  it('waits 10 s doubling up to 1 h, with half of each delay jittered', () => {
    const delays = [1, 2, 3, 10, 20].map((n) => {
      const outcome = deliveryOutcome(DEFAULT_DELIVERY_RETRY, failed(n), at(T0), () => 1);
      return outcome.next_attempt_at! - T0;
    });
    expect(delays).toEqual([10_000, 20_000, 40_000, HOUR, HOUR]);
    const lowest = deliveryOutcome(DEFAULT_DELIVERY_RETRY, failed(1), at(T0), () => 0);
    expect(lowest).toEqual({ status: 'pending', next_attempt_at: T0 + 5000 });
  });

  it('gives up once the next attempt would fall past 24 hours, and at once on a permanent failure', () => {
    const late = deliveryOutcome(DEFAULT_DELIVERY_RETRY, failed(30), at(T0 + 23.5 * HOUR), () => 1);
    expect(late).toEqual({ status: 'failed', next_attempt_at: null });
    const inTime = deliveryOutcome(DEFAULT_DELIVERY_RETRY, failed(30), at(T0 + 22 * HOUR), () => 1);
    expect(inTime).toEqual({ status: 'pending', next_attempt_at: T0 + 23 * HOUR });
    const refused = { number: 1, succeeded: false, permanent: true, created_at: T0 };
    expect(deliveryOutcome(DEFAULT_DELIVERY_RETRY, refused, at(T0))).toEqual({
      status: 'failed',
      next_attempt_at: null,
    });
  });

  it('closes a delivery on success', () => {
    const ok = { number: 4, succeeded: true, permanent: false, created_at: T0 };
    expect(deliveryOutcome(DEFAULT_DELIVERY_RETRY, ok, at(T0))).toEqual({
      status: 'delivered',
      next_attempt_at: null,
    });
  });
});

describe('buildRunCallback', () => {
  const run: RunResult = {
    id: 'run_1',
    workflow_id: 'wf_1',
    status: 'partial_complete',
    output: { sent: 12 },
    error: null,
    started_at: T0,
    finished_at: T0 + 3120,
  };

  it('reports the run in the Standard Webhooks envelope, with jobId for document 002 clients', () => {
    expect(buildRunCallback(run)).toEqual({
      type: 'run.partial_complete',
      timestamp: '2025-06-02T09:00:03.120Z',
      data: {
        runId: 'run_1',
        jobId: 'run_1',
        workflowId: 'wf_1',
        status: 'partial_complete',
        output: { sent: 12 },
        error: null,
        startedAt: '2025-06-02T09:00:00.000Z',
        finishedAt: '2025-06-02T09:00:03.120Z',
        durationMs: 3120,
      },
    });
  });

  it('gives a run cancelled before it started no start and no duration', () => {
    const cancelled = { ...run, status: 'cancelled' as const, output: null, started_at: null };
    const error = { code: 'CANCELLED', message: 'the run was cancelled' };
    const { type, data } = buildRunCallback({ ...cancelled, error });
    expect(type).toBe('run.cancelled');
    expect(data).toMatchObject({ startedAt: null, durationMs: 0, error, output: null });
  });
});
