/**
 * Schedules and their firings (cron and one-off triggers). Filled in by the scheduler;
 * every backend implements it and the contract suite holds them to it.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ScheduleStore {}
