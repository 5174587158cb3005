import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from '../../test/support/postgres.js';
import type { RunEventType, RunRecord } from '../domain/model.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import {
  checkpoint,
  LEASE_MS,
  makeEvent,
  makeOrg,
  makeRun,
  makeStep,
  makeWorkflow,
  progressOf,
  T0,
} from '../store/store-fixtures.js';
import type { Store } from '../store/store.js';
import { CheckpointQueue, CheckpointRefused } from './checkpoint-queue.js';

let database: TestDatabase | null = null;
afterAll(async () => {
  await database?.drop();
});

const backends: { name: string; enabled: boolean; open: () => Promise<Store> }[] = [
  { name: 'sqlite', enabled: true, open: async () => SqliteStore.open({ path: ':memory:' }) },
  {
    name: 'postgres',
    enabled: Boolean(testDatabaseUrl),
    open: async () => {
      database ??= await createTestDatabase();
      await database.reset();
      return PostgresStore.connect({ connectionString: database.url, poolSize: 2 });
    },
  },
];

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`CheckpointQueue on ${backend.name}`, () => {
    let store: Store;
    let runs: RunRecord[];

    beforeEach(async () => {
      store = await backend.open();
      await store.migrate();
      const org = makeOrg();
      await store.createOrg(org);
      const workflow = makeWorkflow(org.id);
      await store.insertWorkflow(workflow);
      for (let i = 0; i < 3; i += 1) {
        const run = makeRun(org.id, workflow.id, { available_at: T0 + i });
        await store.insertRun({ run, event: makeEvent(run.id, 'run.created') });
      }
      runs = await store.claimRunnableRuns('w1', 3, LEASE_MS, T0 + 10);
      expect(runs).toHaveLength(3);
    });

    afterEach(async () => {
      await store.close();
    });

    it('retries a failed batch run by run, so only the checkpoint the database refuses rejects', async () => {
      const commits = vi.spyOn(store, 'checkpointRuns');
      const queue = new CheckpointQueue(store, { maxBatch: 10, parallelCommits: 1 });
      const advance = (run: RunRecord) =>
        checkpoint(run, {
          progress: progressOf(run, { step_index: 1, updated_at: T0 + 20 }),
          steps: [makeStep(run.id)],
        });
      const [first, refused, last] = runs as [RunRecord, RunRecord, RunRecord];
      // Every event needs a type (NOT NULL on both backends): a real refusal, not a mock.
      const untyped = makeEvent(refused.id, null as unknown as RunEventType);
      const submitted = [
        queue.submit(advance(first)),
        queue.submit({ ...advance(refused), events: [untyped] }),
        queue.submit(advance(last)),
      ];
      const settled = await Promise.allSettled(submitted);

      expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(settled[0]).toEqual({ status: 'fulfilled', value: true });
      const refusal = (settled[1] as PromiseRejectedResult).reason;
      expect(refusal).toBeInstanceOf(CheckpointRefused);
      expect(refusal).toMatchObject({ runId: refused.id, message: expect.stringMatching(/null/i) });
      expect(commits.mock.calls.map(([batch]) => batch.length)).toEqual([3, 1, 1, 1]);
      for (const run of [first, last]) {
        expect((await store.getRun(null, run.id))?.step_index).toBe(1);
        expect(await store.listRunSteps(run.id)).toHaveLength(1);
      }
      expect((await store.getRun(null, refused.id))?.step_index).toBe(0);
      expect(await store.listRunSteps(refused.id)).toEqual([]);
    });
  });
}
