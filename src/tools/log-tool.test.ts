import { describe, expect, it } from 'vitest';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { logTool } from './log-tool.js';

describe('log tool', () => {
  it('logs the message with level and data and outputs it', async () => {
    const ctx = createToolContext();
    const outcome = await runTool(
      logTool,
      { message: 'charged card', level: 'warn', data: { amount: 5 } },
      ctx,
    );
    expect(outcome).toEqual({ kind: 'done', output: { logged: true, message: 'charged card' } });
    expect(ctx.logs).toEqual([{ message: 'charged card', data: { level: 'warn', data: { amount: 5 } } }]);
  });

  it('defaults to info', async () => {
    const ctx = createToolContext();
    await runTool(logTool, { message: 'hello' }, ctx);
    expect(ctx.logs).toEqual([{ message: 'hello', data: { level: 'info' } }]);
  });

  it('rejects an empty message and an unknown level', () => {
    expect(logTool.params.safeParse({ message: '' }).success).toBe(false);
    expect(logTool.params.safeParse({ message: 'x', level: 'debug' }).error?.issues[0]?.path).toEqual([
      'level',
    ]);
  });
});
