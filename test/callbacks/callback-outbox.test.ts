import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFinalStatus } from '../../src/domain/run-state.js';
import type { Stepwise } from '../../src/app/stepwise.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { startHarness, waitFor, type Harness } from '../support/stepwise-harness.js';

const RUNS = 40;

let server: HttpRecorder;
const harnesses: Harness[] = [];

beforeAll(async () => {
  server = await startHttpRecorder();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
  server.reset();
});

async function harness(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const started = await startHarness(options);
  harnesses.push(started);
  return started;
}

/** A two-step workflow (so runs commit more than their end) calling back `path` on the recorder. */
async function callbackWorkflow(stepwise: Stepwise, orgId: string, path: string): Promise<string> {
  const workflow = await stepwise.workflows.create(orgId, {
    title: `wf ${Math.random()}`,
    callback_url: `${server.url}${path}`,
    steps: [
      { id: 'one', tool: 'transform', params: { expression: '1', data: {} } },
      { id: 'two', tool: 'transform', params: { expression: '2', data: {} } },
    ],
  });
  return workflow.id;
}

/**
 * Reads every run while the workers finish them: whenever a run reads as final, its
 * pending delivery must already be there, because both were written in one commit.
 */
async function expectEveryFinishedRunToHaveItsDelivery(stepwise: Stepwise, orgId: string, runIds: string[]) {
  const open = new Set(runIds);
  const deadline = Date.now() + 20_000;
  while (open.size > 0) {
    if (Date.now() > deadline) throw new Error(`${open.size} runs did not finish`);
    for (const id of [...open]) {
      const run = await stepwise.store.getRun(orgId, id);
      if (!run || !isFinalStatus(run.status)) continue;
      const deliveries = await stepwise.store.deliveries.listRunDeliveries(orgId, id);
      expect(deliveries, `deliveries of ${id}, read right after it read ${run.status}`).toHaveLength(1);
      open.delete(id);
    }
    // The store answers SQLite reads without yielding: let the worker's timers run.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('the callback outbox', () => {
  it('commits a run’s end and its pending delivery together (SQLite)', async () => {
    const h = await harness();
    const workflowId = await callbackWorkflow(h.stepwise, h.orgId, '/hook');
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) ids.push((await h.stepwise.runs.start(h.orgId, workflowId)).run.id);
    await expectEveryFinishedRunToHaveItsDelivery(h.stepwise, h.orgId, ids);
    // No dispatcher runs here: every delivery is still waiting for one.
    for (const id of ids) {
      const [delivery] = await h.stepwise.deliveries.listRunDeliveries(h.orgId, id);
      expect(delivery).toMatchObject({ status: 'pending', attempts: 0 });
    }
    expect(server.requests).toHaveLength(0);
  });
});

const title = testDatabaseUrl
  ? 'callbacks over one PostgreSQL'
  : 'callbacks over one PostgreSQL (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('commits each run’s end with its delivery, and two dispatchers send each attempt once', async () => {
    // Processes sharing a database must share the key that seals the signing secret.
    const env = { STEPWISE_SECRET_KEY: randomBytes(32).toString('base64') };
    const a = await harness({ databaseUrl: database.url, env });
    const b = await harness({ databaseUrl: database.url, env });
    // The receiver answers slowly, so both dispatchers claim while the other is sending.
    server.script('/hook', { status: 200, delayMs: 30 });
    const workflowId = await callbackWorkflow(a.stepwise, a.orgId, '/hook');
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) ids.push((await a.stepwise.runs.start(a.orgId, workflowId)).run.id);
    await expectEveryFinishedRunToHaveItsDelivery(b.stepwise, a.orgId, ids);

    const dispatch = { pollMs: 10, concurrency: 4 };
    const [first, second] = await Promise.all([
      a.stepwise.startDispatcher(dispatch),
      b.stepwise.startDispatcher(dispatch),
    ]);
    await waitFor(
      async () => {
        const all = await Promise.all(ids.map((id) => a.stepwise.deliveries.listRunDeliveries(a.orgId, id)));
        return all.every(([delivery]) => delivery?.status === 'delivered');
      },
      20_000,
      'every delivery to be delivered',
    );
    // A duplicate send would arrive within a few polls.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const webhookIds = server.requestsTo('/hook').map((post) => String(post.headers['webhook-id']));
    expect(webhookIds).toHaveLength(RUNS);
    expect(new Set(webhookIds).size).toBe(RUNS);
    for (const id of ids) {
      const [delivery] = await a.stepwise.deliveries.listRunDeliveries(a.orgId, id);
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(delivery!.attempt_log).toHaveLength(1);
    }
    expect(first.owner).not.toBe(second.owner);
  });
});
