import type { Clock } from '../domain/clock.js';
import { iso, isoOrNull } from '../domain/clock.js';
import { validationError } from '../domain/errors.js';
import type { Millis } from '../domain/model.js';
import {
  type RunFailure,
  type RunReport,
  type RunStatusCounts,
  type RunSummary,
  type RunTimeline,
  renderReportHtml,
  renderTimelineCsv,
} from '../domain/report-render.js';
import { RUN_STATUSES } from '../domain/run-state.js';
import type { RunTimeRange, RunTimelineQuery } from '../store/report-store.js';
import type { Store } from '../store/store.js';
import type { WorkflowService } from './workflow-service.js';

/** A time range as a client sends it: ISO 8601 dates or date-times, each optional. */
export interface TimeRangeInput {
  from?: string;
  to?: string;
}

/** What a timeline (and the report's chart) covers; defaults: the last 7 days, per `day`. */
export interface TimelineInput extends TimeRangeInput {
  /** `hour`, `day`, `week` (from Monday 00:00 UTC) or a number of minutes such as `15m`. */
  bucket?: string;
}

/** `GET /v1/summary`: every run of the org at a glance, as a workflow's summary without `workflow_id`. */
export type OrgRunSummary = Omit<RunSummary, 'workflow_id'>;

/** `GET /v1/summary/timeline`: every run of the org per bucket, as a workflow's timeline without `workflow_id`. */
export type OrgRunTimeline = Omit<RunTimeline, 'workflow_id'>;

/** A report ready to send: the body and the headers it needs. */
export interface RenderedReport {
  contentType: string;
  body: string;
  /** A suggested download name, e.g. for `Content-Disposition`. */
  filename: string;
}

const REPORT_FORMATS = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
  html: 'text/html; charset=utf-8',
} as const;
type ReportFormat = keyof typeof REPORT_FORMATS;

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** 1970-01-05T00:00:00Z: the epoch was a Thursday, and weeks are read from Monday. */
const FIRST_MONDAY: Millis = 4 * DAY;
// A Map, so that `bucket=constructor` finds nothing rather than Object.prototype's.
const NAMED_BUCKETS = new Map<string, { ms: number; originMs: Millis }>([
  ['hour', { ms: 60 * MINUTE, originMs: 0 }],
  ['day', { ms: DAY, originMs: 0 }],
  ['week', { ms: 7 * DAY, originMs: FIRST_MONDAY }],
]);
const DEFAULT_LOOKBACK_MS = 7 * DAY;
const MAX_BUCKETS = 1000;
const RECENT_FAILURES = 10;

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Reads an ISO 8601 date (midnight UTC) or date-time (UTC when it names no offset). Stricter
 * than `Date.parse`, which reads prose dates in the server's zone and rolls Feb 30 into March.
 */
function parseInstant(field: string, text: string): Millis {
  const match = ISO_INSTANT.exec(text);
  if (match) {
    const [, year, month, day, zone] = match;
    const ms = Date.parse(text.includes('T') ? (zone ? text : `${text}Z`) : `${text}T00:00:00Z`);
    // Date.parse rolls 2024-02-30 over to March 1st; a real date reads back as written.
    const written = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day))).toISOString();
    if (!Number.isNaN(ms) && written.startsWith(`${year}-${month}-${day}`)) return ms;
  }
  throw validationError(
    field,
    `${field}: expected an ISO 8601 date or date-time such as 2024-01-31 or 2024-01-31T09:00:00Z, got '${text}'`,
  );
}

function parseBucket(text: string): { ms: number; originMs: Millis } {
  const named = NAMED_BUCKETS.get(text);
  if (named) return named;
  const minutes = /^([1-9]\d{0,5})m$/.exec(text);
  if (minutes) return { ms: Number(minutes[1]) * MINUTE, originMs: 0 };
  throw validationError(
    'bucket',
    `bucket: expected 'hour', 'day', 'week' or minutes such as '15m', got '${text}'`,
  );
}

function parseFormat(text: string): ReportFormat {
  if (Object.hasOwn(REPORT_FORMATS, text)) return text as ReportFormat;
  throw validationError('format', `format: expected 'json', 'csv' or 'html', got '${text}'`);
}

/** `range` as instants; `from` must come before `to` when both are given. */
function parseRange(range: TimeRangeInput): RunTimeRange {
  const bounds: RunTimeRange = {
    from: range.from === undefined ? undefined : parseInstant('from', range.from),
    to: range.to === undefined ? undefined : parseInstant('to', range.to),
  };
  if (bounds.from !== undefined && bounds.to !== undefined && bounds.from >= bounds.to) {
    throw validationError('from', `from: must be before to (${range.to})`);
  }
  return bounds;
}

/** The start of the bucket holding `at`. */
const alignDown = (at: Millis, bucket: { ms: number; originMs: Millis }): Millis =>
  bucket.originMs + Math.floor((at - bucket.originMs) / bucket.ms) * bucket.ms;

const round = (value: number, decimals: number): number => Number(value.toFixed(decimals));
const noRuns = (): RunStatusCounts =>
  Object.fromEntries(RUN_STATUSES.map((status) => [status, 0])) as RunStatusCounts;

interface ResolvedTimeline {
  bucket: string;
  query: Required<RunTimelineQuery>;
  firstBucket: Millis;
  bucketCount: number;
}

/**
 * Summaries, timelines and reports of a workflow's runs (document 002's `/summary`,
 * `/summary/timeline` and `/summary/report`), and the same summary and timeline over every
 * run of the org. Aggregation happens in the store; this validates the query, fills the
 * empty buckets and shapes the answers.
 */
export class ReportService {
  constructor(
    private readonly store: Store,
    private readonly workflows: WorkflowService,
    private readonly clock: Clock,
  ) {}

  /**
   * Counts, success rate, duration percentiles, credits and the last run of the runs
   * created in `range` (all runs when it is empty).
   * @throws VALIDATION_FAILED (400) naming `from` or `to`; NOT_FOUND (404) for a workflow outside the org.
   */
  async summary(orgId: string, workflowRef: string, range: TimeRangeInput = {}): Promise<RunSummary> {
    const bounds = parseRange(range);
    const workflow = await this.workflows.get(orgId, workflowRef);
    return { workflow_id: workflow.id, ...(await this.summarize(orgId, workflow.id, bounds)) };
  }

  /**
   * {@link summary} over every run of the org, whichever its workflow.
   * @throws VALIDATION_FAILED (400) naming `from` or `to`.
   */
  async orgSummary(orgId: string, range: TimeRangeInput = {}): Promise<OrgRunSummary> {
    return this.summarize(orgId, null, parseRange(range));
  }

  /**
   * Runs per bucket of creation time over `[from, to)`, every bucket present (zeros
   * included), each labelled by its aligned start. Defaults: `to` now, `from` the start
   * of the bucket holding `to` − 7 days, `bucket` day.
   * @throws VALIDATION_FAILED (400) naming `from`, `to` or `bucket` (more than 1,000 buckets).
   */
  async timeline(orgId: string, workflowRef: string, input: TimelineInput = {}): Promise<RunTimeline> {
    const resolved = this.resolveTimeline(input);
    const workflow = await this.workflows.get(orgId, workflowRef);
    return { workflow_id: workflow.id, ...(await this.buildTimeline(orgId, workflow.id, resolved)) };
  }

  /**
   * {@link timeline} over every run of the org, whichever its workflow.
   * @throws VALIDATION_FAILED (400) naming `from`, `to` or `bucket`.
   */
  async orgTimeline(orgId: string, input: TimelineInput = {}): Promise<OrgRunTimeline> {
    return this.buildTimeline(orgId, null, this.resolveTimeline(input));
  }

  /**
   * The summary, the timeline of `input` and the latest failures, as `json`, `csv` (the
   * timeline's buckets) or `html` (a self-contained page with an SVG chart).
   * @throws VALIDATION_FAILED (400) naming `format` or a timeline field; NOT_FOUND (404).
   */
  async report(
    orgId: string,
    workflowRef: string,
    format = 'json',
    input: TimelineInput = {},
  ): Promise<RenderedReport> {
    const kind = parseFormat(format);
    const resolved = this.resolveTimeline(input);
    const workflow = await this.workflows.get(orgId, workflowRef);
    const [summary, timeline, failures] = await Promise.all([
      this.summarize(orgId, workflow.id, {}),
      this.buildTimeline(orgId, workflow.id, resolved),
      this.store.reports.recentFailures(orgId, workflow.id, RECENT_FAILURES),
    ]);
    const report: RunReport = {
      workflow: { id: workflow.id, slug: workflow.slug, title: workflow.title },
      generated_at: iso(this.clock.now()),
      summary: { workflow_id: workflow.id, ...summary },
      timeline: { workflow_id: workflow.id, ...timeline },
      recent_failures: failures.map((run): RunFailure => ({
        id: run.id,
        status: run.status,
        // Details may hold whole responses; a report shows what and why, not payloads.
        error: run.error === null ? null : { code: run.error.code, message: run.error.message },
        created_at: iso(run.created_at),
        finished_at: isoOrNull(run.finished_at),
      })),
    };
    const body =
      kind === 'csv'
        ? renderTimelineCsv(report.timeline)
        : kind === 'html'
          ? renderReportHtml(report)
          : JSON.stringify(report);
    return { contentType: REPORT_FORMATS[kind], body, filename: `${workflow.slug}-report.${kind}` };
  }

  /** The runs of `workflowId`, or of the whole org when it is null. */
  private async summarize(
    orgId: string,
    workflowId: string | null,
    range: RunTimeRange,
  ): Promise<OrgRunSummary> {
    const row = await this.store.reports.summarizeRuns(orgId, workflowId, range);
    const { completed, partial_complete, failed, cancelled } = row.counts;
    const finished = completed + partial_complete + failed + cancelled;
    return {
      total_runs: row.total,
      by_status: row.counts,
      success_rate: finished === 0 ? null : round((completed + partial_complete) / finished, 4),
      duration_ms: {
        p50: row.duration_ms === null ? null : round(row.duration_ms.p50, 2),
        p95: row.duration_ms === null ? null : round(row.duration_ms.p95, 2),
      },
      credits_used: row.credits_consumed,
      last_run:
        row.last_run === null
          ? null
          : {
              id: row.last_run.id,
              status: row.last_run.status,
              created_at: iso(row.last_run.created_at),
              finished_at: isoOrNull(row.last_run.finished_at),
            },
    };
  }

  private resolveTimeline(input: TimelineInput): ResolvedTimeline {
    const bucketName = input.bucket ?? 'day';
    const bucket = parseBucket(bucketName);
    const to = input.to === undefined ? this.clock.now() : parseInstant('to', input.to);
    const from =
      input.from === undefined
        ? alignDown(to - DEFAULT_LOOKBACK_MS, bucket)
        : parseInstant('from', input.from);
    if (from >= to) throw validationError('from', `from: must be before to (${iso(to)})`);
    const firstBucket = alignDown(from, bucket);
    const bucketCount = Math.ceil((to - firstBucket) / bucket.ms);
    if (bucketCount > MAX_BUCKETS) {
      throw validationError(
        'bucket',
        `bucket: '${bucketName}' over this range makes ${bucketCount} buckets, at most ${MAX_BUCKETS}; use a wider bucket or a shorter range`,
      );
    }
    return {
      bucket: bucketName,
      query: { from, to, bucketMs: bucket.ms, originMs: bucket.originMs },
      firstBucket,
      bucketCount,
    };
  }

  /** The runs of `workflowId`, or of the whole org when it is null. */
  private async buildTimeline(
    orgId: string,
    workflowId: string | null,
    resolved: ResolvedTimeline,
  ): Promise<OrgRunTimeline> {
    const { query, firstBucket, bucketCount } = resolved;
    const rows = await this.store.reports.runTimeline(orgId, workflowId, query);
    const byStart = new Map(rows.map((row) => [row.bucket_start, row]));
    return {
      from: iso(query.from),
      to: iso(query.to),
      bucket: resolved.bucket,
      bucket_ms: query.bucketMs,
      buckets: Array.from({ length: bucketCount }, (_, i) => {
        const start = firstBucket + i * query.bucketMs;
        const row = byStart.get(start);
        return { bucket_start: iso(start), total: row?.total ?? 0, by_status: row?.counts ?? noRuns() };
      }),
    };
  }
}
