import type pg from 'pg';
import type { ScheduleStore } from '../schedule-store.js';

/** The ScheduleStore of the Postgres backend. */
export class PostgresScheduleQueries implements ScheduleStore {
  constructor(readonly pool: pg.Pool) {}
}
