import { z } from 'zod';
import { StepFailure } from '../domain/errors.js';
import { isTruthy } from '../domain/expression.js';
import type { StepTool, ToolContext, ToolOutcome } from './tool.js';

const target = z
  .string()
  .regex(/^(end|[A-Za-z_][A-Za-z0-9_-]{0,63})$/, 'a branch target is a step id, or "end" to finish the run');

const conditionParamsSchema = z
  .strictObject({
    /** Tried in order; the first whose `when` is truthy wins. */
    cases: z
      .array(z.strictObject({ when: z.string().min(1).max(2000), goto: target }))
      .min(1)
      .max(100)
      .optional(),
    /** The single-test form, with `then` and `else`. */
    expression: z.string().min(1).max(2000).optional(),
    data: z.unknown().optional(),
    then: target.optional(),
    /** Where to go when nothing matched; without it the run falls through to the next step. */
    else: target.optional(),
  })
  .refine((p) => (p.cases === undefined) !== (p.expression === undefined), {
    message: 'give either cases, or expression with then/else',
    path: ['cases'],
  })
  .refine((p) => p.then === undefined || p.expression !== undefined, {
    message: 'then goes with expression; with cases, each case names its goto',
    path: ['then'],
  });
/** Params of the `condition` tool, as validated. */
export type ConditionParams = z.infer<typeof conditionParamsSchema>;

async function passes(expression: string, data: unknown, field: string, ctx: ToolContext): Promise<boolean> {
  try {
    return isTruthy(await ctx.expressions.evaluate(expression, data, ctx.signal));
  } catch (error) {
    if (!(error instanceof StepFailure)) throw error;
    throw new StepFailure(error.code, `${field}: ${error.message}`, {
      retriable: error.retriable,
      details: error.details,
    });
  }
}

function branch(matched: number | null, goto: string | undefined): ToolOutcome {
  const output = { matched, next: goto ?? null };
  if (goto === undefined) return { kind: 'done', output };
  return { kind: 'done', output, next: goto === 'end' ? null : goto };
}

/** The `condition` tool: picks the step to run next from JSONata tests on `data`. */
export const conditionTool: StepTool<ConditionParams> = {
  name: 'condition',
  description:
    'Branches the run. Either `cases` ([{ when, goto }], first truthy `when` wins) or `expression` with `then`/`else`; ' +
    '`else` also applies to cases. Each test is a JSONata expression evaluated against `data` (pass it with a ' +
    'template, e.g. "data": "{{ steps.fetch.output }}"), truthy as in JSONata: empty strings, 0, null, [] and {} ' +
    'are false. A target is a step id or "end". Without a match or else, the run continues with the next step. ' +
    'Output: { matched: index of the winning case (0 for a true expression) or null, next: the target or null }.',
  params: conditionParamsSchema,
  async execute(params, ctx) {
    const data = params.data ?? null;
    if (params.cases) {
      for (const [index, { when, goto }] of params.cases.entries()) {
        if (await passes(when, data, `cases.${index}.when`, ctx)) return branch(index, goto);
      }
      return branch(null, params.else);
    }
    return (await passes(params.expression!, data, 'expression', ctx))
      ? branch(0, params.then)
      : branch(null, params.else);
  },
};
