import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Stepwise } from '../../src/app/stepwise.js';
import type { StepDefinitionInput } from '../../src/domain/workflow.js';
import { startHttpRecorder, type HttpRecorder, type RecordedRequest } from '../support/http-recorder.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { startHarness, waitFor, waitForRun, type Harness } from '../support/stepwise-harness.js';

/**
 * Far longer than any wait below: a callback that arrives in time was woken by its run's
 * end (or by its retry's timer), never by a poll.
 */
const LONG_POLL_MS = 30_000;
/** How late after its run's end (or its retry's time) a callback may reach the receiver. */
const PROMPT_MS = 1000;

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
  const started = await startHarness({ pollMs: LONG_POLL_MS, ...options });
  harnesses.push(started);
  return started;
}

const greet: StepDefinitionInput[] = [
  { id: 'greet', tool: 'transform', params: { expression: "'Hello, ' & name", data: '{{ input }}' } },
];

async function startRun(stepwise: Stepwise, orgId: string, path: string): Promise<string> {
  const workflow = await stepwise.workflows.create(orgId, {
    title: `wf ${Math.random()}`,
    callback_url: `${server.url}${path}`,
    steps: greet,
  });
  const { run } = await stepwise.runs.start(orgId, workflow.id, { input: { name: 'Ada' } });
  return run.id;
}

/** Waits (well past PROMPT_MS, so a failure shows how late it came) for `count` posts to `path`. */
async function posts(path: string, count = 1): Promise<RecordedRequest[]> {
  await waitFor(() => server.requestsTo(path).length >= count, 5000, `${count} posts to ${path}`);
  return server.requestsTo(path);
}

describe('callback dispatch latency', () => {
  it('sends a run’s callback as soon as the run ends, not at the next poll (SQLite)', async () => {
    const h = await harness();
    await h.stepwise.startDispatcher();
    // Let the dispatcher's first round find nothing and go to sleep for the long poll.
    await new Promise((resolve) => setTimeout(resolve, 100));

    const runId = await startRun(h.stepwise, h.orgId, '/hook');
    const run = await waitForRun(h.stepwise, runId);
    const [post] = await posts('/hook');
    expect(post!.received_at - run.finished_at!).toBeLessThan(PROMPT_MS);
  });

  it('sends the callback of a run cancelled before it started at once', async () => {
    const h = await harness({ worker: false });
    await h.stepwise.startDispatcher();
    await new Promise((resolve) => setTimeout(resolve, 100));

    const runId = await startRun(h.stepwise, h.orgId, '/cancelled');
    const cancelled = await h.stepwise.runs.cancel(h.orgId, runId);
    expect(cancelled.status).toBe('cancelled');
    const [post] = await posts('/cancelled');
    expect(post!.json).toMatchObject({ type: 'run.cancelled' });
    expect(post!.received_at - cancelled.finished_at!).toBeLessThan(PROMPT_MS);
  });

  it('sends a retry when it comes due, while the poll interval is far longer', async () => {
    const h = await harness();
    // Equal jitter: the retry is due 150–300 ms after the failed attempt.
    await h.stepwise.startDispatcher({ retry: { initialMs: 300, maxMs: 300, giveUpAfterMs: 60_000 } });
    server.script('/flaky', { status: 500 }, { status: 204 });

    await startRun(h.stepwise, h.orgId, '/flaky');
    const [first, second] = await posts('/flaky', 2);
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(second!.received_at - first!.received_at).toBeGreaterThanOrEqual(100);
    expect(second!.received_at - first!.received_at).toBeLessThan(300 + PROMPT_MS);
  });
});

const title = testDatabaseUrl
  ? 'callback dispatch latency over PostgreSQL'
  : 'callback dispatch latency over PostgreSQL (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('wakes the dispatcher of another process when a run ends', async () => {
    // Processes sharing a database must share the key that seals the signing secret.
    const env = { STEPWISE_SECRET_KEY: randomBytes(32).toString('base64') };
    // `a` runs the workflow; only `b` dispatches, so the callback crosses processes by NOTIFY.
    const a = await harness({ databaseUrl: database.url, env });
    const b = await harness({ databaseUrl: database.url, env, worker: false });
    await b.stepwise.startDispatcher();
    await new Promise((resolve) => setTimeout(resolve, 100));

    const runId = await startRun(a.stepwise, a.orgId, '/remote');
    const run = await waitForRun(a.stepwise, runId);
    const [post] = await posts('/remote');
    expect(post!.received_at - run.finished_at!).toBeLessThan(PROMPT_MS);
    // The attempt is recorded once the receiver has answered.
    await waitFor(
      async () => (await a.stepwise.deliveries.listRunDeliveries(a.orgId, runId))[0]?.status === 'delivered',
      5000,
      'the delivery to be recorded as delivered',
    );
    const [delivery] = await a.stepwise.deliveries.listRunDeliveries(a.orgId, runId);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1 });
  });
});
