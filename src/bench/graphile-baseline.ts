/**
 * graphile-worker 0.17 baseline for `npm run bench`.
 *
 * For R runs of a J-step no-op workflow we enqueue R·J independent no-op jobs (no queue name, so they
 * may run in parallel, like graphile's own perf test), start a runner with `concurrency` workers and
 * measure the wall time until every job has been executed AND its completion is visible in the
 * database (the jobs table is empty again).
 *
 * Timing window: before the runner starts, a probe connection takes `LOCK TABLE _private_jobs IN EXCLUSIVE
 * MODE` in an open transaction, so graphile's job-fetch queries (UPDATE … FOR UPDATE SKIP LOCKED) block.
 * Once the runner is up and its fetches are waiting on that lock, the timer starts and the lock is
 * released (COMMIT); the timer stops when the jobs table is empty again. So database creation,
 * migrations, the bulk enqueue (`addJobs`) and the runner's fixed start-up (pool connect, migration
 * check, LISTEN) are excluded, while every fetch, execution and completion, including the first batch
 * fetch of the local queue, is inside the window. The start-up is reported as `startupSeconds`.
 *
 * Modes (option names as defined by graphile-worker 0.17.3, `GraphileConfig.WorkerOptions` in
 * node_modules/graphile-worker/dist/index.d.ts, read in dist/main.js `_runTaskList`):
 * - 'default': graphile's defaults (each worker fetches one job per query and completes it with its own
 *   query), only `concurrentJobs` and `maxPoolSize` are set.
 * - 'batched': `preset.worker.localQueue.size` (pool fetches and locks a batch of jobs at once),
 *   `preset.worker.completeJobBatchDelay: 0` and `preset.worker.failJobBatchDelay: 0` (completions /
 *   failures are batched into one query per tick). There is no `getJobBatchTime` option in 0.17: the name
 *   only survives in a stale doc comment in dist/localQueue.d.ts; the setting it describes is
 *   `localQueue.ttl` (default 5 min), which does not matter for throughput.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  LogLevel,
  Logger,
  makeWorkerUtils,
  run,
  runMigrations,
  type AddJobsJobSpec,
  type Runner,
  type WorkerUtils,
} from 'graphile-worker';

export type GraphileBenchMode = 'default' | 'batched';

export interface GraphileBaselineOptions {
  /** Admin connection (any database); the benchmark creates and drops its own database from it. */
  connectionString: string;
  runs: number;
  jobsPerRun: number;
  concurrency: number;
  mode: GraphileBenchMode;
  /** 'batched' only: `preset.worker.localQueue.size`. Default {@link DEFAULT_BATCHED_LOCAL_QUEUE_SIZE}. */
  localQueueSize?: number;
  /** 'batched' only: `preset.worker.completeJobBatchDelay` (ms). Default 0. */
  completeJobBatchDelay?: number;
  /**
   * `preset.worker.maxPoolSize`. Default `max(10, concurrency + 2)`: graphile's own default is 10 and its
   * docs recommend "10 or concurrentJobs + 2, whichever is larger", so this only differs above C = 8.
   */
  maxPoolSize?: number;
  /** Abort if the jobs have not all completed after this long. Default max(60 s, jobs / 100 per s). */
  timeoutMs?: number;
}

export interface GraphileBaselineResult {
  mode: string;
  jobs: number;
  seconds: number;
  jobsPerSecond: number;
  /** Untimed: from calling `run()` until its first job fetch was waiting (pool connect, migration check, LISTEN). */
  startupSeconds: number;
  /** The graphile `preset.worker` settings that were used (for the report). */
  settings: Record<string, unknown>;
}

/**
 * localQueue.size used for 'batched' when not overridden. Swept 17/500/1000/2000/5000 at C = 4, 8, 16 and
 * R = 2000, 5000 on the 2-core bench box: 1000–5000 are within noise of each other (~35–40k jobs/s), 500
 * is ~20 % slower, C + 1 is ~5× slower. 2000 was the best on average. (graphile's own perf test uses 500
 * with 24 workers.) completeJobBatchDelay 1 or 5 ms measured the same as 0.
 */
export const DEFAULT_BATCHED_LOCAL_QUEUE_SIZE = 2000;

const SCHEMA = 'graphile_worker';
const TASK = 'stepwise_bench_noop';
const ENQUEUE_BATCH = 2000;

/** Graphile logger that drops everything below `error`; errors go to stderr. */
const quietLogger = new Logger(() => (level, message) => {
  if (level === LogLevel.ERROR) process.stderr.write(`[graphile-worker] ${message}\n`);
});

function withDatabase(connectionString: string, database: string): string {
  const url = new URL(connectionString);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

async function adminQuery(connectionString: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function assertPositiveInt(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

export async function measureGraphileWorker(
  options: GraphileBaselineOptions,
): Promise<GraphileBaselineResult> {
  const { connectionString, runs, jobsPerRun, concurrency, mode } = options;
  assertPositiveInt('runs', runs);
  assertPositiveInt('jobsPerRun', jobsPerRun);
  assertPositiveInt('concurrency', concurrency);
  if (mode !== 'default' && mode !== 'batched') throw new RangeError(`unknown mode ${String(mode)}`);

  const total = runs * jobsPerRun;
  const timeoutMs = options.timeoutMs ?? Math.max(60_000, (total / 100) * 1000);
  const maxPoolSize = options.maxPoolSize ?? Math.max(10, concurrency + 2);
  const worker: GraphileConfig.WorkerOptions = { concurrentJobs: concurrency, maxPoolSize };
  if (mode === 'batched') {
    worker.localQueue = { size: options.localQueueSize ?? DEFAULT_BATCHED_LOCAL_QUEUE_SIZE };
    worker.completeJobBatchDelay = options.completeJobBatchDelay ?? 0;
    worker.failJobBatchDelay = 0;
  }

  const dbName = `stepwise_bench_graphile_${randomBytes(6).toString('hex')}`;
  const dbUrl = withDatabase(connectionString, dbName);
  await adminQuery(connectionString, `CREATE DATABASE "${dbName}"`);

  let utils: WorkerUtils | undefined;
  let runner: Runner | undefined;
  let runnerStopped = false;
  const probe = new pg.Client({ connectionString: dbUrl });
  let probeConnected = false;
  let gateHeld = false;
  try {
    // --- untimed setup: migrations + bulk enqueue -------------------------------------------------
    await runMigrations({ connectionString: dbUrl, schema: SCHEMA, logger: quietLogger });
    utils = await makeWorkerUtils({ connectionString: dbUrl, schema: SCHEMA, logger: quietLogger });
    for (let start = 0; start < total; start += ENQUEUE_BATCH) {
      const specs: AddJobsJobSpec[] = [];
      for (let i = start; i < Math.min(total, start + ENQUEUE_BATCH); i++) {
        specs.push({ identifier: TASK, payload: { run: Math.floor(i / jobsPerRun), step: i % jobsPerRun } });
      }
      await utils.addJobs(specs);
    }
    await utils.release();
    utils = undefined;

    await probe.connect();
    probeConnected = true;
    // Fresh statistics for the freshly bulk-loaded table, so the planner (and a late autovacuum) do not
    // distort the timed window.
    await probe.query(`VACUUM ANALYZE ${SCHEMA}._private_jobs`);
    const queued = await countJobs(probe);
    if (queued !== total) throw new Error(`expected ${total} queued jobs, found ${queued}`);

    // --- gate: hold the jobs table so the runner can start up without fetching anything ----------
    await probe.query('BEGIN');
    gateHeld = true;
    await probe.query(`LOCK TABLE ${SCHEMA}._private_jobs IN EXCLUSIVE MODE`);

    let executed = 0;
    let resolveExecuted!: () => void;
    const allExecuted = new Promise<void>((resolve) => (resolveExecuted = resolve));
    const noop = (): void => {
      if (++executed === total) resolveExecuted();
    };

    const calledRunAt = performance.now();
    runner = await run({
      connectionString: dbUrl,
      schema: SCHEMA,
      logger: quietLogger,
      noHandleSignals: true,
      taskList: { [TASK]: noop },
      parsedCronItems: [],
      preset: { worker },
    });
    const runnerFailed = runner.promise.then(
      () => {
        throw new Error('graphile-worker runner exited before all jobs completed');
      },
      (error: unknown) => {
        throw error;
      },
    );
    runnerFailed.catch(() => undefined);

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms (${executed}/${total} jobs executed)`)),
        timeoutMs,
      );
    });
    timeout.catch(() => undefined);
    let startedAt: number;
    let readyAt: number;
    let finishedAt: number;
    const polling = { stop: false };
    try {
      // Default mode: every worker has a fetch in flight (one pool connection is the LISTEN client).
      // Batched mode: the local queue has a single fetch in flight.
      const expectedWaiters = mode === 'batched' ? 1 : Math.min(concurrency, maxPoolSize - 1);
      readyAt = await Promise.race([
        waitForBlockedFetchers(probe, expectedWaiters, polling),
        runnerFailed,
        timeout,
      ]);
      if (executed !== 0) throw new Error('graphile-worker ran jobs while the jobs table was locked');

      // --- timed: release the gate, run until every job is executed and its completion committed --
      startedAt = performance.now();
      await probe.query('COMMIT');
      gateHeld = false;
      await Promise.race([allExecuted, runnerFailed, timeout]);
      // Completions may still be in flight (one per worker, or a pending completeJobs batch): wait until
      // the database agrees that everything is done.
      await Promise.race([waitForEmptyQueue(probe, polling), runnerFailed, timeout]);
      finishedAt = performance.now();
    } finally {
      polling.stop = true;
      clearTimeout(timer);
    }

    runnerStopped = true;
    await runner.stop();
    if (executed !== total) throw new Error(`expected ${total} executions, got ${executed}`);

    const seconds = (finishedAt - startedAt) / 1000;
    return {
      mode,
      jobs: total,
      seconds,
      jobsPerSecond: total / seconds,
      startupSeconds: (readyAt - calledRunAt) / 1000,
      settings: { ...worker },
    };
  } finally {
    // Release the gate first (ending the session drops its lock), or a blocked runner cannot stop.
    if (probeConnected && gateHeld) await probe.end().catch(() => undefined);
    const cleanup: Array<Promise<unknown>> = [];
    if (runner && !runnerStopped) cleanup.push(runner.stop().catch(() => undefined));
    if (utils) cleanup.push(Promise.resolve(utils.release()));
    await Promise.allSettled(cleanup);
    if (probeConnected && !gateHeld) await probe.end().catch(() => undefined);
    await adminQuery(connectionString, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  }
}

async function countJobs(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${SCHEMA}._private_jobs`,
  );
  return rows[0]!.n;
}

/**
 * Polls pg_locks until `expected` sessions wait for the jobs-table lock (or, if fewer show up, until the
 * first one has waited 1 s); returns the time the first waiter was seen.
 */
async function waitForBlockedFetchers(
  client: pg.Client,
  expected: number,
  polling: { stop: boolean },
): Promise<number> {
  let firstSeenAt: number | undefined;
  while (!polling.stop) {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE relation = '${SCHEMA}._private_jobs'::regclass AND NOT granted`,
    );
    const waiting = rows[0]!.n;
    const now = performance.now();
    if (waiting > 0) firstSeenAt ??= now;
    if (firstSeenAt !== undefined && (waiting >= expected || now - firstSeenAt > 1000)) return firstSeenAt;
    await new Promise<void>((resolve) => setTimeout(resolve, 2));
  }
  throw new Error('stopped while waiting for graphile-worker to start');
}

/** Polls until the jobs table is empty; resolves (without error) once `polling.stop` is set. */
async function waitForEmptyQueue(client: pg.Client, polling: { stop: boolean }): Promise<void> {
  while (!polling.stop) {
    let remaining: number;
    try {
      remaining = await countJobs(client);
    } catch (error) {
      if (polling.stop) return;
      throw error;
    }
    if (remaining === 0) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
