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
  const plans = (): Record<string, string> => {
    const db = new Database(':memory:');
    applySqliteMigrations(db);
    const named = { org_id: 'o', workflow_id: 'w', from: 0, to: 1, origin: 0n, bucket: 1n, ranks: '[]' };
    const result = Object.fromEntries(
      Object.entries(REPORT_SQL).map(([name, sql]) => {
        const params = name === 'failures' ? ['o', 'w', 10] : [named];
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params);
        return [name, plan.map((row) => (row as { detail: string }).detail).join('\n')];
      }),
    );
    db.close();
    return result;
  };

  it('reads only the workflow’s runs, through the (org_id, workflow_id, created_at) index', () => {
    for (const [name, plan] of Object.entries(plans())) {
      expect(plan, name).toMatch(
        /runs USING INDEX runs_org_workflow_created_idx \(org_id=\? AND workflow_id=\?/,
      );
      expect(plan, name).not.toMatch(/SCAN runs(?! USING)/);
    }
  });
});
