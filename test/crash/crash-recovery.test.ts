import { afterEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/domain/model.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { startHarness, waitFor, type Harness } from '../support/stepwise-harness.js';
import { WorkerProcess } from '../support/worker-process.js';

const RUNS = 60;
const STEPS = ['s1', 's2', 's3'];
const LEASE_MS = 1500;

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

interface Scenario {
  harness: Harness;
  server: HttpRecorder;
  runIds: string[];
  workerEnv: Record<string, string>;
}

/** A workflow of three HTTP steps that each take ~40 ms, and RUNS runs of it, accepted before any worker starts. */
async function prepare(databaseUrl?: string): Promise<Scenario> {
  const server = await startHttpRecorder();
  for (const step of STEPS) server.script(`/${step}`, { delayMs: 40, json: { step } });
  const harness = await startHarness({ worker: false, databaseUrl });
  cleanups.push(
    () => server.close(),
    () => harness.close(),
  );
  const workflow = await harness.stepwise.workflows.create(harness.orgId, {
    title: 'crash target',
    steps: STEPS.map((id) => ({
      id,
      tool: 'http',
      params: { method: 'POST', url: `${server.url}/${id}`, json: { run: '{{ run.id }}' } },
      retry: { max_attempts: 5, backoff: 'fixed', initial_ms: 50, max_ms: 50 },
    })),
  });
  const runIds: string[] = [];
  for (let i = 0; i < RUNS; i += 1)
    runIds.push((await harness.stepwise.runs.start(harness.orgId, workflow.id)).run.id);
  const workerEnv = {
    STEPWISE_DATA_DIR: harness.dataDir,
    STEPWISE_ALLOW_PRIVATE_NETWORK: '1',
    STEPWISE_LEASE_MS: String(LEASE_MS),
    STEPWISE_POLL_MS: '100',
    STEPWISE_WORKER_CONCURRENCY: '6',
    ...(databaseUrl ? { STEPWISE_DATABASE_URL: databaseUrl } : {}),
  };
  return { harness, server, runIds, workerEnv };
}

async function runsOf(scenario: Scenario): Promise<RunRecord[]> {
  return Promise.all(
    scenario.runIds.map(async (id) => (await scenario.harness.stepwise.store.getRun(null, id))!),
  );
}

/** Steps whose results were committed: `<run id>:<step id>` keys. */
async function committedSteps(scenario: Scenario): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const id of scenario.runIds) {
    for (const step of await scenario.harness.stepwise.store.listRunSteps(id)) {
      if (step.status === 'completed') keys.add(`${id}:${step.step_id}`);
    }
  }
  return keys;
}

/** Kills the process once some runs are done and others are mid-flight; returns the kill time and what was committed then. */
async function killMidFlight(
  scenario: Scenario,
  victim: WorkerProcess,
): Promise<{ killedAt: number; committed: Set<string> }> {
  await waitFor(async () => (await committedSteps(scenario)).size >= 20, 20_000, 'twenty committed steps');
  await victim.kill();
  const killedAt = Date.now();
  const unfinished = (await runsOf(scenario)).filter((run) => run.status !== 'completed');
  expect(unfinished.length, 'the kill should catch runs mid-flight').toBeGreaterThan(0);
  return { killedAt, committed: await committedSteps(scenario) };
}

async function expectRecovered(
  scenario: Scenario,
  kill: { killedAt: number; committed: Set<string> },
  maxInFlight: number,
) {
  await waitFor(
    async () => (await runsOf(scenario)).every((run) => run.status === 'completed'),
    30_000,
    'every run to complete after the crash',
  );
  // No run lost: each completed with exactly one committed result per step.
  for (const id of scenario.runIds) {
    const completed = (await scenario.harness.stepwise.store.listRunSteps(id)).filter(
      (step) => step.status === 'completed',
    );
    expect(completed.map((step) => step.step_id)).toEqual(STEPS);
  }
  const counts = scenario.server.idempotencyKeyCounts();
  expect(counts.size).toBe(RUNS * STEPS.length);
  // A step never runs again once its result is committed: no request for it arrives
  // after the moment its committed attempt finished.
  for (const id of scenario.runIds) {
    for (const step of await scenario.harness.stepwise.store.listRunSteps(id)) {
      if (step.status !== 'completed') continue;
      const key = `${id}:${step.step_id}`;
      const later = scenario.server.requests.filter(
        (r) => r.headers['idempotency-key'] === key && r.received_at > step.finished_at,
      );
      expect(later, `step ${key} ran again after its result was committed`).toEqual([]);
    }
  }
  // Only steps in flight at the kill may have been requested twice, and only once more.
  const repeated = [...counts].filter(([, count]) => count > 1);
  expect(repeated.length).toBeLessThanOrEqual(maxInFlight);
  for (const [key, count] of repeated) {
    expect(count).toBe(2);
    expect(kill.committed.has(key)).toBe(false);
    const first = scenario.server.requests.find((r) => r.headers['idempotency-key'] === key)!;
    expect(first.received_at).toBeLessThanOrEqual(kill.killedAt);
  }
  return repeated.length;
}

describe('crash recovery with real worker processes', () => {
  it('SQLite: a SIGKILLed worker loses nothing; after a restart every run completes and no committed step runs again', async () => {
    const scenario = await prepare();
    const first = WorkerProcess.spawn(scenario.workerEnv);
    cleanups.push(() => first.kill());
    const kill = await killMidFlight(scenario, first);

    const second = WorkerProcess.spawn(scenario.workerEnv);
    cleanups.push(() => second.kill());
    await expectRecovered(scenario, kill, 6);
    expect(await second.terminate()).toBe(0);
  }, 60_000);

  it.skipIf(!testDatabaseUrl)(
    'PostgreSQL: of 3 worker processes one is SIGKILLed; the survivors finish every run after its lease expires',
    async () => {
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      const scenario = await prepare(database.url);
      const workers = [0, 1, 2].map(() => WorkerProcess.spawn(scenario.workerEnv));
      for (const worker of workers) cleanups.push(() => worker.kill());
      const kill = await killMidFlight(scenario, workers[0]!);
      await expectRecovered(scenario, kill, 6);
      expect(await workers[1]!.terminate()).toBe(0);
      expect(await workers[2]!.terminate()).toBe(0);
    },
    60_000,
  );
});
