import { describe, expect, it } from 'vitest';
import { formatDuration, formatInZone, formatPercent, isValidTimeZone, localInputToIso } from './format';

describe('formatInZone', () => {
  it("shows one instant as the wall clock of the schedule's zone and of the viewer's", () => {
    const at = '2026-03-09T13:00:00Z';
    expect(formatInZone(at, 'America/New_York')).toBe('2026-03-09 09:00 EDT');
    expect(formatInZone(at, 'Europe/Paris')).toBe('2026-03-09 14:00 GMT+1');
    expect(formatInZone(at, 'UTC')).toBe('2026-03-09 13:00 UTC');
    expect(formatInZone(at, 'Asia/Kolkata')).toBe('2026-03-09 18:30 GMT+5:30');
  });

  it('follows daylight saving time and keeps seconds when there are any', () => {
    expect(formatInZone('2026-03-07T14:00:00Z', 'America/New_York')).toBe('2026-03-07 09:00 EST');
    expect(formatInZone(Date.UTC(2026, 6, 1, 8, 0, 5), 'Europe/London')).toBe('2026-07-01 09:00:05 GMT+1');
  });

  it('falls back to UTC for a zone the browser does not know, and a dash for no date', () => {
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(isValidTimeZone('Europe/Paris')).toBe(true);
    expect(formatInZone('2026-03-09T13:00:00Z', 'Mars/Olympus')).toBe('2026-03-09 13:00 UTC');
    expect(formatInZone('not a date', 'UTC')).toBe('—');
  });
});

describe('formatDuration and formatPercent', () => {
  it('writes durations for people', () => {
    expect(formatDuration(12)).toBe('12 ms');
    expect(formatDuration(0)).toBe('0 ms');
    expect(formatDuration(1530)).toBe('1.53 s');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatDuration(3_780_000)).toBe('1 h 3 min');
    expect(formatDuration(null)).toBe('—');
  });

  it('writes ratios as percentages', () => {
    expect(formatPercent(0.975)).toBe('97.5%');
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(null)).toBe('—');
  });

  it('reads a datetime-local value as an instant', () => {
    expect(localInputToIso('')).toBeUndefined();
    expect(localInputToIso('garbage')).toBeUndefined();
    expect(localInputToIso('2026-01-31T09:00')).toMatch(/^2026-01-31T\d{2}:00:00\.000Z$/);
  });
});
