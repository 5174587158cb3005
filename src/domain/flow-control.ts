import { validationError } from './errors.js';
import { renderTemplate } from './templating.js';

const PERIOD = /^(\d+)\s*(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A throttle period, `"30s"`, `"1m"`, `"1h"`, `"1d"`, `"500ms"` or milliseconds, in ms; null when invalid. */
export function parsePeriodMs(period: string | number): number | null {
  if (typeof period === 'number') return Number.isInteger(period) && period > 0 ? period : null;
  const match = PERIOD.exec(period.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms > 0 ? ms : null;
}

/** The start of the fixed window of `periodMs` (aligned to the epoch) that holds `at`. */
export function windowStartOf(at: number, periodMs: number): number {
  return Math.floor(at / periodMs) * periodMs;
}

/**
 * Renders a concurrency or throttle `key` template over the run's input; an absent key is
 * one group for the whole workflow (''). Objects render as JSON.
 * @throws StepwiseError (400) when the key refers to something the input lacks.
 */
export function renderGroupKey(
  template: string | undefined,
  run: { id: string; workflow_id: string; input: unknown },
  field: string,
): string {
  if (template === undefined) return '';
  try {
    const value = renderTemplate(template, {
      input: run.input,
      steps: {},
      secrets: {},
      run: { id: run.id, workflow_id: run.workflow_id, attempt: 1 },
    });
    return typeof value === 'string' ? value : JSON.stringify(value);
  } catch (error) {
    throw validationError(field, `${field}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The store key of a workflow's concurrency group. */
export const concurrencyGroup = (workflowId: string, key: string): string =>
  `concurrency:${workflowId}:${key}`;

/** The store key of a workflow's throttle counters. */
export const throttleGroup = (workflowId: string, key: string): string => `throttle:${workflowId}:${key}`;

/**
 * The first fixed window, from the one holding `now` on, whose start count is below `limit`,
 * given the counts of the windows already used (by window start).
 */
export function firstWindowWithRoom(
  counts: ReadonlyMap<number, number>,
  now: number,
  periodMs: number,
  limit: number,
): number {
  let start = windowStartOf(now, periodMs);
  while ((counts.get(start) ?? 0) >= limit) start += periodMs;
  return start;
}
