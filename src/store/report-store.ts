import type { ErrorInfo } from '../domain/errors.js';
import type { Millis } from '../domain/model.js';
import type { RunStatusCounts } from '../domain/report-render.js';
import type { RunStatus } from '../domain/run-state.js';

export type { RunStatusCounts };

/** Runs created in `[from, to)`; a missing bound is open. */
export interface RunTimeRange {
  from?: Millis;
  to?: Millis;
}

/** The most recently created run of a workflow (or of the org). */
export interface LastRunRow {
  id: string;
  status: RunStatus;
  created_at: Millis;
  finished_at: Millis | null;
}

/**
 * Aggregates over a workflow's runs.
 *
 * Durations are `finished_at - started_at` of runs that have both (a run cancelled before
 * it started has no duration). Percentiles are continuous with linear interpolation, as
 * PostgreSQL's `percentile_cont`: over the n sorted durations, position `p·(n−1)`
 * (0-based), interpolated between its two neighbours. Durations 1..100 give p50 = 50.5
 * and p95 = 95.05.
 */
export interface RunSummaryRow {
  total: number;
  counts: RunStatusCounts;
  /** Null when no run has a duration. */
  duration_ms: { p50: number; p95: number } | null;
  credits_consumed: number;
  /** By `created_at`, then id; null when there is no run. */
  last_run: LastRunRow | null;
}

/** Buckets of `bucketMs` starting at `originMs + k·bucketMs`, over runs created in `[from, to)`. */
export interface RunTimelineQuery {
  from: Millis;
  to: Millis;
  bucketMs: number;
  /** Where buckets are aligned; 0 (the epoch) by default. */
  originMs?: Millis;
}

/** The runs created within one bucket. */
export interface TimelineBucketRow {
  bucket_start: Millis;
  total: number;
  counts: RunStatusCounts;
}

/** A failed run, for a table of recent failures. */
export interface RunFailureRow {
  id: string;
  status: RunStatus;
  error: ErrorInfo | null;
  created_at: Millis;
  finished_at: Millis | null;
}

/**
 * Aggregates over runs for summaries, timelines and reports, computed in the database so
 * a workflow with 100k runs costs one scan, not 100k rows over the wire. Every method
 * counts only the runs of `orgId`; where `workflowId` may be null, null means every run of
 * the org (read through the (org_id, created_at) index rather than the per-workflow one).
 */
export interface ReportStore {
  /** Counts, duration percentiles, credits and the last run of the runs created in `range`. */
  summarizeRuns(orgId: string, workflowId: string | null, range?: RunTimeRange): Promise<RunSummaryRow>;
  /**
   * Runs per bucket of creation time, oldest bucket first. Only buckets holding at least
   * one run are returned; filling the gaps is the caller's business.
   */
  runTimeline(
    orgId: string,
    workflowId: string | null,
    query: RunTimelineQuery,
  ): Promise<TimelineBucketRow[]>;
  /** The latest `limit` failed runs, newest first by `created_at` (the indexed order), then id. */
  recentFailures(orgId: string, workflowId: string, limit: number): Promise<RunFailureRow[]>;
}
