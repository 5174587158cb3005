import type { SqliteConnection } from './sqlite-connection.js';
import type { ScheduleStore } from '../schedule-store.js';

/** The ScheduleStore of the Sqlite backend. */
export class SqliteScheduleQueries implements ScheduleStore {
  constructor(readonly connection: SqliteConnection) {}
}
