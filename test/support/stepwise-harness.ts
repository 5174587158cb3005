import type { Clock } from '../../src/domain/clock.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig, type StepwiseConfig } from '../../src/app/config.js';
import { createStepwise, type Stepwise } from '../../src/app/stepwise.js';
import type { RunRecord } from '../../src/domain/model.js';
import { isFinalStatus } from '../../src/domain/run-state.js';

export interface Harness {
  stepwise: Stepwise;
  orgId: string;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * A whole Stepwise process on a temp SQLite file (or the given database URL), with a
 * short lease and poll so tests see recovery quickly, and loopback allowed so tools can
 * reach the local test servers.
 */
export async function startHarness(
  overrides: Partial<StepwiseConfig['worker']> & {
    databaseUrl?: string;
    worker?: boolean;
    env?: Record<string, string>;
    clock?: Clock;
    /**
     * The plan of org `default` and of orgs keys create (STEPWISE_DEFAULT_PLAN). Default
     * `unlimited`, so tests of other things meet no plan limits; limit tests choose `free`.
     */
    plan?: string;
  } = {},
): Promise<Harness> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'stepwise-test-'));
  const config = loadConfig({
    STEPWISE_DATA_DIR: dataDir,
    STEPWISE_ALLOW_PRIVATE_NETWORK: '1',
    STEPWISE_SQLITE_SYNCHRONOUS: 'NORMAL',
    LOG_LEVEL: 'silent',
    STEPWISE_DEFAULT_PLAN: overrides.plan ?? 'unlimited',
    ...(overrides.databaseUrl ? { STEPWISE_DATABASE_URL: overrides.databaseUrl } : {}),
    ...overrides.env,
  });
  config.worker = {
    concurrency: overrides.concurrency ?? 8,
    leaseMs: overrides.leaseMs ?? 5000,
    pollMs: overrides.pollMs ?? 200,
    shutdownGraceMs: overrides.shutdownGraceMs ?? 1000,
  };
  const stepwise = await createStepwise(config, {
    logger: pino({ level: 'silent' }),
    clock: overrides.clock,
  });
  if (overrides.worker !== false) await stepwise.startWorker();
  return {
    stepwise,
    orgId: stepwise.defaultOrgId,
    dataDir,
    async close() {
      await stepwise.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until the run reaches a final state. */
export async function waitForRun(stepwise: Stepwise, runId: string, timeoutMs = 10_000): Promise<RunRecord> {
  return waitForRunState(stepwise, runId, (run) => isFinalStatus(run.status), timeoutMs);
}

export async function waitForRunState(
  stepwise: Stepwise,
  runId: string,
  predicate: (run: RunRecord) => boolean,
  timeoutMs = 10_000,
): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await stepwise.store.getRun(null, runId);
    if (run && predicate(run)) return run;
    if (Date.now() > deadline) {
      throw new Error(
        `run ${runId} did not reach the expected state in ${timeoutMs} ms (now ${run?.status ?? 'missing'})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
