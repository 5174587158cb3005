import { useState } from 'preact/hooks';
import { api } from '../api';
import { BucketTable, RunsChart, SuccessChart } from '../components/charts';
import { ErrorNotice, Loading } from '../components/common';
import { formatDuration, formatLocal, formatPercent, statusLabel } from '../format';
import {
  browserTimeZone,
  emptyBuckets,
  foldTallies,
  timelineMinutesForDays,
  type BucketUnit,
  type SummaryView,
  type Tally,
} from '../summary-math';
import { usePoll } from '../use-poll';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Days are the viewer's local days (the browser's time zone), as the labels show them. */
const PERIODS = {
  '24h': { label: 'Last 24 hours', ms: DAY, unit: 'hour' },
  '7d': { label: 'Last 7 days', ms: 7 * DAY, unit: 'day' },
  '30d': { label: 'Last 30 days', ms: 30 * DAY, unit: 'day' },
} as const satisfies Record<string, { label: string; ms: number; unit: BucketUnit }>;
type Period = keyof typeof PERIODS;
/** The most buckets the server's timeline answers at once. */
const MAX_TIMELINE_BUCKETS = 1000;
const MINUTE = 60_000;

/**
 * The timeline of a workflow (of the whole org when `id` is null) over [from, to) in server
 * buckets of `minutes` (aligned on the epoch), asked in as many requests as the server's
 * bucket limit needs.
 */
async function timelineTallies(
  id: string | null,
  from: number,
  to: number,
  minutes: number,
): Promise<Tally[]> {
  const bucketMs = minutes * MINUTE;
  const ranges: [number, number][] = [];
  for (let start = from; start < to;) {
    const end = Math.min(to, Math.floor(start / bucketMs) * bucketMs + MAX_TIMELINE_BUCKETS * bucketMs);
    ranges.push([start, end]);
    start = end;
  }
  const pages = await Promise.all(
    ranges.map(([start, end]) => {
      const query = {
        from: new Date(start).toISOString(),
        to: new Date(end).toISOString(),
        bucket: `${minutes}m`,
      };
      return id === null ? api.orgTimeline(query) : api.timeline(id, query);
    }),
  );
  return pages.flatMap((page) =>
    page.buckets.map((b) => {
      const succeeded = b.by_status.completed + b.by_status.partial_complete;
      return {
        start: Date.parse(b.bucket_start),
        total: b.total,
        succeeded,
        failed: b.by_status.failed,
        finished: succeeded + b.by_status.failed + b.by_status.cancelled,
      };
    }),
  );
}

/** The figures of a workflow's runs, or of every run of the org when `id` is null, all counted by the server. */
async function summaryView(
  id: string | null,
  from: number,
  to: number,
  unit: BucketUnit,
  timeZone: string,
): Promise<SummaryView> {
  const range = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  // The server's buckets are fixed lengths from the epoch: local days are summed from the
  // finest that nest in them (hours, or half or quarter hours where the zone is off the hour).
  const minutes = unit === 'hour' ? 60 : timelineMinutesForDays(from, to, timeZone);
  const [summary, tallies] = await Promise.all([
    id === null ? api.orgSummary(range) : api.summary(id, range),
    timelineTallies(id, from, to, minutes),
  ]);
  return {
    total: summary.total_runs,
    byStatus: summary.by_status,
    successRate: summary.success_rate,
    p50: summary.duration_ms.p50,
    p95: summary.duration_ms.p95,
    credits: summary.credits_used,
    bucketMs: unit === 'hour' ? HOUR : DAY,
    buckets: foldTallies(tallies, emptyBuckets(from, to, unit, timeZone)),
  };
}

const formatCredits = (credits: number): string => `${new Intl.NumberFormat().format(credits)} credits`;

/** The org's balance and plan: what the next run start is checked against, whatever the filters. */
function CreditsBlock() {
  const credits = usePoll(() => api.credits(), [], { intervalMs: 30_000 });
  const account = credits.data;
  return (
    <section aria-labelledby="credits-heading">
      <h2 id="credits-heading">Credits</h2>
      <ErrorNotice error={credits.error} />
      {account && (
        <dl class="facts">
          <div>
            <dt>Balance</dt>
            <dd>{formatCredits(account.balance)}</dd>
          </div>
          <div>
            <dt>Plan</dt>
            <dd>{account.plan.name}</dd>
          </div>
          <div>
            <dt>Tops up</dt>
            <dd>
              {account.renews_at === null
                ? 'never'
                : `to ${formatCredits(account.plan.monthly_credits)} on ${formatLocal(account.renews_at)}`}
            </dd>
          </div>
        </dl>
      )}
    </section>
  );
}

export function SummaryPage() {
  const [workflow, setWorkflow] = useState('');
  const [period, setPeriod] = useState<Period>('7d');
  const workflows = usePoll(() => api.listWorkflows(), [], { live: false });
  const view = usePoll(
    () => {
      const { ms, unit } = PERIODS[period];
      const to = Date.now();
      const from = to - ms;
      return summaryView(workflow || null, from, to, unit, browserTimeZone());
    },
    [workflow, period],
    { intervalMs: 30_000 },
  );
  const hourly = PERIODS[period].unit === 'hour';
  const formatBucket = (start: number) =>
    new Intl.DateTimeFormat(
      undefined,
      hourly ? { hour: '2-digit', minute: '2-digit' } : { month: 'short', day: 'numeric' },
    ).format(start);
  const data = view.data;

  return (
    <>
      <h1>Summary</h1>
      <CreditsBlock />
      <form class="filters" aria-label="Summary options" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="summary-workflow">Workflow</label>
          <select id="summary-workflow" value={workflow} onChange={(e) => setWorkflow(e.currentTarget.value)}>
            <option value="">All workflows</option>
            {(workflows.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {w.title}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="summary-period">Period</label>
          <select
            id="summary-period"
            value={period}
            onChange={(e) => setPeriod(e.currentTarget.value as Period)}
          >
            {Object.entries(PERIODS).map(([value, p]) => (
              <option key={value} value={value}>
                {p.label}
              </option>
            ))}
          </select>
        </div>
      </form>
      <ErrorNotice error={view.error} />
      {!data ? (
        view.loading && <Loading what="the summary" />
      ) : (
        <>
          <dl class="stats">
            <div>
              <dt>Runs</dt>
              <dd>{data.total}</dd>
            </div>
            <div>
              <dt>Success rate</dt>
              <dd>{formatPercent(data.successRate)}</dd>
            </div>
            <div>
              <dt>p50 duration</dt>
              <dd>{formatDuration(data.p50)}</dd>
            </div>
            <div>
              <dt>p95 duration</dt>
              <dd>{formatDuration(data.p95)}</dd>
            </div>
            <div>
              <dt>Credits used</dt>
              <dd>{data.credits}</dd>
            </div>
          </dl>
          <p class="small muted">
            {Object.entries(data.byStatus)
              .filter(([, n]) => n > 0)
              .map(([status, n]) => `${statusLabel(status)}: ${n}`)
              .join(' · ') || 'No runs in this period.'}
          </p>
          <div class="charts">
            <section aria-labelledby="runs-chart-heading">
              <h2 id="runs-chart-heading">Runs over time</h2>
              <RunsChart label="Runs over time" buckets={data.buckets} formatBucket={formatBucket} />
            </section>
            <section aria-labelledby="rate-chart-heading">
              <h2 id="rate-chart-heading">Success rate</h2>
              <SuccessChart label="Success rate" buckets={data.buckets} formatBucket={formatBucket} />
            </section>
          </div>
          <BucketTable buckets={data.buckets} formatBucket={formatBucket} />
        </>
      )}
    </>
  );
}
