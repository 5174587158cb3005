import { describe, expect, it } from 'vitest';
import { percentile, summarize } from './summary-math';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('percentile', () => {
  it("interpolates like the server's percentile_cont", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 0.5)).toBeCloseTo(50.5);
    expect(percentile(values, 0.95)).toBeCloseTo(95.05);
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([], 0.5)).toBeNull();
  });
});

describe('summarize', () => {
  const run = (minutes: number, status: string, durationMs: number | null, credits = 0) => {
    const created = T0 + minutes * 60_000;
    return {
      status,
      createdAt: new Date(created).toISOString(),
      startedAt: durationMs === null ? null : new Date(created).toISOString(),
      finishedAt: durationMs === null ? null : new Date(created + durationMs).toISOString(),
      creditsConsumed: credits,
    };
  };

  it('counts runs per bucket, success rates, p50/p95 and credits over [from, to)', () => {
    const view = summarize(
      [
        run(10, 'completed', 100, 2),
        run(20, 'failed', 300),
        run(70, 'partial_complete', 200, 3),
        run(80, 'running', null),
        run(200, 'completed', 50), // after `to`
      ],
      T0,
      T0 + 3 * HOUR,
      HOUR,
    );
    expect(view.total).toBe(4);
    expect(view.byStatus).toEqual({ completed: 1, failed: 1, partial_complete: 1, running: 1 });
    expect(view.successRate).toBeCloseTo(2 / 3);
    expect(view.p50).toBe(200);
    expect(view.p95).toBeCloseTo(290);
    expect(view.credits).toBe(5);
    expect(view.buckets.map((b) => [b.total, b.succeeded, b.failed, b.successRate])).toEqual([
      [2, 1, 1, 0.5],
      [2, 1, 0, 1],
      [0, 0, 0, null],
    ]);
  });
});
