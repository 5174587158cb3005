import type { SqliteConnection } from './sqlite-connection.js';
import type { ReportStore } from '../report-store.js';

/** The ReportStore of the Sqlite backend. */
export class SqliteReportQueries implements ReportStore {
  constructor(readonly connection: SqliteConnection) {}
}
