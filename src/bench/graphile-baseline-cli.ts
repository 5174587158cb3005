/**
 * Stand-alone graphile-worker baseline:
 *
 *   node dist/bench/graphile-baseline-cli.js --runs 2000 --concurrency 8
 *
 * Every list option takes comma-separated values and the CLI measures the cartesian product, e.g.
 * `--runs 2000,5000 --concurrency 4,8,16 --local-queue-size 100,500 --repeat 3`.
 * The admin connection comes from `--connection`, else $STEPWISE_BENCH_DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/test.
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_BATCHED_LOCAL_QUEUE_SIZE,
  measureGraphileWorker,
  type GraphileBenchMode,
} from './graphile-baseline.js';

const USAGE = `usage: node dist/bench/graphile-baseline-cli.js [options]
  --runs N[,N...]                 workflow runs R (default 2000)
  --jobs-per-run N                steps per run (default 3)
  --concurrency N[,N...]          graphile concurrentJobs (default 8)
  --modes default,batched         which modes to measure (default both)
  --local-queue-size N[,N...]     batched: preset.worker.localQueue.size (default ${DEFAULT_BATCHED_LOCAL_QUEUE_SIZE})
  --complete-job-batch-delay N[,N...]  batched: preset.worker.completeJobBatchDelay ms (default 0)
  --max-pool-size N               preset.worker.maxPoolSize (default max(10, concurrency + 2))
  --repeat N                      measurements per configuration; median is shown (default 1)
  --connection URL                admin connection string`;

function intList(name: string, raw: string | undefined, fallback: number[]): number[] {
  if (raw === undefined) return fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  for (const value of values) {
    if (!Number.isInteger(value)) throw new Error(`--${name}: not an integer list: ${raw}`);
  }
  return values;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      'jobs-per-run': { type: 'string' },
      concurrency: { type: 'string' },
      modes: { type: 'string' },
      'local-queue-size': { type: 'string' },
      'complete-job-batch-delay': { type: 'string' },
      'max-pool-size': { type: 'string' },
      repeat: { type: 'string' },
      connection: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }

  const connectionString =
    values.connection ?? process.env.STEPWISE_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const runsList = intList('runs', values.runs, [2000]);
  const [jobsPerRun] = intList('jobs-per-run', values['jobs-per-run'], [3]);
  const concurrencies = intList('concurrency', values.concurrency, [8]);
  const localQueueSizes = intList('local-queue-size', values['local-queue-size'], [
    DEFAULT_BATCHED_LOCAL_QUEUE_SIZE,
  ]);
  const completeDelays = intList('complete-job-batch-delay', values['complete-job-batch-delay'], [0]);
  const maxPoolSize =
    values['max-pool-size'] === undefined
      ? undefined
      : intList('max-pool-size', values['max-pool-size'], [])[0];
  const [repeat] = intList('repeat', values.repeat, [1]);
  const modes = (values.modes ?? 'default,batched').split(',').map((m) => m.trim());
  for (const mode of modes) {
    if (mode !== 'default' && mode !== 'batched') throw new Error(`--modes: unknown mode ${mode}`);
  }

  const header = ['mode', 'settings', 'runs', 'C', 'jobs', 'seconds', 'jobs/s', 'startup s'];
  const widths = [8, 52, 6, 3, 7, 8, 9, 9];
  if (repeat! > 1) {
    header.push('min jobs/s', 'max jobs/s');
    widths.push(10, 10);
  }
  console.log(pad(header, widths));

  for (const runs of runsList) {
    for (const concurrency of concurrencies) {
      for (const mode of modes as GraphileBenchMode[]) {
        const variants =
          mode === 'default'
            ? [{}]
            : localQueueSizes.flatMap((localQueueSize) =>
                completeDelays.map((completeJobBatchDelay) => ({ localQueueSize, completeJobBatchDelay })),
              );
        for (const variant of variants) {
          const results = [];
          for (let i = 0; i < repeat!; i++) {
            results.push(
              await measureGraphileWorker({
                connectionString,
                runs,
                jobsPerRun: jobsPerRun!,
                concurrency,
                mode,
                maxPoolSize,
                ...variant,
              }),
            );
          }
          const rates = results.map((r) => r.jobsPerSecond);
          const med = median(rates);
          const s = results[0]!.settings;
          const lq = s.localQueue as { size: number } | undefined;
          const label =
            `pool=${String(s.maxPoolSize)}` +
            (lq
              ? ` localQueue.size=${lq.size} completeJobBatchDelay=${String(s.completeJobBatchDelay)}`
              : '');
          const row = [
            mode,
            label,
            String(runs),
            String(concurrency),
            String(results[0]!.jobs),
            (results[0]!.jobs / med).toFixed(3),
            Math.round(med).toString(),
            median(results.map((r) => r.startupSeconds)).toFixed(3),
          ];
          if (repeat! > 1)
            row.push(Math.round(Math.min(...rates)).toString(), Math.round(Math.max(...rates)).toString());
          console.log(pad(row, widths));
        }
      }
    }
  }
}

// No process.exit() on success: the process must end by itself (no dangling pools or timers).
main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
