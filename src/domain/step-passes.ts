import type { RunProgress } from './model.js';
import type { WorkflowDefinition } from './workflow.js';

/** Step executions a run has finished: every ended pass of every step. */
export function executedPasses(progress: Pick<RunProgress, 'step_passes'>): number {
  return Object.values(progress.step_passes).reduce((sum, passes) => sum + passes, 0);
}

/**
 * The pass bookkeeping of a cursor move from the step at `progress.step_index` to `index`:
 * the current step's pass ends, and the target's iteration is one more than its ended passes
 * (1 on its first visit, more when a loop comes back to it).
 */
export function passesAfterMove(
  definition: WorkflowDefinition,
  progress: Pick<RunProgress, 'step_index' | 'iteration' | 'step_passes'>,
  index: number,
): Pick<RunProgress, 'iteration' | 'step_passes'> {
  const current = definition.steps[progress.step_index];
  const passes = current
    ? { ...progress.step_passes, [current.id]: progress.iteration }
    : progress.step_passes;
  const target = definition.steps[index];
  return { step_passes: passes, iteration: target ? (passes[target.id] ?? 0) + 1 : 1 };
}
