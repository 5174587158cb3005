import { describe, expect, it } from 'vitest';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { delayTool, parseDuration } from './delay-tool.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1w', 604_800_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['PT5M', 300_000],
    ['P1DT2H', 93_600_000],
    ['PT0.5S', 500],
    ['P2W', 1_209_600_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', 'five minutes', 'P1M', 'P1Y', 'PT', 'P1DT', '5 parsecs'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('delay tool', () => {
  it('suspends until now + duration, then finishes on resume', async () => {
    const ctx = createToolContext({ now: NOW });
    const first = await runTool(delayTool, { duration: '5m' }, ctx);
    const until = NOW + 300_000;
    expect(first).toEqual({ kind: 'suspend', state: { until, started_at: NOW }, wake_at: until });

    const resumed = createToolContext({
      now: until + 20,
      resume: { state: (first as { state: unknown }).state, payload: null },
    });
    expect(await runTool(delayTool, { duration: '5m' }, resumed)).toEqual({
      kind: 'done',
      output: { waited_ms: 300_020, until: '2030-01-01T00:05:00.000Z' },
    });
  });

  it('waits until a timestamp, or not at all when it has passed', async () => {
    const ctx = createToolContext({ now: NOW });
    expect(await runTool(delayTool, { until: '2030-01-01T02:00:00+01:00' }, ctx)).toMatchObject({
      kind: 'suspend',
      wake_at: NOW + 3_600_000,
    });
    expect(await runTool(delayTool, { until: '2029-12-31T23:00:00Z' }, ctx)).toEqual({
      kind: 'done',
      output: { waited_ms: 0, until: '2029-12-31T23:00:00.000Z' },
    });
    expect(await runTool(delayTool, { duration_ms: 0 }, ctx)).toMatchObject({
      kind: 'done',
      output: { waited_ms: 0 },
    });
  });

  it('accepts duration_ms', async () => {
    expect(await runTool(delayTool, { duration_ms: 1500 }, createToolContext({ now: NOW }))).toMatchObject({
      wake_at: NOW + 1500,
    });
  });

  it('validates its params', () => {
    const message = (params: unknown) => delayTool.params.safeParse(params).error?.issues[0]?.message;
    expect(message({})).toBe('give exactly one of duration_ms, duration or until');
    expect(message({ duration: '5m', duration_ms: 10 })).toBe(
      'give exactly one of duration_ms, duration or until',
    );
    expect(message({ duration: 'soon' })).toBe(
      'a duration looks like "90s", "5m", "2h", "1d", "1h30m" or ISO-8601 "PT5M"',
    );
    expect(message({ duration: '400d' })).toBe('a duration may not exceed 366 days');
    expect(message({ until: '2030-01-01T09:00:00' })).toBe(
      'until must be an ISO-8601 timestamp with a zone, e.g. 2030-01-01T09:00:00Z',
    );
    expect(message({ duration_ms: -1 })).toMatch(/>=0/);
  });
});
