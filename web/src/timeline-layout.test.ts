import { describe, expect, it } from 'vitest';
import { attemptsOf, DEFAULT_LAYOUT, layoutTimeline, type AttemptInput } from './timeline-layout';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const attempt = (
  stepId: string,
  n: number,
  status: string,
  from: number,
  to: number | null,
): AttemptInput => ({
  stepId,
  tool: 'http',
  attempt: n,
  status,
  startedAt: at(from),
  finishedAt: to === null ? null : at(to),
});

describe('layoutTimeline', () => {
  const options = { ...DEFAULT_LAYOUT, width: 1000, labelWidth: 200, now: T0 + 1000 };

  it('draws one row per step and one bar per attempt, retries flagged, on a shared time scale', () => {
    const layout = layoutTimeline(
      [
        attempt('fetch', 1, 'failed', 0, 100),
        attempt('fetch', 2, 'completed', 300, 400),
        attempt('send', 1, 'completed', 400, 412),
      ],
      options,
    );
    expect(layout.rows.map((row) => row.stepId)).toEqual(['fetch', 'send']);
    expect(layout.bars).toHaveLength(3);
    const [first, retry, send] = layout.bars;
    // Plot: x from 200 to 992 (8 px margin) over 412 ms.
    const px = (ms: number) => 200 + (ms / 412) * 792;
    expect(first!.x).toBeCloseTo(px(0));
    expect(first!.width).toBeCloseTo(px(100) - px(0));
    expect(retry!.x).toBeCloseTo(px(300));
    expect(first!.y).toBe(retry!.y);
    expect(send!.y).toBe(first!.y + DEFAULT_LAYOUT.rowHeight);
    expect(layout.bars.map((bar) => bar.retry)).toEqual([false, true, false]);
    expect(layout.bars.map((bar) => bar.title)).toEqual([
      'fetch attempt 1: failed in 100 ms',
      'fetch attempt 2: completed in 100 ms',
      'send attempt 1: completed in 12 ms',
    ]);
    expect(layout.height).toBe(2 * DEFAULT_LAYOUT.rowHeight + DEFAULT_LAYOUT.axisHeight);
    expect(layout.ticks[0]).toMatchObject({ x: 200, label: '+0 ms', anchor: 'start' });
    expect(layout.ticks.at(-1)).toMatchObject({ label: '+412 ms', anchor: 'end' });
  });

  it('keeps a 0 ms attempt visible and draws an open attempt up to now', () => {
    const layout = layoutTimeline(
      [attempt('a', 1, 'completed', 0, 0), attempt('b', 1, 'running', 500, null)],
      options,
    );
    const [instant, open] = layout.bars;
    expect(instant!.width).toBe(DEFAULT_LAYOUT.minBarWidth);
    expect(open!.open).toBe(true);
    expect(open!.x + open!.width).toBeCloseTo(992);
    expect(open!.title).toBe('b attempt 1: running for 500 ms');
  });
});

describe('attemptsOf', () => {
  const events = [
    { type: 'step.started', at: at(0), data: { step_id: 'wait', attempt: 1, tool: 'delay' } },
    { type: 'run.waiting', at: at(1), data: { step_id: 'wait' } },
    { type: 'step.started', at: at(1000), data: { step_id: 'wait', attempt: 1, tool: 'delay' } },
    { type: 'step.started', at: at(1005), data: { step_id: 'call', attempt: 1, tool: 'http' } },
  ];
  const recorded = [attempt('wait', 1, 'completed', 1000, 1003)];

  it("starts a resumed step's bar at its first start and adds the attempt in flight", () => {
    const running = attemptsOf({ status: 'running', finishedAt: null }, recorded, events, false);
    expect(running).toEqual([
      { ...recorded[0], startedAt: at(0) },
      { stepId: 'call', tool: 'http', attempt: 1, status: 'running', startedAt: at(1005), finishedAt: null },
    ]);
  });

  it('ends the unrecorded attempt with the run once the run is over', () => {
    const cancelled = attemptsOf({ status: 'cancelled', finishedAt: at(2000) }, recorded, events, true);
    expect(cancelled[1]).toMatchObject({ status: 'cancelled', finishedAt: at(2000) });
  });
});
