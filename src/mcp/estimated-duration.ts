import type { WorkflowRecord } from '../domain/model.js';
import type { ReportService } from '../services/report-service.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Only runs created this recently inform the estimate. */
const LOOKBACK_MS = 30 * 24 * HOUR;

/**
 * A range such as "3-5 min" from the p50 and p95 of run durations (ms): seconds under a
 * minute, minutes under two hours, hours beyond. A single value when both round alike.
 * @example formatDurationRange(180_000, 290_000) // "3-5 min"
 */
export function formatDurationRange(p50: number, p95: number): string {
  const high = Math.max(p50, p95);
  const [unit, label] = high < MINUTE ? [SECOND, 'sec'] : high < 2 * HOUR ? [MINUTE, 'min'] : [HOUR, 'h'];
  const low = Math.max(1, Math.floor(p50 / unit));
  const top = Math.max(low, Math.ceil(high / unit));
  return low === top ? `${low} ${label}` : `${low}-${top} ${label}`;
}

/**
 * How long a run of `workflow` is expected to take: the p50..p95 of its runs of the last
 * 30 days, else the `estimated_duration` its metadata declares, else "unknown".
 */
export async function estimateDuration(
  reports: ReportService,
  workflow: WorkflowRecord,
  now: number,
): Promise<string> {
  const summary = await reports.summary(workflow.org_id, workflow.id, {
    from: new Date(now - LOOKBACK_MS).toISOString(),
  });
  const { p50, p95 } = summary.duration_ms;
  if (p50 !== null && p95 !== null) return formatDurationRange(p50, p95);
  const declared = workflow.metadata.estimated_duration;
  return typeof declared === 'string' && declared.trim() !== '' ? declared.trim() : 'unknown';
}
