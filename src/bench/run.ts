import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  createNoopWorkflow,
  enqueueRuns,
  measureStartLatency,
  measureThroughput,
  measureThroughputWithBacklog,
  openBenchStepwise,
  type EngineBenchOptions,
} from './engine-bench.js';
import { measureExpressionOverhead } from './expression-bench.js';
import { measureFairness } from './fairness-bench.js';
import { measureGraphileWorker } from './graphile-baseline.js';
import { measureHttp } from './http-bench.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    'latency-samples': { type: 'string', default: '300' },
    'database-url': {
      type: 'string',
      default: process.env.STEPWISE_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    },
    only: { type: 'string' },
    backlog: { type: 'string', default: '100000' },
    'http-seconds': { type: 'string', default: '5' },
    'http-connections': { type: 'string', default: '50' },
    evaluations: { type: 'string', default: '5000' },
    'fair-backlog': { type: 'string', default: '20000' },
  },
});
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const latencySamples = Number(values['latency-samples']);
const backlog = Number(values.backlog);
const adminUrl = values['database-url']!;
const only = new Set((values.only ?? 'sqlite,postgres,graphile,http,expressions,fairness').split(','));

async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `stepwise_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

interface Row {
  name: string;
  perSecond: number;
  unit: string;
  note: string;
}

async function engine(options: Omit<EngineBenchOptions, 'runs' | 'concurrency'>): Promise<Row[]> {
  const rows: Row[] = [];
  {
    const { stepwise, dispose } = await openBenchStepwise({ ...options, runs, concurrency });
    try {
      const workflowId = await createNoopWorkflow(stepwise);
      const ids = await enqueueRuns(stepwise, workflowId, runs);
      const result = await measureThroughput(stepwise, ids);
      rows.push({
        name: `${options.backend} durable steps`,
        perSecond: result.stepsPerSecond,
        unit: 'steps/s',
        note: `${runs} runs × 3 steps in ${result.seconds.toFixed(2)} s`,
      });
    } finally {
      await dispose();
    }
  }
  {
    const { stepwise, dispose } = await openBenchStepwise({ ...options, runs, concurrency });
    try {
      const workflowId = await createNoopWorkflow(stepwise);
      const latency = await measureStartLatency(stepwise, workflowId, latencySamples);
      rows.push({
        name: `${options.backend} start→first step`,
        perSecond: NaN,
        unit: '',
        note: `p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms over ${latency.samples} runs`,
      });
    } finally {
      await dispose();
    }
  }
  if (backlog > 0) {
    const result = await measureThroughputWithBacklog({ ...options, runs, concurrency }, backlog);
    const empty = rows[0]!.perSecond;
    rows.push({
      name: `${options.backend} steps, ${backlog / 1000}k finished`,
      perSecond: result.stepsPerSecond,
      unit: 'steps/s',
      note: `${(result.stepsPerSecond / empty).toFixed(2)}× the rate on an empty store: finished runs leave the claim index`,
    });
  }
  return rows;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const rate = (name: string) => rows.find((row) => row.name === name)?.perSecond ?? NaN;
  process.stderr.write(`stepwise bench: ${runs} runs of 3 no-op steps, concurrency ${concurrency}\n`);
  if (only.has('sqlite')) rows.push(...(await engine({ backend: 'sqlite', sqliteSynchronous: 'FULL' })));
  if (only.has('postgres'))
    rows.push(...(await withDatabase((url) => engine({ backend: 'postgres', databaseUrl: url }))));
  if (only.has('fairness')) {
    const fairBacklog = Number(values['fair-backlog']);
    const measure = async (backend: 'sqlite' | 'postgres', databaseUrl?: string) => {
      const result = await measureFairness({ backend, databaseUrl, concurrency }, fairBacklog);
      const times = (ms: number) => `${ms} ms, ${(ms / Math.max(1, result.idleMs)).toFixed(1)}× idle`;
      rows.push({
        name: `${backend} other org's start, ${fairBacklog / 1000}k backlog`,
        perSecond: NaN,
        unit: '',
        note: `fair ${times(result.otherOrgMs)}; oldest-first ${times(result.oldestFirstMs)} (idle p50 ${result.idleMs} ms)`,
      });
    };
    await measure('sqlite');
    await withDatabase((url) => measure('postgres', url));
  }
  if (only.has('graphile')) {
    for (const mode of ['default', 'batched'] as const) {
      const result = await measureGraphileWorker({
        connectionString: adminUrl,
        runs,
        jobsPerRun: 3,
        concurrency,
        mode,
      });
      rows.push({
        name: `graphile-worker ${mode}`,
        perSecond: result.jobsPerSecond,
        unit: 'jobs/s',
        note: `${result.jobs} jobs in ${result.seconds.toFixed(2)} s`,
      });
    }
  }
  if (only.has('expressions')) {
    const result = await measureExpressionOverhead(Number(values.evaluations), concurrency);
    const per = (us: number) => `${us.toFixed(0)} µs per evaluation`;
    rows.push(
      {
        name: 'expression in-process',
        perSecond: 1e6 / result.inProcessUs,
        unit: 'evals/s',
        note: `${per(result.inProcessUs)}, one at a time (not isolated)`,
      },
      {
        name: 'expression pooled',
        perSecond: 1e6 / result.pooledUs,
        unit: 'evals/s',
        note: `${per(result.pooledUs)}, one at a time: +${(result.pooledUs - result.inProcessUs).toFixed(0)} µs to isolate`,
      },
      {
        name: `expression pooled ×${concurrency}`,
        perSecond: 1e6 / result.pooledConcurrentUs,
        unit: 'evals/s',
        note: `${per(result.pooledConcurrentUs)} with ${concurrency} in flight on 2 processes`,
      },
    );
  }
  let statusOverBare = NaN;
  if (only.has('http')) {
    const http = await measureHttp({
      durationSeconds: Number(values['http-seconds']),
      connections: Number(values['http-connections']),
      workerConcurrency: concurrency,
    });
    rows.push(...http.rows);
    statusOverBare = http.statusOverBare;
  }
  const width = Math.max(...rows.map((row) => row.name.length));
  for (const row of rows) {
    const figure = Number.isNaN(row.perSecond)
      ? ''.padStart(12)
      : `${row.perSecond.toFixed(0).padStart(7)} ${row.unit.padEnd(7)}`;
    process.stdout.write(`${row.name.padEnd(width)}  ${figure}  ${row.note}\n`);
  }
  const baseline = rate('graphile-worker default');
  process.stdout.write(
    `ratio postgres/graphile_default=${(rate('postgres durable steps') / baseline).toFixed(2)} sqlite/graphile_default=${(rate('sqlite durable steps') / baseline).toFixed(2)} http_status/bare=${statusOverBare.toFixed(2)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
