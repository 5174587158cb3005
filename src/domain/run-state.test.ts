import { describe, expect, it } from 'vitest';
import { StepwiseError } from './errors.js';
import { assertTransition, canTransition, FINAL_RUN_STATUSES, RUN_STATUSES } from './run-state.js';

describe('run state machine', () => {
  it('allows the documented path pending → running → a final state', () => {
    expect(canTransition('pending', 'running')).toBe(true);
    for (const final of FINAL_RUN_STATUSES) expect(canTransition('running', final)).toBe(true);
    expect(canTransition('pending', 'cancelled')).toBe(true);
  });

  it('refuses every move out of a final state', () => {
    for (const final of FINAL_RUN_STATUSES) {
      for (const to of RUN_STATUSES.filter((status) => status !== final)) {
        expect(canTransition(final, to)).toBe(false);
        expect(() => assertTransition(final, to)).toThrow(StepwiseError);
      }
    }
  });

  it('refuses going back to pending or completing without running', () => {
    expect(canTransition('running', 'pending')).toBe(false);
    expect(canTransition('pending', 'completed')).toBe(false);
    expect(canTransition('pending', 'partial_complete')).toBe(false);
  });

  it('names both states in the error', () => {
    expect(() => assertTransition('completed', 'running')).toThrow(
      "a run cannot move from 'completed' to 'running'",
    );
  });
});
