import { z } from 'zod';
import type { StepTool } from './tool.js';

const logParamsSchema = z.strictObject({
  message: z.string().min(1).max(10_000),
  level: z.enum(['info', 'warn', 'error']).default('info'),
  data: z.unknown().optional(),
});
/** Params of the `log` tool, as validated. */
export type LogParams = z.infer<typeof logParamsSchema>;

/** The `log` tool: writes a line to the run's log. */
export const logTool: StepTool<LogParams> = {
  name: 'log',
  description:
    'Writes `message` (with optional `data`) to the run log at level info, warn or error, and outputs ' +
    '{ logged: true, message }. Useful to record intermediate values with templates.',
  params: logParamsSchema,
  async execute(params, ctx) {
    ctx.log(
      params.message,
      params.data === undefined ? { level: params.level } : { level: params.level, data: params.data },
    );
    return { kind: 'done', output: { logged: true, message: params.message } };
  },
};
