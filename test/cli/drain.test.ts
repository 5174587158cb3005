import { afterEach, describe, expect, it } from 'vitest';
import type { StepDefinitionInput } from '../../src/domain/workflow.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { startHarness, waitFor, waitForRun, type Harness } from '../support/stepwise-harness.js';
import { CliProcess } from './cli-process.js';

/** Long, so that only an explicit hand-back can explain a quick resume by another worker. */
const LEASE_MS = 30_000;

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

interface Scenario {
  harness: Harness;
  server: HttpRecorder;
  runId: string;
  worker(graceMs: number): CliProcess;
}

/**
 * One run of a workflow of `steps`, accepted before any worker starts; `worker()` spawns a
 * real `stepwise worker` process on the same SQLite file.
 */
async function prepare(steps: (url: string) => StepDefinitionInput[]): Promise<Scenario> {
  const server = await startHttpRecorder();
  const harness = await startHarness({ worker: false });
  cleanups.push(
    () => server.close(),
    () => harness.close(),
  );
  const workflow = await harness.stepwise.workflows.create(harness.orgId, {
    title: 'drain target',
    steps: steps(server.url),
  });
  const { run } = await harness.stepwise.runs.start(harness.orgId, workflow.id);
  return {
    harness,
    server,
    runId: run.id,
    worker(graceMs) {
      const worker = CliProcess.spawn(['worker'], {
        STEPWISE_DATA_DIR: harness.dataDir,
        STEPWISE_ALLOW_PRIVATE_NETWORK: '1',
        STEPWISE_LEASE_MS: String(LEASE_MS),
        STEPWISE_POLL_MS: '200',
        STEPWISE_SHUTDOWN_GRACE_MS: String(graceMs),
        STEPWISE_SQLITE_SYNCHRONOUS: 'NORMAL',
      });
      cleanups.push(() => worker.stop('SIGKILL'));
      return worker;
    },
  };
}

const httpStep = (id: string, url: string): StepDefinitionInput => ({
  id,
  tool: 'http',
  params: { method: 'POST', url: `${url}/${id}`, json: { run: '{{ run.id }}' } },
  // One attempt: being handed back on shutdown must not count as a failed attempt.
  retry: { max_attempts: 1 },
});

/** Sends SIGTERM and returns the exit code and how long the drain took. */
async function terminate(worker: CliProcess): Promise<{ code: number | null; ms: number; stderr: string }> {
  const sentAt = Date.now();
  const { code, stderr } = await worker.stop('SIGTERM');
  return { code, ms: Date.now() - sentAt, stderr };
}

describe('graceful drain of a stepwise worker process (SIGTERM)', () => {
  it('a step still running after the grace period is aborted and handed back; another worker resumes it at once', async () => {
    const scenario = await prepare((url) => [httpStep('hang', url), httpStep('after', url)]);
    const { harness, server, runId } = scenario;
    server.script('/hang', { delayMs: 10_000, json: { first: true } }, { json: { resumed: true } });

    const first = scenario.worker(500);
    await waitFor(() => server.requestsTo('/hang').length === 1, 15_000, 'the first worker to call /hang');
    const held = (await harness.stepwise.store.getRun(null, runId))!;
    expect(held.lease_owner).toMatch(/:\d+:/);
    expect(held.lease_expires_at).toBeGreaterThan(Date.now() + LEASE_MS / 2);

    const drained = await terminate(first);
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stderr).toContain('SIGTERM: draining');
    expect(drained.ms, 'grace 500 ms, then abort and hand back').toBeLessThan(2000);
    expect(drained.ms).toBeGreaterThanOrEqual(450);

    // Handed back: no lease, runnable now, not failed, and the aborted attempt left no result.
    const handedBack = (await harness.stepwise.store.getRun(null, runId))!;
    expect(handedBack).toMatchObject({ status: 'running', lease_owner: null, lease_expires_at: null });
    expect(handedBack.available_at).toBeLessThanOrEqual(Date.now());
    const steps = await harness.stepwise.store.listRunSteps(runId);
    expect(steps.filter((step) => step.status === 'completed' || step.status === 'failed')).toEqual([]);

    const second = scenario.worker(500);
    const startedAt = Date.now();
    const finished = await waitForRun(harness.stepwise, runId, 10_000);
    const resumeMs = Date.now() - startedAt;
    expect(finished.status, JSON.stringify(finished.error)).toBe('completed');
    expect(resumeMs, 'resumed thanks to the hand-back, not the lease expiring').toBeLessThan(6000);
    const hang = server.requestsTo('/hang');
    expect(hang).toHaveLength(2);
    expect(hang[1]!.headers['idempotency-key']).toBe(hang[0]!.headers['idempotency-key']);
    expect(server.requestsTo('/after')).toHaveLength(1);
    const completed = (await harness.stepwise.store.listRunSteps(runId)).filter(
      (step) => step.status === 'completed',
    );
    expect(completed.map((step) => step.step_id)).toEqual(['hang', 'after']);
    expect(completed[0]!.output).toMatchObject({ body: { resumed: true } });

    expect((await terminate(second)).code).toBe(0);
  });

  it('a step that finishes within the grace period is committed, not handed back', async () => {
    const scenario = await prepare((url) => [httpStep('quick', url), httpStep('next', url)]);
    const { harness, server, runId } = scenario;
    server.script('/quick', { delayMs: 200, json: { quick: true } });

    // A grace period far longer than the step, so a loaded machine cannot blur the two.
    const first = scenario.worker(5000);
    await waitFor(() => server.requestsTo('/quick').length === 1, 15_000, 'the first worker to call /quick');
    const drained = await terminate(first);
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.ms, 'exits once the step is done, not after the whole grace period').toBeLessThan(4000);

    const quick = (await harness.stepwise.store.listRunSteps(runId)).find((step) => step.step_id === 'quick');
    expect(quick).toMatchObject({ status: 'completed', output: expect.objectContaining({ status: 200 }) });
    const afterDrain = (await harness.stepwise.store.getRun(null, runId))!;
    expect(afterDrain.lease_owner).toBeNull();
    // Today the draining worker also runs the (quick) next step and completes the run; a
    // worker that hands the run back right after the step in flight is fine too.
    if (afterDrain.status !== 'completed') {
      expect(afterDrain).toMatchObject({ status: 'running', step_index: 1, lease_expires_at: null });
      const second = scenario.worker(2000);
      expect((await waitForRun(harness.stepwise, runId, 10_000)).status).toBe('completed');
      expect((await terminate(second)).code).toBe(0);
    }
    expect(server.requestsTo('/quick'), 'a committed step never runs again').toHaveLength(1);
    expect(server.requestsTo('/next')).toHaveLength(1);
  });

  it('a draining worker starts no new step: the run is handed back after the step in flight', async () => {
    const scenario = await prepare((url) => [httpStep('quick', url), httpStep('slow', url)]);
    const { harness, server, runId } = scenario;
    server.script('/quick', { delayMs: 200, json: { quick: true } });
    server.script('/slow', { delayMs: 3000, json: { slow: true } });

    const first = scenario.worker(5000);
    await waitFor(() => server.requestsTo('/quick').length === 1, 15_000, 'the first worker to call /quick');
    const drained = await terminate(first);
    expect(drained.code, drained.stderr).toBe(0);
    expect(await harness.stepwise.store.getRun(null, runId)).toMatchObject({
      status: 'running',
      step_index: 1,
      lease_owner: null,
    });
    expect(server.requestsTo('/slow'), 'a step started after SIGTERM').toHaveLength(0);
    expect(drained.ms, 'exits after the step in flight, not after the 5 s grace period').toBeLessThan(4000);
  });
});
