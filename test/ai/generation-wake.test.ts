import { afterEach, describe, expect, it } from 'vitest';
import type { Stepwise } from '../../src/app/stepwise.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { startHarness, waitFor, type Harness } from '../support/stepwise-harness.js';

/**
 * Far longer than the test waits: a generation finished in time was picked up because its
 * request woke the runner, never by a poll.
 */
const LONG_POLL_MS = 60_000;
/** How long after the request the generated steps may arrive. */
const PROMPT_MS = 2000;

const harnesses: Harness[] = [];
let database: TestDatabase | null = null;
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
  await database?.drop();
  database = null;
});

async function harness(options: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const started = await startHarness({ pollMs: LONG_POLL_MS, ...options });
  harnesses.push(started);
  return started;
}

/** Lets a runner's first round find nothing and go to sleep for the long poll. */
const runnerAsleep = () => new Promise((resolve) => setTimeout(resolve, 200));

async function generatedPromptly(stepwise: Stepwise, orgId: string, workflowId: string): Promise<void> {
  await waitFor(
    async () => (await stepwise.workflows.get(orgId, workflowId)).status === 'active',
    PROMPT_MS,
    `workflow ${workflowId} to be generated`,
  );
}

describe('a generation request wakes the generation runners', () => {
  it('in its own process (SQLite)', async () => {
    const h = await harness({});
    await runnerAsleep();
    const workflow = await h.stepwise.generations.create(h.orgId, {
      title: 'Daily Email Summary',
      description: 'Summarize important emails every morning',
    });
    expect(workflow.status).toBe('generating');
    await generatedPromptly(h.stepwise, h.orgId, workflow.id);
  });

  // Skipped unless STEPWISE_TEST_DATABASE_URL names a PostgreSQL that may create databases.
  it.skipIf(!testDatabaseUrl)(
    'in every process on one PostgreSQL: one without a worker asks, another generates at once',
    async () => {
      database = await createTestDatabase();
      const asking = await harness({ databaseUrl: database.url, worker: false });
      const generating = await harness({ databaseUrl: database.url });
      await runnerAsleep();

      const created = await asking.stepwise.generations.create(asking.orgId, {
        title: 'Daily Email Summary',
        description: 'Summarize important emails every morning',
      });
      await generatedPromptly(asking.stepwise, asking.orgId, created.id);

      await runnerAsleep();
      const regenerating = await asking.stepwise.generations.regenerate(asking.orgId, created.id, {
        reason: 'shorter',
      });
      expect(regenerating.status).toBe('generating');
      await generatedPromptly(asking.stepwise, asking.orgId, created.id);
      expect((await generating.stepwise.workflows.get(asking.orgId, created.id)).version).toBe(3);
    },
  );
});
