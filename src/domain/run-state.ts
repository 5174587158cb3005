import { StepwiseError } from './errors.js';

/** The states a run moves through. `partial_complete`: it reached the end, but a step marked `continue_on_error` failed. */
export const RUN_STATUSES = [
  'pending',
  'running',
  'completed',
  'partial_complete',
  'failed',
  'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const FINAL_RUN_STATUSES: readonly RunStatus[] = [
  'completed',
  'partial_complete',
  'failed',
  'cancelled',
];

const ALLOWED: Record<RunStatus, readonly RunStatus[]> = {
  pending: ['running', 'cancelled', 'failed'],
  running: ['completed', 'partial_complete', 'failed', 'cancelled'],
  completed: [],
  partial_complete: [],
  failed: [],
  cancelled: [],
};

export const isFinalStatus = (status: RunStatus): boolean => FINAL_RUN_STATUSES.includes(status);

export const canTransition = (from: RunStatus, to: RunStatus): boolean =>
  from === to || ALLOWED[from].includes(to);

/** Refuses an illegal move, e.g. reviving a finished run. Staying in the same state is allowed. */
export function assertTransition(from: RunStatus, to: RunStatus): void {
  if (!canTransition(from, to)) {
    throw new StepwiseError('ILLEGAL_TRANSITION', 409, `a run cannot move from '${from}' to '${to}'`);
  }
}
