import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from '../../../test/support/postgres.js';
import type { Millis, RunRecord } from '../../domain/model.js';
import type { RunCheckpoint } from '../store.js';
import { runFairClaimContract } from '../fair-claim.contract.js';
import { runRunControlContract } from '../run-control.contract.js';
import { runRunRacesContract } from '../run-races.contract.js';
import { runRunLifecycleContract } from '../run-lifecycle.contract.js';
import { makeEvent, makeOrg, makeRun, makeStep, makeWorkflow, progressOf } from '../store-fixtures.js';
import { runStoreContract } from '../store.contract.js';
import { CLAIM_RUNS_SQL } from './postgres-lease-queries.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { PostgresStore } from './postgres-store.js';

const T0: Millis = 1_700_000_000_000;
const LEASE_MS = 30_000;

const title = testDatabaseUrl
  ? 'PostgresStore'
  : 'PostgresStore (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  // One clone per file, emptied before each test: cloning costs ~300 ms, emptying ~10 ms.
  let shared: TestDatabase | null = null;
  const empty: TestDatabase[] = [];
  const stores: PostgresStore[] = [];

  const freshDatabase = async (): Promise<string> => {
    shared ??= await createTestDatabase();
    await shared.reset();
    return shared.url;
  };

  // Runs after the contract's own afterEach has closed its store.
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  afterAll(async () => {
    await Promise.all([shared, ...empty].map((database) => database?.drop()));
  });

  /** Small pools: several test files (and other engineers' suites) share one server's 100 connections. */
  const connect = async (url: string, poolSize = 3): Promise<PostgresStore> => {
    const store = await PostgresStore.connect({ connectionString: url, poolSize, timeSource: 'caller' });
    stores.push(store);
    return store;
  };

  const contract = {
    name: 'postgres',
    createStore: async () =>
      PostgresStore.connect({ connectionString: await freshDatabase(), poolSize: 3, timeSource: 'caller' }),
  };
  runStoreContract(contract);
  runRunLifecycleContract(contract);
  runRunControlContract(contract);
  runRunRacesContract(contract);
  runFairClaimContract(contract);

  describe('on PostgreSQL', () => {
    const sql = async <T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<T>(text, values)).rows;
      } finally {
        await client.end();
      }
    };

    /** Inserts `count` runs in one statement; `available_at` grows by 1 ms per run from `from`. */
    const seedRuns = (url: string, count: number, status: string, from: Millis, prefix = 'run') =>
      sql(
        url,
        `INSERT INTO runs (id, org_id, workflow_id, workflow_version, status, input, step_index, current_step,
           total_steps, attempt, available_at, "trigger", created_at, updated_at)
         SELECT $1 || '_' || g, 'org_seed', 'wf_seed', 1, $2, '{}', 0, 0, 1, 1, $3::bigint + g, '{"type":"api"}', $4, $4
         FROM generate_series(1, $5::int) AS g`,
        [prefix, status, from, T0, count],
      );

    const setup = async () => {
      const url = await freshDatabase();
      const store = await connect(url);
      const org = makeOrg();
      await store.createOrg(org);
      const workflow = makeWorkflow(org.id);
      await store.insertWorkflow(workflow);
      const addRun = async (overrides: Partial<RunRecord> = {}) => {
        const run = makeRun(org.id, workflow.id, overrides);
        return (await store.insertRun({ run, event: makeEvent(run.id, 'run.created') })).run;
      };
      return { url, store, org, workflow, addRun };
    };

    const signalsOf = async (store: PostgresStore) => {
      const seen = { runsAvailable: 0, cancelRequested: [] as string[] };
      await store.listen({
        runsAvailable: () => (seen.runsAvailable += 1),
        cancelRequested: (runId) => seen.cancelRequested.push(runId),
      });
      return seen;
    };

    const eventually = async (condition: () => boolean, what: string, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    it('gives each of 1,000 runs to exactly one of two pools claiming concurrently', async () => {
      const { url } = await setup();
      await seedRuns(url, 1000, 'pending', T0);
      const pools = [await connect(url, 4), await connect(url, 4)];
      const claimedBy = new Map<string, string[]>();
      const claimLoop = async (store: PostgresStore, owner: string) => {
        for (;;) {
          const batch = await store.claimRunnableRuns(owner, 10, LEASE_MS, T0 + 10_000);
          if (batch.length === 0) return;
          for (const run of batch) claimedBy.set(run.id, [...(claimedBy.get(run.id) ?? []), owner]);
        }
      };
      await Promise.all(
        pools.flatMap((store, p) => [0, 1, 2, 3].map((loop) => claimLoop(store, `pool${p}-${loop}`))),
      );

      expect(claimedBy.size).toBe(1000);
      expect([...claimedBy.values()].filter((owners) => owners.length > 1)).toEqual([]);
      const owners = await sql<{ id: string; lease_owner: string }>(url, 'SELECT id, lease_owner FROM runs');
      for (const row of owners) expect(claimedBy.get(row.id)).toEqual([row.lease_owner]);
      expect(new Set(owners.map((row) => row.lease_owner.split('-')[0]))).toEqual(
        new Set(['pool0', 'pool1']),
      );
    });

    it('commits a batch of 500 checkpoints in one transaction, refusing only the lost lease', async () => {
      const { url, store } = await setup();
      await seedRuns(url, 501, 'pending', T0);
      const claimed = await store.claimRunnableRuns('w1', 501, LEASE_MS, T0 + 1000);
      expect(claimed).toHaveLength(501);
      await sql(url, 'UPDATE runs SET lease_epoch = lease_epoch + 1 WHERE id = $1', [claimed[250]!.id]);

      const batch: RunCheckpoint[] = claimed.map((run) => ({
        run_id: run.id,
        org_id: run.org_id,
        lease_epoch: run.lease_epoch,
        progress: progressOf(run, {
          step_index: 1,
          current_step: 1,
          started_at: T0 + 1000,
          updated_at: T0 + 1001,
        }),
        steps: [makeStep(run.id)],
        events: [
          makeEvent(run.id, 'step.started', T0 + 1000),
          makeEvent(run.id, 'step.completed', T0 + 1001),
        ],
      }));
      const results = await store.checkpointRuns(batch);

      expect(results.filter((ok) => !ok)).toHaveLength(1);
      expect(results[250]).toBe(false);
      const writers = await sql<{ xmin: string }>(
        url,
        `SELECT DISTINCT xmin::text FROM run_steps UNION SELECT DISTINCT xmin::text FROM run_events WHERE type LIKE 'step.%'
         UNION SELECT DISTINCT xmin::text FROM runs WHERE step_index = 1`,
      );
      expect(writers).toHaveLength(1);
      const [counts] = await sql<{ steps: number; events: number; moved: number }>(
        url,
        `SELECT (SELECT count(*)::int FROM run_steps) AS steps, (SELECT count(*)::int FROM run_events) AS events,
           (SELECT count(*)::int FROM runs WHERE step_index = 1) AS moved`,
      );
      expect(counts).toEqual({ steps: 500, events: 1000, moved: 500 });
      expect(await store.listRunSteps(claimed[250]!.id)).toEqual([]);
    });

    it('applies two checkpoints of one run in a batch in order, on the lease the first leaves', async () => {
      const { store, addRun } = await setup();
      const [run] = await store.claimRunnableRuns('w1', 1, LEASE_MS, (await addRun()).available_at!);
      const first = progressOf(run!, { step_index: 1, updated_at: T0 + 1 });
      const finished = progressOf(run!, {
        status: 'completed',
        step_index: 2,
        lease_owner: null,
        updated_at: T0 + 2,
      });
      const lease = { run_id: run!.id, org_id: run!.org_id, lease_epoch: run!.lease_epoch };
      const results = await store.checkpointRuns([
        { ...lease, progress: first, steps: [makeStep(run!.id)], events: [] },
        { ...lease, progress: finished, steps: [makeStep(run!.id, { step_index: 1 })], events: [] },
        { ...lease, progress: first, steps: [], events: [] },
      ]);
      expect(results).toEqual([true, true, false]);
      expect(await store.getRun(null, run!.id)).toMatchObject({ status: 'completed', step_index: 2 });
      expect(await store.listRunSteps(run!.id)).toHaveLength(2);
    });

    it('stores NUL characters, which JSONB refuses, as U+FFFD without failing the batch', async () => {
      const { store, addRun } = await setup();
      const [run] = await store.claimRunnableRuns('w1', 1, LEASE_MS, (await addRun()).available_at!);
      const output = { text: 'a\u0000b', escaped: '\\u0000 stays' };
      const step = makeStep(run!.id, { output });
      expect(
        await store.checkpointRuns([
          {
            run_id: run!.id,
            org_id: run!.org_id,
            lease_epoch: run!.lease_epoch,
            progress: progressOf(run!),
            steps: [step],
            events: [],
          },
        ]),
      ).toEqual([true]);
      expect((await store.listRunSteps(run!.id))[0]?.output).toEqual({
        text: 'a\ufffdb',
        escaped: '\\u0000 stays',
      });
    });

    describe("on the database's clock", () => {
      const HOUR = 3_600_000;
      /** Two stores on one database that go by its clock, as processes on two machines would. */
      const processes = async () => {
        const { url, org, addRun } = await setup();
        const store = await PostgresStore.connect({ connectionString: url, poolSize: 2 });
        stores.push(store);
        return { store, org, addRun };
      };

      it('does not let a process whose clock is an hour ahead take a live lease', async () => {
        const { store, addRun } = await processes();
        const run = await addRun({ available_at: Date.now() - 1000 });
        const [held] = await store.claimRunnableRuns('honest', 10, LEASE_MS, Date.now());
        expect(held?.id).toBe(run.id);
        expect(await store.claimRunnableRuns('ahead', 10, LEASE_MS, Date.now() + HOUR)).toEqual([]);
        expect(await store.renewLeases('honest', [held!], LEASE_MS, Date.now() - HOUR)).toHaveLength(1);
        const after = await store.getRun(null, run.id);
        // Renewed on the database's clock, not an hour in the past.
        expect(after!.lease_expires_at).toBeGreaterThan(Date.now() + LEASE_MS / 2);
      });

      it("only asks for a cancel of a run under a live lease, whatever the cancelling process's clock says", async () => {
        const { store, org, addRun } = await processes();
        await addRun({ available_at: Date.now() - 1000 });
        const [held] = await store.claimRunnableRuns('worker', 10, LEASE_MS, Date.now());
        const events = {
          cancelled: makeEvent(held!.id, 'run.cancelled'),
          requested: makeEvent(held!.id, 'run.cancel_requested'),
        };
        expect(await store.cancelRun(org.id, held!.id, Date.now() + HOUR, events)).toMatchObject({
          immediate: false,
          run: { status: 'running', cancel_requested: true },
        });
      });

      it("reads the database server's clock", async () => {
        const { store } = await processes();
        expect(Math.abs((await store.readDatabaseClock()) - Date.now())).toBeLessThan(5000);
      });
    });

    it('signals another store instance on the same database through LISTEN/NOTIFY', async () => {
      const { url, store, addRun } = await setup();
      const other = await connect(url);
      const seen = await signalsOf(other);

      await addRun();
      await eventually(() => seen.runsAvailable > 0, 'runsAvailable after insertRun');

      const [run] = await store.claimRunnableRuns('w1', 1, LEASE_MS, T0);
      const cancel = {
        cancelled: makeEvent(run!.id, 'run.cancelled'),
        requested: makeEvent(run!.id, 'run.cancel_requested'),
      };
      expect(await store.cancelRun(run!.org_id, run!.id, T0 + 1, cancel)).toMatchObject({ immediate: false });
      await eventually(() => seen.cancelRequested.includes(run!.id), 'cancelRequested after cancelRun');

      const before = seen.runsAvailable;
      await store.releaseLeases([run!], T0 + 2);
      await eventually(() => seen.runsAvailable > before, 'runsAvailable after releaseLeases');
    });

    it('reconnects a dropped listener connection and says runs may be available', async () => {
      const { url, addRun } = await setup();
      const other = await connect(url);
      const seen = await signalsOf(other);
      await sql(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
      );
      await eventually(() => seen.runsAvailable > 0, 'runsAvailable after the reconnect');

      const before = seen.runsAvailable;
      await addRun();
      await eventually(() => seen.runsAvailable > before, 'runsAvailable on the new connection');
    });

    // How fast that is with the finished runs stored is the benchmark's business (npm run bench).
    it("claims through the per-org claim index, sorting only the served queues' rows, past a 20,000-run backlog", async () => {
      const { url, store } = await setup();
      await seedRuns(url, 100_000, 'completed', T0 - 1_000_000, 'done');
      await seedRuns(url, 20_000, 'pending', T0);
      await sql(
        url,
        `INSERT INTO runs (id, org_id, workflow_id, workflow_version, status, input, step_index, current_step,
           total_steps, attempt, available_at, "trigger", created_at, updated_at)
         VALUES ('run_lone', 'org_other', 'wf_other', 1, 'pending', '{}', 0, 0, 1, 1, $1, '{"type":"api"}', $1, $1)`,
        [T0 + 30_000],
      );
      await sql(url, 'ANALYZE runs');

      const client = new pg.Client({ connectionString: url });
      await client.connect();
      type PlanNode = {
        'Node Type': string;
        'Index Name'?: string;
        'Actual Rows': number;
        Plans?: PlanNode[];
      };
      let root: PlanNode;
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${CLAIM_RUNS_SQL}`,
          ['w1', 10, T0 + 60_000, LEASE_MS],
        );
        root = rows[0]!['QUERY PLAN'][0].Plan;
      } finally {
        await client.query('ROLLBACK');
        await client.end();
      }
      const nodes: PlanNode[] = [];
      const walk = (node: PlanNode) => {
        nodes.push(node);
        node.Plans?.forEach(walk);
      };
      walk(root);

      expect(nodes.some((node) => node['Index Name'] === 'runs_org_claim_idx')).toBe(true);
      expect(nodes.filter((node) => node['Node Type'] === 'Seq Scan')).toEqual([]);
      // Sorts see the rows of the served queues (at most the limit each), never the backlog.
      const sorted = nodes.filter((node) => node['Node Type'] === 'Sort').map((node) => node['Actual Rows']);
      expect(sorted.every((rows) => rows <= 20)).toBe(true);

      // Each of the two orgs' share is 5: the lone run and 5 of the backlog; the next claim
      // (the worker asks again at once after a claim that got anything) takes the rest.
      const claimed = await store.claimRunnableRuns('w1', 10, LEASE_MS, T0 + 60_000);
      expect(claimed.map((run) => run.status)).toEqual(Array(6).fill('running'));
      expect(claimed.map((run) => run.id)).toContain('run_lone');
      expect(await store.claimRunnableRuns('w1', 10, LEASE_MS, T0 + 60_000)).toHaveLength(10);
    });

    it('lets three stores migrate one empty database at once', async () => {
      const database = await createTestDatabase({ migrated: false });
      empty.push(database);
      const url = database.url;
      const racing = [await connect(url, 1), await connect(url, 1), await connect(url, 1)];
      await Promise.all(racing.map((store) => store.migrate()));
      const versions = await sql<{ version: number }>(
        url,
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(versions.map((row) => row.version)).toEqual(
        POSTGRES_MIGRATIONS.map((migration) => migration.version),
      );
      await racing[0]!.migrate();
      expect(await racing[1]!.getOrg('org_missing')).toBeNull();
    });

    it('returns one run to concurrent inserts sharing an idempotency key', async () => {
      const { url, org, workflow } = await setup();
      const racers = [await connect(url, 2), await connect(url, 2)];
      for (let i = 0; i < 20; i += 1) {
        const key = `order-${i}`;
        const results = await Promise.all(
          racers.flatMap((store) =>
            [0, 1].map(() => {
              const run = makeRun(org.id, workflow.id, { idempotency_key: key });
              return store.insertRun({ run, event: makeEvent(run.id, 'run.created') });
            }),
          ),
        );
        expect(results.filter((result) => result.created)).toHaveLength(1);
        expect(new Set(results.map((result) => result.run.id)).size).toBe(1);
      }
    });

    it('parses BIGINT to numbers for its own pool only', async () => {
      const { url, store, addRun } = await setup();
      const run = await addRun({ available_at: T0 + 5 });
      expect((await store.getRun(null, run.id))?.available_at).toBe(T0 + 5);
      const [row] = await sql<{ n: unknown }>(url, 'SELECT 1::bigint AS n');
      expect(row?.n).toBe('1');
    });
  });
});
