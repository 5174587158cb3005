import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { loadConfig } from '../app/config.js';
import { createStepwise, type Stepwise } from '../app/stepwise.js';
import { isFinalStatus } from '../domain/run-state.js';

export interface EngineBenchOptions {
  backend: 'sqlite' | 'postgres';
  /** PostgreSQL: a database URL for this measurement alone (created and dropped by the caller). */
  databaseUrl?: string;
  runs: number;
  concurrency: number;
  /** SQLite: FULL keeps an accepted run across power loss; the benchmark's target is stated with FULL. */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
}

export interface EngineBenchResult {
  steps: number;
  seconds: number;
  stepsPerSecond: number;
}

export interface StartLatencyResult {
  samples: number;
  p50Ms: number;
  p99Ms: number;
}

const STEPS_PER_RUN = 3;

/** A Stepwise process with no worker yet, on a fresh database. */
export async function openBenchStepwise(
  options: EngineBenchOptions & { concurrency: number; dataDir?: string },
): Promise<{ stepwise: Stepwise; dispose(): Promise<void>; close(): Promise<void> }> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'stepwise-bench-'));
  const config = loadConfig({
    STEPWISE_DATA_DIR: dataDir,
    STEPWISE_SQLITE_SYNCHRONOUS: options.sqliteSynchronous ?? 'FULL',
    LOG_LEVEL: 'silent',
    // The engine's own speed: no concurrency cap or credits (credit_cost 0 skips the ledger anyway).
    STEPWISE_DEFAULT_PLAN: 'unlimited',
    ...(options.backend === 'postgres' ? { STEPWISE_DATABASE_URL: options.databaseUrl } : {}),
  });
  config.worker = { concurrency: options.concurrency, leaseMs: 30_000, pollMs: 1000, shutdownGraceMs: 5000 };
  const stepwise = await createStepwise(config, { logger: pino({ level: 'silent' }) });
  return {
    stepwise,
    /** Closes, keeping the data for a reopen. */
    close: () => stepwise.close(),
    async dispose() {
      await stepwise.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates the 3-step no-op workflow the benchmark runs. */
export async function createNoopWorkflow(stepwise: Stepwise): Promise<string> {
  const workflow = await stepwise.workflows.create(stepwise.defaultOrgId, {
    title: `bench noop ${Date.now()}`,
    steps: Array.from({ length: STEPS_PER_RUN }, (_, i) => ({
      id: `s${i + 1}`,
      tool: 'log',
      params: { message: 'noop' },
    })),
  });
  return workflow.id;
}

/** Accepts `count` runs, `parallel` requests at a time (not timed). */
export async function enqueueRuns(
  stepwise: Stepwise,
  workflowId: string,
  count: number,
  parallel = 64,
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - start) }, () =>
        stepwise.runs.start(stepwise.defaultOrgId, workflowId),
      ),
    );
    ids.push(...batch.map(({ run }) => run.id));
  }
  return ids;
}

/**
 * Durable steps per second: `runs` runs of a 3-step no-op workflow are accepted first
 * (untimed, as graphile's jobs are enqueued first), then a worker with `concurrency`
 * executes them; the clock stops at the last run's committed finish.
 */
export async function measureThroughput(stepwise: Stepwise, runIds: string[]): Promise<EngineBenchResult> {
  const startedAt = Date.now();
  const t0 = performance.now();
  await stepwise.startWorker();
  const last = runIds[runIds.length - 1]!;
  let remaining = [...runIds];
  while (remaining.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, remaining.length > 100 ? 100 : 10));
    // Runs finish roughly in order; checking from the newest keeps the polling cheap.
    const lastRun = await stepwise.store.getRun(null, last);
    if (!lastRun || !isFinalStatus(lastRun.status)) continue;
    const stillOpen: string[] = [];
    for (const id of remaining) {
      const run = await stepwise.store.getRun(null, id);
      if (!run || !isFinalStatus(run.status)) stillOpen.push(id);
    }
    remaining = stillOpen;
  }
  let finishedAt = startedAt;
  for (const id of runIds) {
    const run = await stepwise.store.getRun(null, id);
    if (run?.status !== 'completed')
      throw new Error(`bench run ${id} ended ${run?.status}: ${JSON.stringify(run?.error)}`);
    finishedAt = Math.max(finishedAt, run.finished_at ?? 0);
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const seconds = Math.min(wallSeconds, Math.max(0.001, (finishedAt - startedAt) / 1000));
  const steps = runIds.length * STEPS_PER_RUN;
  return { steps, seconds, stepsPerSecond: steps / seconds };
}

/**
 * Time from a start request to its first step starting, on an idle worker: runs are
 * started one at a time, `gapMs` apart, and the first `step.started` event is compared
 * with the moment `start` was called.
 */
export async function measureStartLatency(
  stepwise: Stepwise,
  workflowId: string,
  samples: number,
  gapMs = 5,
): Promise<StartLatencyResult> {
  await stepwise.startWorker();
  const requested: { id: string; at: number }[] = [];
  for (let i = 0; i < samples; i += 1) {
    const at = Date.now();
    const { run } = await stepwise.runs.start(stepwise.defaultOrgId, workflowId);
    requested.push({ id: run.id, at });
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const latencies: number[] = [];
  for (const { id, at } of requested) {
    for (;;) {
      const run = await stepwise.store.getRun(null, id);
      if (run && isFinalStatus(run.status)) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const started = (await stepwise.store.listRunEvents(id)).find((event) => event.type === 'step.started');
    latencies.push(started!.at - at);
  }
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { samples, p50Ms: pick(0.5), p99Ms: pick(0.99) };
}

/**
 * Stores `count` finished runs of the workflow, as a long-lived installation has, so the
 * benchmark can show they do not slow claims (the claim index holds runnable runs only).
 */
export async function seedFinishedRuns(
  stepwise: Stepwise,
  workflowId: string,
  count: number,
  parallel = 32,
): Promise<void> {
  const workflow = await stepwise.workflows.get(stepwise.defaultOrgId, workflowId);
  const template = (await stepwise.runs.start(stepwise.defaultOrgId, workflowId)).run;
  await stepwise.runs.cancel(stepwise.defaultOrgId, template.id);
  let next = 0;
  const insertOne = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      const at = Date.now() - 86_400_000;
      const id = `run_seed_${next}_${Math.random().toString(36).slice(2)}`;
      await stepwise.store.insertRun({
        run: {
          ...template,
          id,
          workflow_version: workflow.version,
          status: 'completed',
          step_index: workflow.definition.steps.length,
          current_step: workflow.definition.steps.length,
          available_at: null,
          created_at: at,
          started_at: at,
          finished_at: at + 5,
          updated_at: at + 5,
        },
        event: { run_id: id, type: 'run.completed', data: {}, at: at + 5 },
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, insertOne));
}

/**
 * Throughput with `backlog` finished runs already stored. On SQLite the backlog is written
 * with synchronous=NORMAL (it is setup, not what is measured), then the database is
 * reopened with the configured setting for the measurement.
 */
export async function measureThroughputWithBacklog(
  options: EngineBenchOptions,
  backlog: number,
): Promise<EngineBenchResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'stepwise-bench-'));
  const seeding = await openBenchStepwise({ ...options, dataDir, sqliteSynchronous: 'NORMAL' });
  const workflowId = await createNoopWorkflow(seeding.stepwise);
  await seedFinishedRuns(seeding.stepwise, workflowId, backlog);
  await seeding.close();
  const measured = await openBenchStepwise({ ...options, dataDir });
  try {
    const ids = await enqueueRuns(measured.stepwise, workflowId, options.runs);
    return await measureThroughput(measured.stepwise, ids);
  } finally {
    await measured.dispose();
  }
}
