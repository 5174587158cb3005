import { matchesFilters } from '../domain/event-filter.js';
import type { EventRecord, Millis } from '../domain/model.js';
import { isFinalStatus } from '../domain/run-state.js';
import type { RunCheckpoint } from './store.js';

/**
 * What a parking checkpoint waits for that may already have happened while the run was on
 * its way to being parked. Both stores decide it in the transaction that parks the run.
 */
export type ParkedWait =
  | { kind: 'event'; org_id: string; event_type: string; since: Millis; match: Record<string, unknown> }
  | { kind: 'run'; run_id: string };

/** The wait a checkpoint parks on, or null when it does not park (it keeps its lease, or ends). */
export function parkedWait(checkpoint: RunCheckpoint): ParkedWait | null {
  const { progress } = checkpoint;
  if (progress.lease_owner !== null || isFinalStatus(progress.status)) return null;
  if (progress.wait_event_type !== null && checkpoint.wait_began_at != null) {
    return {
      kind: 'event',
      org_id: checkpoint.org_id,
      event_type: progress.wait_event_type,
      since: checkpoint.wait_began_at,
      match: progress.wait_match ?? {},
    };
  }
  if (progress.wait_run_id !== null) return { kind: 'run', run_id: progress.wait_run_id };
  return null;
}

/**
 * The names of the transaction locks that order a checkpoint against what could wake it:
 * an event of its org and type being stored, or its child run ending (a child that ends
 * takes its parent's name). Sorted and distinct, so transactions take them in one order.
 */
export function coordinationKeys(checkpoints: RunCheckpoint[]): string[] {
  const keys = new Set<string>();
  for (const checkpoint of checkpoints) {
    const wait = parkedWait(checkpoint);
    if (wait?.kind === 'event') keys.add(eventWaitKey(wait.org_id, wait.event_type));
    if (wait?.kind === 'run') keys.add(childWaitKey(checkpoint.run_id));
    if (checkpoint.wake_parent_run_id && isFinalStatus(checkpoint.progress.status)) {
      keys.add(childWaitKey(checkpoint.wake_parent_run_id));
    }
  }
  return [...keys].sort();
}

/** The lock name shared by parking on an event type and storing an event of it. */
export const eventWaitKey = (orgId: string, eventType: string): string => `event:${orgId}:${eventType}`;

/** The lock name shared by a parent parking on its child and any child of it ending. */
export const childWaitKey = (parentRunId: string): string => `run:${parentRunId}`;

/** The first of `events` (oldest first) that the wait's `match` accepts. */
export function firstMatch(wait: Extract<ParkedWait, { kind: 'event' }>, events: EventRecord[]) {
  return events.find((event) => matchesFilters(wait.match, event.data)) ?? null;
}

/** The checkpoint resumed by an event that arrived before the park, instead of parked. */
export function resumedByEvent(checkpoint: RunCheckpoint, event: EventRecord): RunCheckpoint {
  const at = checkpoint.progress.updated_at;
  return {
    ...checkpoint,
    progress: {
      ...checkpoint.progress,
      wait_event_type: null,
      wait_match: null,
      resume_payload: event.data,
      available_at: at,
    },
    events: [
      ...checkpoint.events,
      {
        run_id: checkpoint.run_id,
        type: 'run.woke',
        data: { reason: 'event', event_id: event.id, event_type: event.type },
        at,
      },
    ],
  };
}

/** The checkpoint of a parent whose child already ended: claimable at once instead of parked. */
export function resumedByEndedChild(checkpoint: RunCheckpoint): RunCheckpoint {
  const at = checkpoint.progress.updated_at;
  return {
    ...checkpoint,
    progress: { ...checkpoint.progress, wait_run_id: null, available_at: at },
  };
}
