import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { runReportStoreContract } from '../report-store.contract.js';
import { applySqliteMigrations } from './sqlite-migrations.js';
import { REPORT_SQL } from './sqlite-report-queries.js';
import { SqliteStore } from './sqlite-store.js';

runReportStoreContract({
  name: 'sqlite (:memory:)',
  createStore: async () => SqliteStore.open({ path: ':memory:' }),
});

describe('SqliteReportQueries', () => {
  const named = { org_id: 'o', workflow_id: 'w', from: 0, to: 1, origin: 0n, bucket: 1n, ranks: '[]' };
  const planOf = (sql: string, params: unknown[]): string => {
    const db = new Database(':memory:');
    applySqliteMigrations(db);
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params);
    db.close();
    return plan.map((row) => (row as { detail: string }).detail).join('\n');
  };

  it('reads only the workflow’s runs, through the (org_id, workflow_id, created_at) index', () => {
    const statements = { ...REPORT_SQL.workflow, failures: REPORT_SQL.failures };
    for (const [name, sql] of Object.entries(statements)) {
      const plan = planOf(sql, name === 'failures' ? ['o', 'w', 10] : [named]);
      expect(plan, name).toMatch(
        /runs USING INDEX runs_org_workflow_created_idx \(org_id=\? AND workflow_id=\?/,
      );
      expect(plan, name).not.toMatch(/SCAN runs(?! USING)/);
    }
  });

  it('reads only the org’s runs of the range, through the (org_id, created_at) index', () => {
    for (const [name, sql] of Object.entries(REPORT_SQL.org)) {
      const plan = planOf(sql, [named]);
      expect(plan, name).toMatch(
        /runs USING INDEX runs_org_created_idx \(org_id=\? AND created_at>\? AND created_at<\?\)/,
      );
      expect(plan, name).not.toMatch(/SCAN runs(?! USING)/);
    }
  });
});
