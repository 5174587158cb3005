import type pg from 'pg';
import type { Millis } from '../../domain/model.js';
import { RUN_STATUSES, type RunStatus } from '../../domain/run-state.js';
import type {
  ReportStore,
  RunFailureRow,
  RunStatusCounts,
  RunSummaryRow,
  RunTimelineQuery,
  RunTimeRange,
  TimelineBucketRow,
} from '../report-store.js';

// Statuses are constants of ours, never input, so they may be spelled into the SQL.
const STATUS_COUNTS = RUN_STATUSES.map((s) => `COUNT(*) FILTER (WHERE status = '${s}') AS "${s}"`).join(', ');

/**
 * The statements over one scope of runs. `scope` is the WHERE clause over placeholders
 * `$1…$n`; the timeline's origin and bucket length follow at `$n+1` and `$n+2`.
 */
const aggregates = (scope: string, n: number) =>
  ({
    // One statement, so the counts and the last run come from the same snapshot.
    // percentile_cont skips the NULL durations of runs that never started or finished.
    summary: `SELECT agg.*, last.id AS last_id, last.status AS last_status,
      last.created_at AS last_created_at, last.finished_at AS last_finished_at
    FROM (
      SELECT COUNT(*) AS total, ${STATUS_COUNTS},
        COALESCE(SUM(credits_consumed), 0)::bigint AS credits_consumed,
        percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY finished_at - started_at) AS durations
      FROM runs WHERE ${scope}
    ) AS agg
    LEFT JOIN LATERAL (
      SELECT id, status, created_at, finished_at FROM runs WHERE ${scope}
      ORDER BY created_at DESC, id DESC LIMIT 1
    ) AS last ON true`,
    timeline: `SELECT $${n + 1}::bigint + ((created_at - $${n + 1}::bigint) / $${n + 2}::bigint) * $${n + 2}::bigint AS bucket_start,
      COUNT(*) AS total, ${STATUS_COUNTS}
    FROM runs WHERE ${scope}
    GROUP BY 1 ORDER BY 1`,
  }) as const;

/** The statements, exported so a test can hold them to the indexes with EXPLAIN. */
export const REPORT_SQL = {
  // Equality on the first two columns of runs_org_workflow_created_idx, a range on the third.
  workflow: aggregates('org_id = $1 AND workflow_id = $2 AND created_at >= $3 AND created_at < $4', 4),
  // Equality and a range on runs_org_created_idx. A text of its own rather than a shared
  // `$2 IS NULL OR workflow_id = $2`: a prepared (generic) plan could not fold that away.
  org: aggregates('org_id = $1 AND created_at >= $2 AND created_at < $3', 3),
  failures: `SELECT id, status, error, created_at, finished_at FROM runs
    WHERE org_id = $1 AND workflow_id = $2 AND status = 'failed'
    ORDER BY created_at DESC, id DESC LIMIT $3`,
} as const;

/** The statements and leading parameters that select one workflow's runs, or the org's. */
function scopeOf(
  orgId: string,
  workflowId: string | null,
  range: RunTimeRange,
): { sql: ReturnType<typeof aggregates>; params: unknown[] } {
  const from = range.from ?? Number.MIN_SAFE_INTEGER;
  const to = range.to ?? Number.MAX_SAFE_INTEGER;
  return workflowId === null
    ? { sql: REPORT_SQL.org, params: [orgId, from, to] }
    : { sql: REPORT_SQL.workflow, params: [orgId, workflowId, from, to] };
}

type CountsRow = Record<RunStatus, number> & { total: number };

const countsOf = (row: CountsRow): RunStatusCounts =>
  Object.fromEntries(RUN_STATUSES.map((status) => [status, row[status]])) as RunStatusCounts;

/** The ReportStore of the Postgres backend: `percentile_cont` and `FILTER` do the work. */
export class PostgresReportQueries implements ReportStore {
  constructor(readonly pool: pg.Pool) {}

  async summarizeRuns(
    orgId: string,
    workflowId: string | null,
    range: RunTimeRange = {},
  ): Promise<RunSummaryRow> {
    const { sql, params } = scopeOf(orgId, workflowId, range);
    const { rows } = await this.pool.query(sql.summary, params);
    const row = rows[0] as CountsRow & {
      credits_consumed: number;
      durations: [number, number] | null;
      last_id: string | null;
      last_status: RunStatus;
      last_created_at: Millis;
      last_finished_at: Millis | null;
    };
    return {
      total: row.total,
      counts: countsOf(row),
      duration_ms: row.durations === null ? null : { p50: row.durations[0], p95: row.durations[1] },
      credits_consumed: row.credits_consumed,
      last_run:
        row.last_id === null
          ? null
          : {
              id: row.last_id,
              status: row.last_status,
              created_at: row.last_created_at,
              finished_at: row.last_finished_at,
            },
    };
  }

  async runTimeline(
    orgId: string,
    workflowId: string | null,
    query: RunTimelineQuery,
  ): Promise<TimelineBucketRow[]> {
    const { sql, params } = scopeOf(orgId, workflowId, query);
    const { rows } = await this.pool.query(sql.timeline, [...params, query.originMs ?? 0, query.bucketMs]);
    return (rows as (CountsRow & { bucket_start: Millis })[]).map((row) => ({
      bucket_start: row.bucket_start,
      total: row.total,
      counts: countsOf(row),
    }));
  }

  async recentFailures(orgId: string, workflowId: string, limit: number): Promise<RunFailureRow[]> {
    const { rows } = await this.pool.query(REPORT_SQL.failures, [orgId, workflowId, limit]);
    return rows as RunFailureRow[];
  }
}
