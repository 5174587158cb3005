import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildServer } from '../api/server.js';
import type { Stepwise } from '../app/stepwise.js';
import { isFinalStatus } from '../domain/run-state.js';
import { openBenchStepwise } from './engine-bench.js';

/**
 * The REST benchmark.
 *
 * Process model, the same for every target: each server under test (the bare Fastify one,
 * our API) listens on 127.0.0.1:0 in this process's main thread — our API with its worker
 * running, as `stepwise serve` has it — and autocannon fires from one worker thread of this
 * process, so the load generator never shares the servers' event loop.
 *
 * The bare route and status polling are measured in alternating 1-second slices (bare,
 * polling, bare, polling, …) after an untimed warm-up of each, so that load from other
 * processes on the machine falls on both alike and their ratio holds; each one's slices are
 * then added up (requests, and one latency histogram). `POST …/run` is measured last, in one
 * piece, because it leaves runs behind for the worker.
 */
export interface HttpBenchOptions {
  /** Seconds of timed load per target: bare and polling in that many 1-s slices each. */
  durationSeconds?: number;
  /** Seconds of untimed load before each target (JIT, statement caches). */
  warmupSeconds?: number;
  connections?: number;
  pipelining?: number;
  /** Worker concurrency of the Stepwise that executes the POSTed runs. */
  workerConcurrency?: number;
}

export interface HttpBenchRow {
  name: string;
  perSecond: number;
  unit: string;
  note: string;
}

export interface HttpBenchResult {
  rows: HttpBenchRow[];
  /** Status polling requests/s over the bare route's requests/s. */
  statusOverBare: number;
}

interface Target {
  label: string;
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

/** One autocannon run as it comes back from a thread other than the main one (not yet aggregated). */
interface RawResult {
  '2xx': number;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  resets: number;
  statusCodeStats: Record<string, { count: number }>;
}

interface Measurement {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  seconds: number;
}

type Settings = Required<HttpBenchOptions>;

// Documented (`autocannon.aggregateResult`) but missing from @types/autocannon.
const aggregateResult = (
  autocannon as unknown as {
    aggregateResult(results: RawResult[], options: Partial<autocannon.Options>): autocannon.Result;
  }
).aggregateResult;

// CommonJS, as `eval` worker code is. Results are kept raw (`skipAggregateResult`) so that
// slices can be merged into one latency histogram.
const LOAD_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const autocannon = require(workerData.autocannon);
parentPort.on('message', ({ id, options }) => {
  autocannon({ ...options, skipAggregateResult: true }).then(
    (result) => parentPort.postMessage({ id, result }),
    (error) => parentPort.postMessage({ id, error: String(error && error.stack ? error.stack : error) }),
  );
});
`;

/** autocannon in a worker thread of its own, one run at a time. */
class LoadGenerator {
  private readonly worker = new Worker(LOAD_THREAD, {
    eval: true,
    workerData: { autocannon: createRequire(import.meta.url).resolve('autocannon') },
  });
  private readonly pending = new Map<number, { resolve(r: RawResult): void; reject(e: Error): void }>();
  private nextId = 0;

  constructor(private readonly settings: Settings) {
    this.worker.on('message', (message: { id: number; result?: RawResult; error?: string }) => {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(`autocannon: ${message.error}`));
      else waiter?.resolve(message.result!);
    });
    this.worker.on('error', (error) => {
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    });
  }

  /** `seconds` of load on `target`; throws when any request failed or was not answered 2xx. */
  fire(target: Target, seconds: number): Promise<RawResult> {
    const options: autocannon.Options = {
      url: target.url,
      method: target.method,
      headers: target.headers,
      body: target.body,
      duration: seconds,
      connections: this.settings.connections,
      pipelining: this.settings.pipelining,
    };
    const id = this.nextId++;
    return new Promise<RawResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, options });
    }).then((result) => {
      assertClean(target.label, result);
      return result;
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

function assertClean(label: string, result: RawResult): void {
  const failures = {
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    mismatches: result.mismatches,
    resets: result.resets,
  };
  if (Object.values(failures).some((count) => count > 0) || result['2xx'] === 0) {
    throw new Error(
      `http bench ${label}: ${JSON.stringify(failures)}, 2xx ${result['2xx']}, status codes ${JSON.stringify(result.statusCodeStats)}`,
    );
  }
}

/** Adds slices up: requests over seconds, and percentiles of their merged latency histogram. */
function combine(target: Target, slices: RawResult[], settings: Settings): Measurement {
  const merged = aggregateResult(slices, {
    url: target.url,
    connections: settings.connections,
    pipelining: settings.pipelining,
  });
  const requests = slices.reduce((sum, slice) => sum + slice['2xx'], 0);
  const seconds = slices.reduce((sum, slice) => sum + slice.duration, 0);
  return {
    requestsPerSecond: requests / seconds,
    p50Ms: merged.latency.p50,
    p99Ms: merged.latency.p99,
    requests,
    seconds,
  };
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

async function waitForFinish(stepwise: Stepwise, runId: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await stepwise.store.getRun(null, runId);
    if (run && isFinalStatus(run.status)) {
      if (run.status !== 'completed') throw new Error(`http bench: run ${runId} ended ${run.status}`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`http bench: run ${runId} did not finish in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts one run of `workflowId` through the API and returns its job once finished, as a poller sees it. */
async function finishedJob(
  stepwise: Stepwise,
  base: string,
  workflowId: string,
  key: string,
): Promise<string> {
  const started = await fetch(`${base}/v1/workflows/${workflowId}/run`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: '{}',
  });
  if (started.status !== 201) throw new Error(`http bench: POST run answered ${started.status}`);
  const { jobId } = (await started.json()) as { jobId: string };
  await waitForFinish(stepwise, jobId);
  const polled = await fetch(`${base}/v1/workflows/jobs/${jobId}`, { headers: { 'x-api-key': key } });
  const job = (await polled.json()) as { status?: string };
  if (polled.status !== 200 || job.status !== 'completed') {
    throw new Error(`http bench: GET job answered ${polled.status} ${JSON.stringify(job)}`);
  }
  return jobId;
}

/**
 * Requests/s and p99 of a bare Fastify route (`GET /bare` → `{ ok: true }`), of
 * `GET /v1/workflows/jobs/{id}` (one finished job) and of `POST /v1/workflows/{id}/run` (a
 * one-step `log` workflow), the last two on a SQLite Stepwise with synchronous FULL whose
 * worker runs.
 */
export async function measureHttp(options: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  const settings: Settings = {
    durationSeconds: options.durationSeconds ?? 5,
    warmupSeconds: options.warmupSeconds ?? 1,
    connections: options.connections ?? 50,
    pipelining: options.pipelining ?? 1,
    workerConcurrency: options.workerConcurrency ?? 16,
  };
  const load = new LoadGenerator(settings);
  const bareApp = Fastify({ logger: false });
  bareApp.get('/bare', async () => ({ ok: true }));
  const { stepwise, dispose } = await openBenchStepwise({
    backend: 'sqlite',
    sqliteSynchronous: 'FULL',
    runs: 0,
    concurrency: settings.workerConcurrency,
  });
  let app: FastifyInstance | null = null;
  try {
    const { key, org_id: orgId } = await stepwise.keys.create({
      orgName: 'default',
      scopes: ['workflows:read', 'workflows:write'],
      name: 'http bench',
    });
    const workflow = await stepwise.workflows.create(orgId, {
      title: `bench http ${Date.now()}`,
      steps: [{ id: 'log', tool: 'log', params: { message: 'http bench' } }],
    });
    app = await buildServer(stepwise);
    await stepwise.startWorker();
    const base = await listen(app);
    const jobId = await finishedJob(stepwise, base, workflow.id, key);

    const bare: Target = { label: 'GET /bare', url: `${await listen(bareApp)}/bare`, method: 'GET' };
    const status: Target = {
      label: 'GET /v1/workflows/jobs/{id}',
      url: `${base}/v1/workflows/jobs/${jobId}`,
      method: 'GET',
      headers: { 'x-api-key': key },
    };
    const start: Target = {
      label: 'POST /v1/workflows/{id}/run',
      url: `${base}/v1/workflows/${workflow.id}/run`,
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ input: { source: 'bench' } }),
    };

    if (settings.warmupSeconds > 0) {
      await load.fire(bare, settings.warmupSeconds);
      await load.fire(status, settings.warmupSeconds);
    }
    const bareSlices: RawResult[] = [];
    const statusSlices: RawResult[] = [];
    for (let slice = 0; slice < settings.durationSeconds; slice += 1) {
      bareSlices.push(await load.fire(bare, 1));
      statusSlices.push(await load.fire(status, 1));
    }

    if (settings.warmupSeconds > 0) await load.fire(start, settings.warmupSeconds);
    const startSlices = [await load.fire(start, settings.durationSeconds)];
    // The dashboard's live runs list, read once the start load has stored thousands of runs.
    const runsList: Target = {
      label: 'GET /v1/runs?limit=50',
      url: `${base}/v1/runs?workflow_id=${workflow.id}&limit=50`,
      method: 'GET',
      headers: { 'x-api-key': key },
    };
    const runsListSlices = [await load.fire(runsList, settings.durationSeconds)];
    // The Summary page's org-wide figures, aggregated in the database over the same runs.
    const orgSummary: Target = {
      label: 'GET /v1/summary',
      url: `${base}/v1/summary`,
      method: 'GET',
      headers: { 'x-api-key': key },
    };
    const orgSummarySlices = [await load.fire(orgSummary, settings.durationSeconds)];
    const backlog = (
      await stepwise.store.listRuns({
        org_id: orgId,
        workflow_id: workflow.id,
        status: ['pending', 'running'],
        limit: 1_000_000,
        offset: 0,
      })
    ).length;

    const how = `${settings.connections} conn, pipelining ${settings.pipelining}`;
    const describe = (m: Measurement) =>
      `p99 ${m.p99Ms} ms (p50 ${m.p50Ms} ms), ${m.requests} req in ${m.seconds.toFixed(1)} s, ${how}`;
    const bareResult = combine(bare, bareSlices, settings);
    const statusResult = combine(status, statusSlices, settings);
    const startResult = combine(start, startSlices, settings);
    const runsListResult = combine(runsList, runsListSlices, settings);
    const orgSummaryResult = combine(orgSummary, orgSummarySlices, settings);
    return {
      rows: [
        {
          name: 'http bare fastify GET /bare',
          perSecond: bareResult.requestsPerSecond,
          unit: 'req/s',
          note: `${describe(bareResult)}, 1-s slices alternating with the next row`,
        },
        {
          name: 'http sqlite GET jobs/{id}',
          perSecond: statusResult.requestsPerSecond,
          unit: 'req/s',
          note: describe(statusResult),
        },
        {
          name: 'http sqlite POST {id}/run',
          perSecond: startResult.requestsPerSecond,
          unit: 'req/s',
          note: `${describe(startResult)}, worker running: ${backlog} runs not yet executed at the end`,
        },
        {
          name: 'http sqlite GET /v1/runs?limit=50',
          perSecond: runsListResult.requestsPerSecond,
          unit: 'req/s',
          note: `${describe(runsListResult)}, the dashboard's runs list over the runs the previous row stored`,
        },
        {
          name: 'http sqlite GET /v1/summary',
          perSecond: orgSummaryResult.requestsPerSecond,
          unit: 'req/s',
          note: `${describe(orgSummaryResult)}, the org's counts and p50/p95 over the same runs`,
        },
      ],
      statusOverBare: statusResult.requestsPerSecond / bareResult.requestsPerSecond,
    };
  } finally {
    await load.close();
    await bareApp.close();
    await app?.close();
    await dispose();
  }
}
