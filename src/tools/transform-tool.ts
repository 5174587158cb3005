import { z } from 'zod';
import type { StepTool } from './tool.js';

const transformParamsSchema = z.strictObject({
  expression: z.string().min(1).max(20_000),
  data: z.unknown().optional(),
});
/** Params of the `transform` tool, as validated. */
export type TransformParams = z.infer<typeof transformParamsSchema>;

/** The `transform` tool: reshapes data with a JSONata expression. */
export const transformTool: StepTool<TransformParams> = {
  name: 'transform',
  description:
    'Evaluates a JSONata expression against `data` and returns the result as the step output (null when nothing ' +
    'matches). The expression sees only `data`, not the run: pass what it needs with a template, e.g. ' +
    '"data": "{{ steps.fetch.output.body }}". Without data the expression runs against null. ' +
    'Bounded in time (1 s by default), in memory and to 100 nested function calls.',
  params: transformParamsSchema,
  async execute(params, ctx) {
    const output = await ctx.expressions.evaluate(params.expression, params.data ?? null, ctx.signal);
    return { kind: 'done', output: output ?? null };
  },
};
