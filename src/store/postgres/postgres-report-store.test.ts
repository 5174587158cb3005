import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from '../../../test/support/postgres.js';
import { runReportStoreContract } from '../report-store.contract.js';
import { REPORT_SQL } from './postgres-report-queries.js';
import { PostgresStore } from './postgres-store.js';

const title = testDatabaseUrl
  ? 'PostgresReportQueries'
  : 'PostgresReportQueries (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  // One clone per file, emptied before each test: cloning costs ~300 ms, emptying ~10 ms.
  let database: TestDatabase | null = null;
  const emptyDatabase = async (): Promise<TestDatabase> => {
    database ??= await createTestDatabase();
    await database.reset();
    return database;
  };

  afterAll(async () => {
    await database?.drop();
  });

  runReportStoreContract({
    name: 'postgres',
    createStore: async () =>
      // A small pool: several test files share one server's connections.
      PostgresStore.connect({
        connectionString: (await emptyDatabase()).url,
        poolSize: 3,
        timeSource: 'caller',
      }),
  });

  it('reads a day of one org’s runs through the index of its scope, among 50,000 runs of 50 orgs', async () => {
    const client = new pg.Client({ connectionString: (await emptyDatabase()).url });
    await client.connect();
    try {
      // A run a minute over about 35 days, dealt round 50 orgs and 500 workflows.
      const base = Date.UTC(2024, 0, 1);
      await client.query(
        `INSERT INTO runs (id, org_id, workflow_id, workflow_version, status, input, step_index, current_step,
           total_steps, attempt, "trigger", credits_reserved, credits_consumed, created_at, updated_at)
         SELECT 'run_' || g, 'org_' || (g % 50), 'wf_' || (g % 500), 1, 'completed', '{}', 0, 0, 1, 1,
           '{"type":"api"}', 0, 0, $1::bigint + g::bigint * 60000, $1::bigint + g::bigint * 60000
         FROM generate_series(1, 50000) AS g`,
        [base],
      );
      await client.query('ANALYZE runs');
      const day = [base + 10 * 86_400_000, base + 11 * 86_400_000];
      const bucket = [0, 3_600_000];
      const planOf = async (sql: string, params: unknown[]): Promise<string> => {
        const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
        return JSON.stringify((rows[0] as { 'QUERY PLAN': unknown })['QUERY PLAN']);
      };
      const scopes = [
        { index: 'runs_org_created_idx', sql: REPORT_SQL.org, params: ['org_7', ...day] },
        {
          index: 'runs_org_workflow_created_idx',
          sql: REPORT_SQL.workflow,
          params: ['org_7', 'wf_7', ...day],
        },
      ];
      for (const { index, sql, params } of scopes) {
        for (const [name, statement] of Object.entries(sql)) {
          const plan = await planOf(statement, name === 'timeline' ? [...params, ...bucket] : params);
          const indexes = [...plan.matchAll(/"Index Name":"(\w+)"/g)].map((match) => match[1]);
          expect(indexes, `${index} ${name}: ${plan}`).not.toHaveLength(0);
          expect(new Set(indexes), `${index} ${name}`).toEqual(new Set([index]));
          expect(plan, `${index} ${name}`).not.toContain('Seq Scan');
        }
      }
    } finally {
      await client.end();
    }
  });
});
