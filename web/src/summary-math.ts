// The Summary page's buckets: the viewer's local days, and the server's timeline folded into them (pure, unit-tested).

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
  /** The nominal bucket length; a local day with a DST change is an hour shorter or longer. */
  bucketMs: number;
  buckets: Bucket[];
}

const rate = (succeeded: number, finished: number): number | null =>
  finished === 0 ? null : succeeded / finished;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** `hour`: hours aligned on the epoch; `day`: the local days of a time zone. */
export type BucketUnit = 'hour' | 'day';

/** The browser's IANA time zone (what `Date`'s local getters use). */
export const browserTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

const wallClockFormats = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock date and time at `at` in `timeZone`, as if that wall clock were UTC (whole seconds). */
function wallClockAsUtc(at: number, timeZone: string): number {
  let format = wallClockFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    wallClockFormats.set(timeZone, format);
  }
  const part: Record<string, number> = {};
  for (const { type, value } of format.formatToParts(at)) part[type] = Number(value);
  // Year 1 BC and before would need `era`; dashboard dates never come near.
  return Date.UTC(part.year!, part.month! - 1, part.day!, part.hour! % 24, part.minute!, part.second!);
}

/** The zone's offset from UTC at `at`, in ms (east positive): +19 800 000 in India. */
export const zoneOffset = (at: number, timeZone: string): number =>
  wallClockAsUtc(at, timeZone) - Math.floor(at / 1000) * 1000;

/** The local calendar date at `at` in `timeZone`, as the UTC midnight of that date. */
const localDate = (at: number, timeZone: string): number => {
  const wall = wallClockAsUtc(at, timeZone);
  return wall - (((wall % DAY) + DAY) % DAY);
};

/**
 * The first instant of the local date `date` (given as that date's UTC midnight) in
 * `timeZone`: its midnight, or the end of a DST gap that swallowed midnight.
 */
function startOfLocalDate(date: number, timeZone: string): number {
  // Offsets lie within −12 h … +14 h, so the real midnight is within [date − 14 h, date + 12 h];
  // a transition there gives two candidates, and the earliest that falls on `date` is it.
  const candidates = [date - 14 * HOUR, date, date + 12 * HOUR].map(
    (probe) => date - zoneOffset(probe, timeZone),
  );
  const onDate = candidates.filter((at) => localDate(at, timeZone) === date);
  if (onDate.length > 0) return Math.min(...onDate);
  // Midnight fell in a gap: the day starts at the transition, between the candidates.
  let low = Math.min(...candidates);
  let high = Math.max(...candidates);
  while (high - low > 1000) {
    const middle = Math.floor((low + high) / 2);
    if (localDate(middle, timeZone) === date) high = middle;
    else low = middle;
  }
  return high;
}

/** The start of the local day holding `at` in `timeZone` (the browser's by default). */
export const startOfDay = (at: number, timeZone: string = browserTimeZone()): number =>
  startOfLocalDate(localDate(at, timeZone), timeZone);

const emptyBucket = (start: number): Bucket => ({
  start,
  total: 0,
  succeeded: 0,
  failed: 0,
  successRate: null,
});

/**
 * Empty buckets covering [from, to): hours aligned on the epoch, or the local days of
 * `timeZone` (the browser's by default), each starting at its local midnight, so a day
 * with a DST change lasts 23 or 25 hours.
 */
export function emptyBuckets(
  from: number,
  to: number,
  unit: BucketUnit,
  timeZone: string = browserTimeZone(),
): Bucket[] {
  const buckets: Bucket[] = [];
  if (unit === 'hour') {
    for (let start = Math.floor(from / HOUR) * HOUR; start < to; start += HOUR)
      buckets.push(emptyBucket(start));
    return buckets;
  }
  let date = localDate(from, timeZone);
  for (let start = startOfLocalDate(date, timeZone); start < to;) {
    buckets.push(emptyBucket(start));
    date += DAY;
    start = startOfLocalDate(date, timeZone);
  }
  return buckets;
}

/** The bucket holding `at`: the last whose start is not after it; undefined before the first. */
function bucketOf(buckets: Bucket[], at: number): Bucket | undefined {
  let low = 0;
  let high = buckets.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (buckets[middle]!.start <= at) low = middle + 1;
    else high = middle;
  }
  return buckets[low - 1];
}

/** Run counts over a span (a server timeline bucket), with how many finished. */
export interface Tally {
  start: number;
  total: number;
  succeeded: number;
  failed: number;
  finished: number;
}

/**
 * Adds finer tallies (e.g. a server timeline's hours) into `buckets`, each by its start,
 * and sets their success rates. Tallies before the first bucket are dropped.
 */
export function foldTallies(tallies: Tally[], buckets: Bucket[]): Bucket[] {
  const finishedIn = new Map<Bucket, number>();
  for (const tally of tallies) {
    const bucket = bucketOf(buckets, tally.start);
    if (!bucket) continue;
    bucket.total += tally.total;
    bucket.succeeded += tally.succeeded;
    bucket.failed += tally.failed;
    finishedIn.set(bucket, (finishedIn.get(bucket) ?? 0) + tally.finished);
  }
  for (const bucket of buckets) bucket.successRate = rate(bucket.succeeded, finishedIn.get(bucket) ?? 0);
  return buckets;
}

/**
 * The coarsest server timeline bucket (in minutes: 60, 30 or 15) whose buckets nest in the
 * local days of `timeZone` over [from, to): every local midnight there must fall on one of
 * its boundaries, which a zone at UTC+5:30 or +5:45 puts off the hour.
 */
export function timelineMinutesForDays(
  from: number,
  to: number,
  timeZone: string = browserTimeZone(),
): number {
  const starts = emptyBuckets(from, to, 'day', timeZone).map((bucket) => bucket.start);
  for (const minutes of [60, 30, 15]) {
    if (starts.every((start) => start % (minutes * MINUTE) === 0)) return minutes;
  }
  return 1;
}
