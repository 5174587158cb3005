// Aggregates for the Summary page over a list of runs (pure, unit-tested).

export interface RunLike {
  status: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  creditsConsumed?: number;
}

export interface Bucket {
  start: number;
  total: number;
  succeeded: number;
  failed: number;
  /** Succeeded / finished in the bucket; null when none finished. */
  successRate: number | null;
}

export interface SummaryView {
  total: number;
  byStatus: Record<string, number>;
  successRate: number | null;
  p50: number | null;
  p95: number | null;
  credits: number;
  bucketMs: number;
  buckets: Bucket[];
}

const SUCCEEDED = ['completed', 'partial_complete'];
const FINISHED = ['completed', 'partial_complete', 'failed', 'cancelled'];

/**
 * Continuous percentile with linear interpolation (PostgreSQL's `percentile_cont`, as the
 * server's summaries compute it): position p·(n−1) in the sorted values.
 */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const position = p * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

export const rate = (succeeded: number, finished: number): number | null =>
  finished === 0 ? null : succeeded / finished;

/** Empty buckets of `bucketMs` covering [from, to), aligned on multiples of `bucketMs` from the epoch. */
export function emptyBuckets(from: number, to: number, bucketMs: number): Bucket[] {
  const first = Math.floor(from / bucketMs) * bucketMs;
  const buckets: Bucket[] = [];
  for (let start = first; start < to; start += bucketMs) {
    buckets.push({ start, total: 0, succeeded: 0, failed: 0, successRate: null });
  }
  return buckets;
}

/** Counts, success rate, p50/p95 duration, credits and per-bucket series of `runs` created in [from, to). */
export function summarize(runs: RunLike[], from: number, to: number, bucketMs: number): SummaryView {
  const buckets = emptyBuckets(from, to, bucketMs);
  const first = buckets[0]?.start ?? from;
  const byStatus: Record<string, number> = {};
  const durations: number[] = [];
  const finishedIn = new Map<Bucket, number>();
  let credits = 0;
  let total = 0;
  for (const run of runs) {
    const created = Date.parse(run.createdAt);
    if (!(created >= from && created < to)) continue;
    total += 1;
    byStatus[run.status] = (byStatus[run.status] ?? 0) + 1;
    credits += run.creditsConsumed ?? 0;
    if (run.startedAt && run.finishedAt)
      durations.push(Date.parse(run.finishedAt) - Date.parse(run.startedAt));
    const bucket = buckets[Math.floor((created - first) / bucketMs)];
    if (!bucket) continue;
    bucket.total += 1;
    if (SUCCEEDED.includes(run.status)) bucket.succeeded += 1;
    if (run.status === 'failed') bucket.failed += 1;
    if (FINISHED.includes(run.status)) finishedIn.set(bucket, (finishedIn.get(bucket) ?? 0) + 1);
  }
  for (const bucket of buckets) bucket.successRate = rate(bucket.succeeded, finishedIn.get(bucket) ?? 0);
  const succeeded = SUCCEEDED.reduce((sum, status) => sum + (byStatus[status] ?? 0), 0);
  const finished = FINISHED.reduce((sum, status) => sum + (byStatus[status] ?? 0), 0);
  return {
    total,
    byStatus,
    successRate: rate(succeeded, finished),
    p50: percentile(durations, 0.5),
    p95: percentile(durations, 0.95),
    credits,
    bucketMs,
    buckets,
  };
}
