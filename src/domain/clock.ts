/** Time as the rules see it; injected so tests can move it. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** An instant as the APIs write it: ISO 8601 in UTC. */
export const iso = (at: number): string => new Date(at).toISOString();

/** {@link iso}, keeping null (a time not reached yet). */
export const isoOrNull = (at: number | null): string | null => (at === null ? null : iso(at));
