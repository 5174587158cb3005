import { performance } from 'node:perf_hooks';
import { evaluateExpression } from '../domain/expression.js';
import { ExpressionPool } from '../engine/expression-pool.js';

export interface ExpressionBenchResult {
  evaluations: number;
  /** Microseconds per evaluation, one after another, in this process (no isolation). */
  inProcessUs: number;
  /** The same through the pool: the copy to a process and back included. */
  pooledUs: number;
  /** Microseconds per evaluation with `concurrency` in flight, as a busy worker has. */
  pooledConcurrentUs: number;
}

/** A step's `when` as workflows write them, over a run's scope of a few step outputs. */
const WHEN = 'steps.fetch.output.status = 200 and $count(steps.fetch.output.body.items) > 0';
const SCOPE = {
  input: { lead_id: 'L1', email: 'ada@example.com' },
  steps: {
    fetch: {
      output: {
        status: 200,
        body: { items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 3 })) },
      },
    },
  },
  run: { id: 'run_bench', workflow_id: 'wf_bench', attempt: 1 },
};

async function microsPerEvaluation(evaluations: number, evaluate: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < evaluations; i++) await evaluate();
  return ((performance.now() - started) / evaluations) * 1000;
}

/** The cost of isolation per evaluation: the same `when` in-process and through the pool (2 processes). */
export async function measureExpressionOverhead(
  evaluations: number,
  concurrency: number,
): Promise<ExpressionBenchResult> {
  const pool = new ExpressionPool({ processes: 2, timeoutMs: 1000, memoryMb: 128 });
  try {
    const warmUp = Math.min(500, evaluations);
    for (let i = 0; i < warmUp; i++) {
      await evaluateExpression(WHEN, SCOPE);
      await pool.evaluate(WHEN, SCOPE);
    }
    const inProcessUs = await microsPerEvaluation(evaluations, () => evaluateExpression(WHEN, SCOPE));
    const pooledUs = await microsPerEvaluation(evaluations, () => pool.evaluate(WHEN, SCOPE));
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < evaluations) await pool.evaluate(WHEN, SCOPE);
      }),
    );
    const pooledConcurrentUs = ((performance.now() - started) / evaluations) * 1000;
    return { evaluations, inProcessUs, pooledUs, pooledConcurrentUs };
  } finally {
    await pool.close();
  }
}
