import { Cron, CronDate, type CronOptions } from 'croner';
import { validationError } from './errors.js';
import type { Millis } from './model.js';

export const CATCH_UP_POLICIES = ['latest', 'none', 'all'] as const;
/**
 * What a schedule does with slots it missed (the scheduler was down, or a `queue`d firing
 * waited): `latest` fires the newest missed slot once, `none` drops them, `all` fires each,
 * oldest first, up to `MAX_CATCH_UP` of the newest.
 */
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];

export const OVERLAP_POLICIES = ['allow', 'skip', 'queue', 'cancel_previous'] as const;
/**
 * What a firing does while the schedule's previous run is unfinished: `allow` starts anyway,
 * `skip` drops the slot, `queue` waits for the previous run to finish and then starts (slots
 * coming due meanwhile are treated as missed, so the catch-up policy decides), and
 * `cancel_previous` cancels the previous run and starts.
 */
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

export const SCHEDULE_STATUSES = [
  'active',
  'paused',
  'completed',
  'exhausted',
  'workflow_missing',
  'failed',
  'cancelled',
] as const;
/**
 * Only `active` schedules fire. `paused`: its workflow is inactive or its trigger disabled;
 * `completed`: a one-off that fired; `exhausted`: nothing left to fire (a cron with no future
 * occurrence, a one-off missed under catch-up `none`); `workflow_missing`: its workflow was
 * deleted; `failed`: a one-off whose run could not start; `cancelled`: by request.
 * Every status but `active` comes with a `status_reason`.
 */
export type ScheduleStatus = (typeof SCHEDULE_STATUSES)[number];

/** `trigger`: kept in sync with a workflow's `trigger_config`; `api`: created by request. */
export type ScheduleOrigin = 'trigger' | 'api';

/** A cron or one-off schedule of one workflow. */
export interface ScheduleRecord {
  id: string;
  org_id: string;
  workflow_id: string;
  origin: ScheduleOrigin;
  kind: 'cron' | 'once';
  /** The 5- or 6-field cron expression of a `cron` schedule. */
  cron: string | null;
  /** As given: an IANA name, `UTC`, or a fixed offset such as `GMT_plus_5_30`. */
  timezone: string;
  /** The instant of a `once` schedule. */
  run_at: Millis | null;
  /** The next slot to fire; null when nothing is left to fire. */
  next_fire_at: Millis | null;
  catch_up: CatchUpPolicy;
  overlap: OverlapPolicy;
  /** The input of every run it starts. */
  input: unknown;
  status: ScheduleStatus;
  status_reason: string | null;
  created_at: Millis;
  updated_at: Millis;
}

/** One slot that started a run; unique per (schedule, fire time). */
export interface ScheduleFiring {
  schedule_id: string;
  fire_at: Millis;
  run_id: string | null;
  created_at: Millis;
}

/** Catch-up `all` fires at most this many missed slots (the newest), so a long outage cannot flood the queue. */
export const MAX_CATCH_UP = 100;

/** A time zone a schedule reads its cron and local dates in. */
export interface ScheduleTimeZone {
  /** The canonical name stored and shown: an IANA name, or `GMT_plus_5_30` style. */
  name: string;
  /** Minutes east of UTC of a fixed offset; null for an IANA zone, whose offset follows DST. */
  offsetMinutes: number | null;
}

const FIXED_OFFSET = /^GMT_(plus|minus)_(\d{1,2})(?:_(\d{2}))?$/i;
const IANA_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;

/**
 * Reads a time zone: an IANA name (`Europe/Berlin`, `UTC`) or document 002's fixed offsets
 * (`GMT_plus_1`, `GMT_minus_5`, `GMT_plus_5_30`, at most 14 hours).
 * @throws StepwiseError 400 naming `field` for anything else.
 * @example parseTimezone('GMT_plus_5_30') // { name: 'GMT_plus_5_30', offsetMinutes: 330 }
 */
export function parseTimezone(input: unknown, field = 'timezone'): ScheduleTimeZone {
  const invalid = () =>
    validationError(
      field,
      `${field}: '${String(input)}' is not a time zone; use an IANA name such as Europe/Berlin or UTC, ` +
        'or a fixed offset such as GMT_plus_1, GMT_minus_5 or GMT_plus_5_30',
    );
  if (typeof input !== 'string') throw invalid();
  const fixed = FIXED_OFFSET.exec(input);
  if (fixed) {
    const [, sign, hours, minutes = '0'] = fixed;
    const total = Number(hours) * 60 + Number(minutes);
    if (Number(minutes) > 59 || total > 14 * 60) throw invalid();
    const name = `GMT_${sign!.toLowerCase()}_${Number(hours)}${Number(minutes) === 0 ? '' : `_${minutes}`}`;
    return { name, offsetMinutes: name.startsWith('GMT_plus') || total === 0 ? total : -total };
  }
  if (!IANA_NAME.test(input)) throw invalid();
  try {
    const name = new Intl.DateTimeFormat('en-US', { timeZone: input }).resolvedOptions().timeZone;
    return { name, offsetMinutes: null };
  } catch {
    throw invalid();
  }
}

/** The croner option that places a pattern or a local date in `zone`. */
function cronerZone(zone: ScheduleTimeZone): Pick<CronOptions, 'timezone' | 'utcOffset'> {
  return zone.offsetMinutes === null ? { timezone: zone.name } : { utcOffset: zone.offsetMinutes };
}

const LOCAL_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * The instant a date text names. With an offset or `Z` it is that instant; without one it is
 * wall-clock time in `zone`, resolved as croner does: a time skipped by a DST change moves
 * forward by the gap (02:30 on a spring-forward night → 03:30), and a time that occurs twice
 * takes its first occurrence (the one before the clocks go back).
 * @throws StepwiseError 400 naming `field` when the text is not an ISO 8601 date(-time).
 * @example localDateToInstant('2026-07-01T09:00:00', parseTimezone('GMT_plus_1')) // 2026-07-01T08:00:00Z
 */
export function localDateToInstant(text: unknown, zone: ScheduleTimeZone, field = 'scheduledDate'): Millis {
  const invalid = (why: string) => validationError(field, `${field}: ${why}`);
  const parts = typeof text === 'string' ? LOCAL_DATE.exec(text.trim()) : null;
  if (!parts) throw invalid(`'${String(text)}' is not an ISO 8601 date such as 2026-07-01T09:00:00Z`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', offset] = parts;
  const fields = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const [year, month, day, hour, minute, second] = fields;
  const wallClock = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(wallClock);
  if (
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw invalid(`'${text as string}' is not a real date and time`);
  }
  const ms = Number(fraction.slice(0, 3).padEnd(3, '0'));
  if (offset !== undefined) return wallClock + ms - offsetMinutesOf(offset) * 60_000;
  if (zone.offsetMinutes !== null) return wallClock + ms - zone.offsetMinutes * 60_000;
  const local = `${y}-${mo}-${d}T${[h, mi, s].map((part) => part.padStart(2, '0')).join(':')}`;
  return new CronDate(local, zone.name).getTime() + ms;
}

function offsetMinutesOf(offset: string): number {
  if (offset.toUpperCase() === 'Z') return 0;
  const digits = offset.slice(1).replace(':', '');
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
  return offset.startsWith('-') ? -minutes : minutes;
}

/** A checked cron expression in its time zone; the pure next-fire rules work on these. */
export interface CronSpec {
  expression: string;
  zone: ScheduleTimeZone;
}

function cronOf(spec: CronSpec): Cron {
  return new Cron(spec.expression, { paused: true, mode: '5-or-6-parts', ...cronerZone(spec.zone) });
}

/**
 * Checks a 5-field (minute precision) or 6-field (leading seconds) cron expression.
 * @throws StepwiseError 400 naming `field`, with croner's reason.
 * @example parseCron('0 9 * * 1-5', parseTimezone('America/New_York'))
 */
export function parseCron(expression: unknown, zone: ScheduleTimeZone, field = 'cron'): CronSpec {
  if (typeof expression !== 'string' || expression.trim() === '') {
    throw validationError(field, `${field}: a cron expression such as '0 9 * * *' is required`);
  }
  const spec = { expression: expression.trim(), zone };
  try {
    cronOf(spec);
  } catch (error) {
    throw validationError(
      field,
      `${field}: '${expression}' is not a valid 5- or 6-field cron expression (${(error as Error).message})`,
    );
  }
  return spec;
}

/**
 * The first slot strictly after `after`, or null when the expression has no later occurrence.
 * Across DST changes it follows croner: a fixed-time job (`30 2 * * *`) whose time is skipped
 * fires at the first valid time after the gap, and fires once, at the first occurrence, on a
 * time that repeats; interval jobs (`*\/30 * * * *`) skip slots in a gap and fire on both
 * occurrences of a repeated hour.
 */
export function nextFireAfter(spec: CronSpec, after: Millis): Millis | null {
  return cronOf(spec).nextRun(new Date(after))?.getTime() ?? null;
}

/** Which slots a claimed schedule fires now, and the slot it waits for next. */
export interface FiringPlan {
  /** Slots to fire, oldest first. */
  fire: Millis[];
  /** The first slot after `now`; null when there is none (a one-off, an exhausted cron). */
  next_fire_at: Millis | null;
}

/**
 * Plans a claimed schedule's firings at `now`. Slots due within `graceMs` are on time and
 * always fire; older ones were missed and the catch-up policy decides: `latest` fires the
 * newest missed slot when no slot is on time, `none` fires none, `all` fires them all (at
 * most `MAX_CATCH_UP` slots in total, the newest).
 */
export function planFirings(
  schedule: Pick<ScheduleRecord, 'kind' | 'cron' | 'timezone' | 'next_fire_at' | 'catch_up'>,
  now: Millis,
  graceMs: number,
): FiringPlan {
  const start = schedule.next_fire_at;
  const spec = schedule.kind === 'cron' ? parseCron(schedule.cron, parseTimezone(schedule.timezone)) : null;
  const next_fire_at = spec === null ? null : nextFireAfter(spec, now);
  if (start === null || start > now) return { fire: [], next_fire_at: start ?? next_fire_at };
  const due = spec === null ? [start] : dueSlots(spec, start, now);
  const onTime = due.filter((slot) => now - slot <= graceMs);
  const missed = due.filter((slot) => now - slot > graceMs);
  const fire =
    schedule.catch_up === 'all'
      ? due
      : schedule.catch_up === 'latest' && onTime.length === 0
        ? missed.slice(-1)
        : onTime;
  return { fire, next_fire_at };
}

/** The newest `MAX_CATCH_UP` slots in `[start, now]`, oldest first. */
function dueSlots(spec: CronSpec, start: Millis, now: Millis): Millis[] {
  // Walking forward is cheapest for the usual one or two due slots; after a long outage,
  // croner's backward search finds the newest slots without visiting every missed one.
  const cron = cronOf(spec);
  const slots: Millis[] = [];
  let slot = cron.nextRun(new Date(start - 1))?.getTime() ?? null;
  while (slot !== null && slot <= now && slots.length <= MAX_CATCH_UP) {
    slots.push(slot);
    slot = cron.nextRun(new Date(slot))?.getTime() ?? null;
  }
  if (slots.length <= MAX_CATCH_UP) return slots;
  return cron
    .previousRuns(MAX_CATCH_UP, new Date(now + 1))
    .map((date) => date.getTime())
    .filter((time) => time >= start)
    .reverse();
}

/** The key that makes a slot start one run, whichever scheduler gets there. */
export const firingIdempotencyKey = (scheduleId: string, fireAt: Millis): string =>
  `schedule:${scheduleId}:${new Date(fireAt).toISOString()}`;
