import type Database from 'better-sqlite3';
import type { ErrorInfo } from '../../domain/errors.js';
import type { Millis } from '../../domain/model.js';
import { RUN_STATUSES, type RunStatus } from '../../domain/run-state.js';
import type {
  LastRunRow,
  ReportStore,
  RunFailureRow,
  RunStatusCounts,
  RunSummaryRow,
  RunTimelineQuery,
  RunTimeRange,
  TimelineBucketRow,
} from '../report-store.js';
import type { SqliteConnection } from './sqlite-connection.js';

// Statuses are constants of ours, never input, so they may be spelled into the SQL.
const STATUS_COUNTS = RUN_STATUSES.map((s) => `COUNT(*) FILTER (WHERE status = '${s}') AS "${s}"`).join(', ');

// A workflow's runs: equality on the first two columns of runs_org_workflow_created_idx,
// a range on the third. The org's runs: equality and a range on runs_org_created_idx.
const WORKFLOW_SCOPE =
  'org_id = @org_id AND workflow_id = @workflow_id AND created_at >= @from AND created_at < @to';
const ORG_SCOPE = 'org_id = @org_id AND created_at >= @from AND created_at < @to';

// One text per scope rather than `(@workflow_id IS NULL OR …)`: SQLite plans a statement
// once, and an OR would keep it from seeking either index.
const aggregates = (scope: string) =>
  ({
    summary: `SELECT COUNT(*) AS total, ${STATUS_COUNTS},
      COALESCE(SUM(credits_consumed), 0) AS credits_consumed,
      COUNT(finished_at - started_at) AS timed
    FROM runs WHERE ${scope}`,
    lastRun: `SELECT id, status, created_at, finished_at FROM runs WHERE ${scope}
    ORDER BY created_at DESC, id DESC LIMIT 1`,
    // One sort numbers every duration; only the rows at the wanted ranks come back.
    durationsAtRanks: `SELECT rank, ms FROM (
      SELECT finished_at - started_at AS ms, ROW_NUMBER() OVER (ORDER BY finished_at - started_at) - 1 AS rank
      FROM runs WHERE ${scope} AND started_at IS NOT NULL AND finished_at IS NOT NULL
    ) WHERE rank IN (SELECT value FROM json_each(@ranks))`,
    timeline: `SELECT @origin + ((created_at - @origin) / @bucket) * @bucket AS bucket_start,
      COUNT(*) AS total, ${STATUS_COUNTS}
    FROM runs WHERE ${scope}
    GROUP BY bucket_start ORDER BY bucket_start`,
  }) as const;
type Aggregates = ReturnType<typeof aggregates>;

/** The statements, exported so a test can hold them to the indexes with EXPLAIN QUERY PLAN. */
export const REPORT_SQL = {
  workflow: aggregates(WORKFLOW_SCOPE),
  org: aggregates(ORG_SCOPE),
  failures: `SELECT id, status, error, created_at, finished_at FROM runs
    WHERE org_id = ? AND workflow_id = ? AND status = 'failed'
    ORDER BY created_at DESC, id DESC LIMIT ?`,
} as const;

/** The statements and named parameters that select one workflow's runs, or the org's. */
interface Scope {
  sql: Aggregates;
  params: Record<string, unknown>;
}

function scopeOf(orgId: string, workflowId: string | null, range: RunTimeRange): Scope {
  const bounds = {
    org_id: orgId,
    from: range.from ?? Number.MIN_SAFE_INTEGER,
    to: range.to ?? Number.MAX_SAFE_INTEGER,
  };
  return workflowId === null
    ? { sql: REPORT_SQL.org, params: bounds }
    : { sql: REPORT_SQL.workflow, params: { ...bounds, workflow_id: workflowId } };
}

type CountsRow = Record<RunStatus, number> & { total: number };

const countsOf = (row: CountsRow): RunStatusCounts =>
  Object.fromEntries(RUN_STATUSES.map((status) => [status, row[status]])) as RunStatusCounts;

/** Where percentile `p` of `n` sorted values falls, as `percentile_cont` defines it. */
function percentilePosition(n: number, p: number): { lower: number; upper: number; fraction: number } {
  const position = p * (n - 1);
  const lower = Math.floor(position);
  return { lower, upper: Math.ceil(position), fraction: position - lower };
}

const PERCENTILES = { p50: 0.5, p95: 0.95 } as const;

/**
 * The ReportStore of the Sqlite backend. SQLite has no `percentile_cont`, so the exact
 * percentiles are interpolated here from the durations at the two ranks around each one,
 * with PostgreSQL's arithmetic, so both backends give the same figures.
 */
export class SqliteReportQueries implements ReportStore {
  // A deferred transaction is a read snapshot in WAL mode: the ranks computed from the
  // summary's count still exist when the durations at those ranks are read, whatever
  // another process writes meanwhile.
  private readonly snapshot: Database.Transaction<(scope: Scope) => RunSummaryRow>;

  constructor(readonly connection: SqliteConnection) {
    this.snapshot = connection.db.transaction((scope: Scope) => this.summarize(scope));
  }

  async summarizeRuns(
    orgId: string,
    workflowId: string | null,
    range: RunTimeRange = {},
  ): Promise<RunSummaryRow> {
    return this.snapshot.deferred(scopeOf(orgId, workflowId, range));
  }

  async runTimeline(
    orgId: string,
    workflowId: string | null,
    query: RunTimelineQuery,
  ): Promise<TimelineBucketRow[]> {
    const { sql, params } = scopeOf(orgId, workflowId, query);
    const rows = this.connection.statement(sql.timeline).all({
      ...params,
      // better-sqlite3 binds a JS number as REAL, which would make the division fractional.
      origin: BigInt(query.originMs ?? 0),
      bucket: BigInt(query.bucketMs),
    }) as (CountsRow & { bucket_start: Millis })[];
    return rows.map((row) => ({ bucket_start: row.bucket_start, total: row.total, counts: countsOf(row) }));
  }

  async recentFailures(orgId: string, workflowId: string, limit: number): Promise<RunFailureRow[]> {
    const rows = this.connection.statement(REPORT_SQL.failures).all(orgId, workflowId, limit) as (Omit<
      RunFailureRow,
      'error'
    > & { error: string | null })[];
    return rows.map((row) => ({
      ...row,
      error: row.error === null ? null : (JSON.parse(row.error) as ErrorInfo),
    }));
  }

  private summarize(scope: Scope): RunSummaryRow {
    const row = this.connection.statement(scope.sql.summary).get(scope.params) as CountsRow & {
      credits_consumed: number;
      timed: number;
    };
    const last = this.connection.statement(scope.sql.lastRun).get(scope.params) as LastRunRow | undefined;
    return {
      total: row.total,
      counts: countsOf(row),
      duration_ms: row.timed === 0 ? null : this.durationPercentiles(scope, row.timed),
      credits_consumed: row.credits_consumed,
      last_run: last ?? null,
    };
  }

  private durationPercentiles(scope: Scope, count: number): { p50: number; p95: number } {
    const p50 = percentilePosition(count, PERCENTILES.p50);
    const p95 = percentilePosition(count, PERCENTILES.p95);
    const ranks = [p50.lower, p50.upper, p95.lower, p95.upper];
    const rows = this.connection
      .statement(scope.sql.durationsAtRanks)
      .all({ ...scope.params, ranks: JSON.stringify(ranks) }) as { rank: number; ms: number }[];
    const at = new Map(rows.map((row) => [row.rank, row.ms]));
    const interpolate = ({ lower, upper, fraction }: ReturnType<typeof percentilePosition>): number => {
      const low = at.get(lower)!;
      return low + fraction * (at.get(upper)! - low);
    };
    return { p50: interpolate(p50), p95: interpolate(p95) };
  }
}
