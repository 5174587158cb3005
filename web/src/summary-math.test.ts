import { describe, expect, it } from 'vitest';
import { emptyBuckets, foldTallies, startOfDay, timelineMinutesForDays, zoneOffset } from './summary-math';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// Every zone is passed explicitly: none of this depends on the machine's TZ.
const at = (iso: string) => Date.parse(iso);
const starts = (buckets: { start: number }[]) => buckets.map((b) => new Date(b.start).toISOString());

describe('local days', () => {
  it('reads zone offsets, east positive, with DST', () => {
    expect(zoneOffset(at('2026-01-15T12:00:00Z'), 'Asia/Kolkata')).toBe(5.5 * HOUR);
    expect(zoneOffset(at('2026-01-15T12:00:00Z'), 'America/New_York')).toBe(-5 * HOUR);
    expect(zoneOffset(at('2026-07-15T12:00:00Z'), 'America/New_York')).toBe(-4 * HOUR);
    expect(zoneOffset(at('2026-07-15T12:34:56.789Z'), 'UTC')).toBe(0);
  });

  it('starts a day at its local midnight in the given zone', () => {
    expect(startOfDay(at('2026-01-15T03:00:00Z'), 'UTC')).toBe(at('2026-01-15T00:00:00Z'));
    // 22:00 on the 14th in New York.
    expect(startOfDay(at('2026-01-15T03:00:00Z'), 'America/New_York')).toBe(at('2026-01-14T05:00:00Z'));
    // 08:30 on the 15th in India; its day began at 18:30 UTC the evening before.
    expect(startOfDay(at('2026-01-15T03:00:00Z'), 'Asia/Kolkata')).toBe(at('2026-01-14T18:30:00Z'));
    // Already the 16th in Auckland (UTC+13 in January).
    expect(startOfDay(at('2026-01-15T12:00:00Z'), 'Pacific/Auckland')).toBe(at('2026-01-15T11:00:00Z'));
    // A midnight is its own day's start.
    expect(startOfDay(at('2026-01-14T18:30:00Z'), 'Asia/Kolkata')).toBe(at('2026-01-14T18:30:00Z'));
    expect(startOfDay(at('2026-01-14T18:29:59.999Z'), 'Asia/Kolkata')).toBe(at('2026-01-13T18:30:00Z'));
  });

  it('makes DST days 23 and 25 hours long', () => {
    // New York springs forward on 8 March 2026 and falls back on 1 November 2026.
    const spring = emptyBuckets(
      at('2026-03-07T12:00:00Z'),
      at('2026-03-09T12:00:00Z'),
      'day',
      'America/New_York',
    );
    expect(starts(spring)).toEqual([
      '2026-03-07T05:00:00.000Z',
      '2026-03-08T05:00:00.000Z',
      '2026-03-09T04:00:00.000Z',
    ]);
    const fall = emptyBuckets(
      at('2026-10-31T12:00:00Z'),
      at('2026-11-02T12:00:00Z'),
      'day',
      'America/New_York',
    );
    expect(starts(fall)).toEqual([
      '2026-10-31T04:00:00.000Z',
      '2026-11-01T04:00:00.000Z',
      '2026-11-02T05:00:00.000Z',
    ]);
  });

  it('starts a day whose midnight a DST gap skips at the end of the gap', () => {
    // Chile moves from 24:00 on Saturday 5 September 2026 to 01:00 on Sunday the 6th.
    const days = emptyBuckets(
      at('2026-09-05T12:00:00Z'),
      at('2026-09-07T12:00:00Z'),
      'day',
      'America/Santiago',
    );
    expect(starts(days)).toEqual([
      '2026-09-05T04:00:00.000Z',
      '2026-09-06T04:00:00.000Z',
      '2026-09-07T03:00:00.000Z',
    ]);
  });

  it('covers [from, to) with days from the local day holding `from`', () => {
    // 01:30 on the 11th in India; a week later is 01:30 on the 18th: eight local days.
    const from = at('2026-01-10T20:00:00Z');
    const days = emptyBuckets(from, from + 7 * DAY, 'day', 'Asia/Kolkata');
    expect(days).toHaveLength(8);
    expect(days[0]!.start).toBe(at('2026-01-10T18:30:00Z'));
    expect(days.at(-1)!.start).toBe(at('2026-01-17T18:30:00Z'));
    expect(days.map((d) => d.total)).toEqual(new Array(8).fill(0));
  });

  it('buckets runs by the local day of their creation', () => {
    // One server bucket per run, as a quarter-hour timeline would give them.
    const run = (start: string, status: 'completed' | 'failed') => ({
      start: at(start),
      total: 1,
      succeeded: status === 'completed' ? 1 : 0,
      failed: status === 'failed' ? 1 : 0,
      finished: 1,
    });
    const runs = [
      run('2026-01-01T10:30:00Z', 'completed'), // 23:30 on 1 January in Auckland
      run('2026-01-01T11:30:00Z', 'failed'), // 00:30 on 2 January in Auckland
      run('2026-01-01T23:00:00Z', 'completed'), // 1 January in UTC, noon on the 2nd in Auckland
    ];
    const from = at('2026-01-01T00:00:00Z');
    const to = at('2026-01-02T12:00:00Z');
    const inUtc = foldTallies(runs, emptyBuckets(from, to, 'day', 'UTC'));
    expect(inUtc.map((b) => [new Date(b.start).toISOString(), b.total, b.successRate])).toEqual([
      ['2026-01-01T00:00:00.000Z', 3, 2 / 3],
      ['2026-01-02T00:00:00.000Z', 0, null],
    ]);
    const inAuckland = foldTallies(runs, emptyBuckets(from, to, 'day', 'Pacific/Auckland'));
    expect(inAuckland.map((b) => [new Date(b.start).toISOString(), b.total, b.successRate])).toEqual([
      ['2025-12-31T11:00:00.000Z', 1, 1],
      ['2026-01-01T11:00:00.000Z', 2, 0.5],
      ['2026-01-02T11:00:00.000Z', 0, null],
    ]);
  });
});

describe('server timelines folded into local days', () => {
  it('picks server buckets that nest in the zone’s days', () => {
    const from = at('2026-03-01T00:00:00Z');
    const to = from + 30 * DAY;
    expect(timelineMinutesForDays(from, to, 'UTC')).toBe(60);
    expect(timelineMinutesForDays(from, to, 'America/New_York')).toBe(60); // across its DST change
    expect(timelineMinutesForDays(from, to, 'Asia/Kolkata')).toBe(30);
    expect(timelineMinutesForDays(from, to, 'Asia/Kathmandu')).toBe(15);
  });

  it('sums tallies into the day holding their start, with success rates', () => {
    const from = at('2026-01-10T00:00:00Z');
    const days = emptyBuckets(from, from + DAY, 'day', 'Asia/Kolkata');
    const tally = (start: string, total: number, succeeded: number, failed: number) => ({
      start: at(start),
      total,
      succeeded,
      failed,
      finished: succeeded + failed,
    });
    foldTallies(
      [
        tally('2026-01-10T18:00:00Z', 2, 1, 1), // 23:30 on the 10th
        tally('2026-01-10T18:30:00Z', 3, 3, 0), // 00:00 on the 11th
        tally('2026-01-10T19:00:00Z', 1, 0, 0), // still running
      ],
      days,
    );
    expect(
      days.map((d) => [new Date(d.start).toISOString(), d.total, d.succeeded, d.failed, d.successRate]),
    ).toEqual([
      ['2026-01-09T18:30:00.000Z', 2, 1, 1, 0.5],
      ['2026-01-10T18:30:00.000Z', 4, 3, 0, 1],
    ]);
  });
});
