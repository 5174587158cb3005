import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runFairClaimContract } from '../fair-claim.contract.js';
import { runRunControlContract } from '../run-control.contract.js';
import { runRunRacesContract } from '../run-races.contract.js';
import { runRunLifecycleContract } from '../run-lifecycle.contract.js';
import { makeOrg, makeRun, makeWorkflow } from '../store-fixtures.js';
import { runStoreContract } from '../store.contract.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { CLAIM_QUEUE_SQL } from './sqlite-claim-queries.js';
import { SqliteStore } from './sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'stepwise-sqlite-'));
let files = 0;
const tempPath = (): string => join(root, `t${++files}`, 'stepwise.db');

afterAll(() => rmSync(root, { recursive: true, force: true }));

for (const options of [
  { name: 'sqlite (file)', createStore: async () => SqliteStore.open({ path: tempPath() }) },
  { name: 'sqlite (:memory:)', createStore: async () => SqliteStore.open({ path: ':memory:' }) },
]) {
  runStoreContract(options);
  runRunLifecycleContract(options);
  runRunControlContract(options);
  runRunRacesContract(options);
  runFairClaimContract(options);
}

describe('SqliteStore on a file', () => {
  const opened: SqliteStore[] = [];
  const open = async (path: string, synchronous?: 'FULL' | 'NORMAL'): Promise<SqliteStore> => {
    const store = SqliteStore.open({ path, synchronous });
    opened.push(store);
    await store.migrate();
    return store;
  };

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  it('creates the missing directory and runs in WAL mode with synchronous FULL by default', async () => {
    const store = await open(join(root, 'nested', 'deeper', 'stepwise.db'));
    expect(store.backend).toBe('sqlite');
    expect(store.pragmas()).toEqual({
      journal_mode: 'wal',
      synchronous: 2,
      foreign_keys: true,
      busy_timeout: 5000,
    });
  });

  it('honours synchronous NORMAL when asked', async () => {
    expect((await open(tempPath(), 'NORMAL')).pragmas().synchronous).toBe(1);
  });

  it('records every migration once, however often migrate() runs', async () => {
    const path = tempPath();
    const store = await open(path);
    await store.migrate();
    const db = new Database(path, { readonly: true });
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    db.close();
    expect(versions).toEqual(SQLITE_MIGRATIONS.map((_, i) => i + 1));
  });

  it('claims through the partial per-org claim index, seeking each queue, without sorting', async () => {
    const path = tempPath();
    await open(path);
    const db = new Database(path, { readonly: true });
    const planOf = (sql: string, ...params: unknown[]) =>
      db
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((row) => (row as { detail: string }).detail)
        .join('\n');
    const plans = {
      first: planOf(CLAIM_QUEUE_SQL.first),
      after: planOf(CLAIM_QUEUE_SQL.after, 'org_a', 0),
      due: planOf(CLAIM_QUEUE_SQL.due, 'org_a', 0, 0, 10),
    };
    db.close();
    for (const plan of Object.values(plans)) {
      expect(plan).toMatch(/USING (COVERING )?INDEX runs_org_claim_idx/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    }
    // A seek past the previous queue and a range of one queue, not a scan of the index.
    expect(plans.after).toMatch(
      /SEARCH runs USING (COVERING )?INDEX runs_org_claim_idx \(\(org_id,priority\)>\(\?,\?\)\)/,
    );
    expect(plans.due).toMatch(/org_id=\? AND priority=\? AND available_at>\? AND available_at<\?/);
  });

  it('keeps its data across close and reopen', async () => {
    const path = tempPath();
    const first = await open(path);
    const org = makeOrg();
    const workflow = makeWorkflow(org.id);
    const run = makeRun(org.id, workflow.id);
    await first.createOrg(org);
    await first.insertWorkflow(workflow);
    await first.insertRun({
      run,
      event: { run_id: run.id, type: 'run.created', data: {}, at: run.created_at },
    });
    await first.close();

    const second = await open(path);
    expect(await second.getOrg(org.id)).toEqual(org);
    expect(await second.getWorkflow(org.id, workflow.id)).toEqual(workflow);
    expect(await second.getRun(org.id, run.id)).toEqual(run);
    expect(await second.listRunEvents(run.id)).toHaveLength(1);
  });
});
