import { StepFailure } from '../domain/errors.js';
import { evaluateExpressionToJson, type ExpressionLimits } from '../domain/expression.js';

/** One evaluation sent to a process of the expression pool. */
export interface ExpressionTask {
  id: number;
  expression: string;
  data: unknown;
  limits: ExpressionLimits;
}

/**
 * How an evaluation ended, in a form that survives the copy between processes (a thrown
 * StepFailure would arrive without its class).
 */
export type ExpressionOutcome =
  { ok: true; json: string | undefined } | { ok: false; code: string; message: string; details?: unknown };

/** What the process sends back: once that it listens, then one outcome per task. */
export type ExpressionReply = { ready: true } | { id: number; outcome: ExpressionOutcome };

async function evaluateTask(task: ExpressionTask): Promise<ExpressionOutcome> {
  try {
    return { ok: true, json: await evaluateExpressionToJson(task.expression, task.data, task.limits) };
  } catch (error) {
    if (!(error instanceof StepFailure)) throw error;
    return { ok: false, code: error.code, message: error.message, details: error.details };
  }
}

// The entry of a process forked by the pool; imported anywhere else (for its types), it does nothing.
if (process.send) {
  const reply = (message: ExpressionReply) => process.send!(message);
  process.on('message', (task: ExpressionTask) => {
    void evaluateTask(task).then((outcome) => reply({ id: task.id, outcome }));
  });
  // The pool's process is gone (closed, or crashed): nothing is left to answer.
  process.on('disconnect', () => process.exit(0));
  reply({ ready: true });
}
