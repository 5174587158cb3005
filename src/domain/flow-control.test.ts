import { describe, expect, it } from 'vitest';
import { firstWindowWithRoom, parsePeriodMs, renderGroupKey, windowStartOf } from './flow-control.js';

describe('flow control', () => {
  it('parses periods', () => {
    expect(parsePeriodMs('30s')).toBe(30_000);
    expect(parsePeriodMs('1m')).toBe(60_000);
    expect(parsePeriodMs('1h')).toBe(3_600_000);
    expect(parsePeriodMs('250ms')).toBe(250);
    expect(parsePeriodMs(1500)).toBe(1500);
    expect(parsePeriodMs('0s')).toBeNull();
    expect(parsePeriodMs('soon')).toBeNull();
    expect(parsePeriodMs(-1)).toBeNull();
  });

  it('finds the first fixed window with room', () => {
    expect(windowStartOf(1_500, 1000)).toBe(1000);
    const counts = new Map([
      [1000, 2],
      [2000, 2],
      [3000, 1],
    ]);
    expect(firstWindowWithRoom(counts, 1_500, 1000, 2)).toBe(3000);
    expect(firstWindowWithRoom(counts, 1_500, 1000, 3)).toBe(1000);
    expect(firstWindowWithRoom(new Map(), 1_500, 1000, 1)).toBe(1000);
  });

  it('renders keys over the input; no key is one group', () => {
    const run = { id: 'run_1', workflow_id: 'wf_1', input: { customer: 'acme', n: 3 } };
    expect(renderGroupKey(undefined, run, 'k')).toBe('');
    expect(renderGroupKey('{{ input.customer }}', run, 'k')).toBe('acme');
    expect(renderGroupKey('{{ input.n }}', run, 'k')).toBe('3');
    expect(() => renderGroupKey('{{ input.missing }}', run, 'concurrency.key')).toThrow(/concurrency\.key/);
  });
});
