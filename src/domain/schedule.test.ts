import { describe, expect, it } from 'vitest';
import { StepwiseError } from './errors.js';
import {
  firingIdempotencyKey,
  localDateToInstant,
  MAX_CATCH_UP,
  nextFireAfter,
  parseCron,
  parseTimezone,
  planFirings,
  type ScheduleRecord,
} from './schedule.js';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The next `count` slots of a cron after `from`, as ISO instants. */
function slots(expression: string, zone: string, from: string, count: number): (string | null)[] {
  const spec = parseCron(expression, parseTimezone(zone));
  const result: (string | null)[] = [];
  let after = at(from);
  for (let i = 0; i < count; i += 1) {
    const next = nextFireAfter(spec, after);
    result.push(iso(next));
    if (next === null) break;
    after = next;
  }
  return result;
}

function expectValidationError(fn: () => unknown, field: string): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StepwiseError);
    expect(error).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', field });
    expect((error as Error).message.startsWith(`${field}: `)).toBe(true);
    return;
  }
  throw new Error(`expected a 400 naming ${field}`);
}

describe('parseTimezone', () => {
  it('accepts IANA names and UTC, canonically spelled', () => {
    expect(parseTimezone('America/New_York')).toEqual({ name: 'America/New_York', offsetMinutes: null });
    expect(parseTimezone('UTC')).toEqual({ name: 'UTC', offsetMinutes: null });
    expect(parseTimezone('europe/berlin')).toEqual({ name: 'Europe/Berlin', offsetMinutes: null });
  });

  it('reads document 002’s fixed offsets', () => {
    expect(parseTimezone('GMT_plus_1')).toEqual({ name: 'GMT_plus_1', offsetMinutes: 60 });
    expect(parseTimezone('GMT_minus_5')).toEqual({ name: 'GMT_minus_5', offsetMinutes: -300 });
    expect(parseTimezone('GMT_plus_5_30')).toEqual({ name: 'GMT_plus_5_30', offsetMinutes: 330 });
    expect(parseTimezone('gmt_MINUS_3_30')).toEqual({ name: 'GMT_minus_3_30', offsetMinutes: -210 });
    expect(parseTimezone('GMT_plus_0')).toEqual({ name: 'GMT_plus_0', offsetMinutes: 0 });
  });

  it('refuses anything else with a 400 naming the field', () => {
    for (const bad of ['Mars/Olympus', 'GMT_plus_15', 'GMT_plus_5_75', 'GMT+1', '+01:00', '', 42, null]) {
      expectValidationError(() => parseTimezone(bad), 'timezone');
    }
    expectValidationError(
      () => parseTimezone('Nowhere/City', 'trigger_config.timezone'),
      'trigger_config.timezone',
    );
  });
});

describe('localDateToInstant', () => {
  it('takes a date with an offset or Z as that instant, whatever the zone', () => {
    const berlin = parseTimezone('Europe/Berlin');
    expect(iso(localDateToInstant('2026-07-01T09:00:00.000Z', parseTimezone('GMT_plus_1')))).toBe(
      '2026-07-01T09:00:00.000Z',
    );
    expect(iso(localDateToInstant('2026-07-01T09:00:00+05:30', berlin))).toBe('2026-07-01T03:30:00.000Z');
    expect(iso(localDateToInstant('2026-07-01T09:00:00.250-0400', berlin))).toBe('2026-07-01T13:00:00.250Z');
  });

  it('reads a date without an offset as wall-clock time in the zone', () => {
    expect(iso(localDateToInstant('2026-07-01T09:00:00', parseTimezone('GMT_plus_1')))).toBe(
      '2026-07-01T08:00:00.000Z',
    );
    expect(iso(localDateToInstant('2026-07-01T09:00', parseTimezone('GMT_plus_5_30')))).toBe(
      '2026-07-01T03:30:00.000Z',
    );
    expect(iso(localDateToInstant('2026-07-01T09:00:00', parseTimezone('America/New_York')))).toBe(
      '2026-07-01T13:00:00.000Z',
    );
    expect(iso(localDateToInstant('2026-01-15 09:00:00.5', parseTimezone('Europe/Berlin')))).toBe(
      '2026-01-15T08:00:00.500Z',
    );
    expect(iso(localDateToInstant('2026-01-15', parseTimezone('UTC')))).toBe('2026-01-15T00:00:00.000Z');
  });

  it('moves a time skipped by spring-forward ahead by the gap, and takes the first of a repeated time', () => {
    const newYork = parseTimezone('America/New_York');
    // 2025-03-09 02:00 EST jumps to 03:00 EDT: 02:30 does not exist and becomes 03:30 EDT.
    expect(iso(localDateToInstant('2025-03-09T02:30:00', newYork))).toBe('2025-03-09T07:30:00.000Z');
    // 2025-11-02 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST): the first is taken.
    expect(iso(localDateToInstant('2025-11-02T01:30:00', newYork))).toBe('2025-11-02T05:30:00.000Z');
    const berlin = parseTimezone('Europe/Berlin');
    expect(iso(localDateToInstant('2025-03-30T02:30:00', berlin))).toBe('2025-03-30T01:30:00.000Z');
    expect(iso(localDateToInstant('2025-10-26T02:30:00', berlin))).toBe('2025-10-26T00:30:00.000Z');
  });

  it('refuses what is not a real ISO date with a 400 naming scheduledDate', () => {
    const utc = parseTimezone('UTC');
    for (const bad of [
      'tomorrow',
      '2026-02-30T09:00:00',
      '2026-13-01',
      '2026-07-01T24:00',
      '07/01/2026',
      1234,
    ]) {
      expectValidationError(() => localDateToInstant(bad, utc), 'scheduledDate');
    }
  });
});

describe('parseCron and nextFireAfter', () => {
  it('fires a 5-field cron each day at its local time in an IANA zone, and a 6-field one each second', () => {
    expect(slots('0 9 * * *', 'America/New_York', '2025-06-01T00:00:00Z', 2)).toEqual([
      '2025-06-01T13:00:00.000Z',
      '2025-06-02T13:00:00.000Z',
    ]);
    expect(slots('* * * * * *', 'UTC', '2025-06-01T00:00:00.400Z', 2)).toEqual([
      '2025-06-01T00:00:01.000Z',
      '2025-06-01T00:00:02.000Z',
    ]);
  });

  it('fires in fixed offsets, half hours included', () => {
    expect(slots('0 9 * * *', 'GMT_plus_1', '2025-06-01T00:00:00Z', 1)).toEqual(['2025-06-01T08:00:00.000Z']);
    expect(slots('0 9 * * *', 'GMT_plus_5_30', '2025-06-01T00:00:00Z', 1)).toEqual([
      '2025-06-01T03:30:00.000Z',
    ]);
    expect(slots('0 9 * * *', 'GMT_minus_5', '2025-06-01T00:00:00Z', 1)).toEqual([
      '2025-06-01T14:00:00.000Z',
    ]);
    // A fixed offset knows no DST: the same UTC time in January and in July.
    expect(slots('0 9 1 1,7 *', 'GMT_plus_1', '2025-01-01T00:00:00Z', 2)).toEqual([
      '2025-01-01T08:00:00.000Z',
      '2025-07-01T08:00:00.000Z',
    ]);
  });

  it('New York spring-forward: 02:30 does not exist on 2025-03-09, so it fires once at 03:00 EDT', () => {
    expect(slots('30 2 * * *', 'America/New_York', '2025-03-08T12:00:00Z', 3)).toEqual([
      '2025-03-09T07:00:00.000Z', // 03:00 EDT, the first valid time after the gap
      '2025-03-10T06:30:00.000Z', // 02:30 EDT
      '2025-03-11T06:30:00.000Z',
    ]);
  });

  it('New York fall-back: 01:30 happens twice on 2025-11-02; a fixed-time job fires on the first only', () => {
    expect(slots('30 1 * * *', 'America/New_York', '2025-11-01T00:00:00Z', 3)).toEqual([
      '2025-11-01T05:30:00.000Z', // 01:30 EDT
      '2025-11-02T05:30:00.000Z', // 01:30 EDT; 01:30 EST (06:30Z) is not a second firing
      '2025-11-03T06:30:00.000Z', // 01:30 EST
    ]);
  });

  it('an interval job fires on both occurrences of the repeated hour, and skips the missing one', () => {
    expect(slots('*/30 * * * *', 'America/New_York', '2025-11-02T04:50:00Z', 4)).toEqual([
      '2025-11-02T05:00:00.000Z', // 01:00 EDT
      '2025-11-02T05:30:00.000Z', // 01:30 EDT
      '2025-11-02T06:00:00.000Z', // 01:00 EST
      '2025-11-02T06:30:00.000Z', // 01:30 EST
    ]);
    expect(slots('*/30 * * * *', 'America/New_York', '2025-03-09T06:20:00Z', 3)).toEqual([
      '2025-03-09T06:30:00.000Z', // 01:30 EST
      '2025-03-09T07:00:00.000Z', // 03:00 EDT: 02:00 and 02:30 do not exist
      '2025-03-09T07:30:00.000Z',
    ]);
  });

  it('Berlin: spring-forward moves 02:30 to 03:00 CEST, fall-back fires 02:30 once (CEST)', () => {
    expect(slots('30 2 * * *', 'Europe/Berlin', '2025-03-29T12:00:00Z', 2)).toEqual([
      '2025-03-30T01:00:00.000Z', // 03:00 CEST
      '2025-03-31T00:30:00.000Z', // 02:30 CEST
    ]);
    expect(slots('30 2 * * *', 'Europe/Berlin', '2025-10-25T12:00:00Z', 2)).toEqual([
      '2025-10-26T00:30:00.000Z', // 02:30 CEST, before the clocks go back
      '2025-10-27T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('says when an expression has no future occurrence', () => {
    expect(slots('0 0 30 2 *', 'UTC', '2025-01-01T00:00:00Z', 1)).toEqual([null]);
  });

  it('refuses bad expressions with a 400 naming the field', () => {
    const utc = parseTimezone('UTC');
    for (const bad of ['61 * * * *', '* * * *', 'every day', '', '0 0 1 1 * 2030 extra', undefined]) {
      expectValidationError(() => parseCron(bad, utc), 'cron');
    }
    expectValidationError(
      () => parseCron('99 * * * *', utc, 'trigger_config.schedule'),
      'trigger_config.schedule',
    );
  });
});

describe('planFirings', () => {
  const HOUR = 3_600_000;
  const GRACE = 10_000;
  const hourly = (overrides: Partial<ScheduleRecord> = {}) => ({
    kind: 'cron' as const,
    cron: '0 * * * *',
    timezone: 'UTC',
    run_at: null,
    next_fire_at: at('2025-06-01T09:00:00Z'),
    catch_up: 'latest' as const,
    ...overrides,
  });
  const plan = (overrides: Partial<ScheduleRecord>, now: string) => {
    const result = planFirings(hourly(overrides), at(now), GRACE);
    return { fire: result.fire.map((t) => iso(t)), next: iso(result.next_fire_at) };
  };

  it('fires a slot due on time once and moves to the next one', () => {
    expect(plan({}, '2025-06-01T09:00:00.300Z')).toEqual({
      fire: ['2025-06-01T09:00:00.000Z'],
      next: '2025-06-01T10:00:00.000Z',
    });
    expect(plan({}, '2025-06-01T08:59:59Z')).toEqual({ fire: [], next: '2025-06-01T09:00:00.000Z' });
  });

  it('after downtime: latest fires the newest missed slot once, none fires nothing, all fires each', () => {
    const now = '2025-06-01T12:30:00Z';
    expect(plan({ catch_up: 'latest' }, now).fire).toEqual(['2025-06-01T12:00:00.000Z']);
    expect(plan({ catch_up: 'none' }, now).fire).toEqual([]);
    expect(plan({ catch_up: 'all' }, now).fire).toEqual([
      '2025-06-01T09:00:00.000Z',
      '2025-06-01T10:00:00.000Z',
      '2025-06-01T11:00:00.000Z',
      '2025-06-01T12:00:00.000Z',
    ]);
    for (const catch_up of ['latest', 'none', 'all'] as const) {
      expect(plan({ catch_up }, now).next).toBe('2025-06-01T13:00:00.000Z');
    }
  });

  it('catch-up all fires at most the newest MAX_CATCH_UP slots after a long outage', () => {
    const result = planFirings(
      hourly({ catch_up: 'all', next_fire_at: at('2025-01-01T00:00:00Z') }),
      at('2025-06-01T12:30:00Z'),
      GRACE,
    );
    expect(result.fire).toHaveLength(MAX_CATCH_UP);
    expect(iso(result.fire.at(-1)!)).toBe('2025-06-01T12:00:00.000Z');
    expect(result.fire[1]! - result.fire[0]!).toBe(HOUR);
  });

  it('a slot only just late is on time, even under catch-up none', () => {
    expect(plan({ catch_up: 'none' }, '2025-06-01T09:00:09Z').fire).toEqual(['2025-06-01T09:00:00.000Z']);
  });

  it('a one-off fires once at its date, late only if its catch-up allows', () => {
    const once = { kind: 'once' as const, cron: null, run_at: at('2025-06-01T09:00:00Z') };
    expect(plan(once, '2025-06-01T09:00:01Z')).toEqual({ fire: ['2025-06-01T09:00:00.000Z'], next: null });
    expect(plan({ ...once, catch_up: 'latest' }, '2025-06-02T00:00:00Z').fire).toHaveLength(1);
    expect(plan({ ...once, catch_up: 'none' }, '2025-06-02T00:00:00Z')).toEqual({ fire: [], next: null });
  });
});

describe('firingIdempotencyKey', () => {
  it('names the schedule and the slot', () => {
    expect(firingIdempotencyKey('sch_1', at('2025-06-01T09:00:00Z'))).toBe(
      'schedule:sch_1:2025-06-01T09:00:00.000Z',
    );
  });
});
