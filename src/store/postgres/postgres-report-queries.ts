import type pg from 'pg';
import type { ReportStore } from '../report-store.js';

/** The ReportStore of the Postgres backend. */
export class PostgresReportQueries implements ReportStore {
  constructor(readonly pool: pg.Pool) {}
}
