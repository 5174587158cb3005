import { describe, expect, it } from 'vitest';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { transformTool } from './transform-tool.js';

describe('transform tool', () => {
  it('outputs the expression evaluated against data', async () => {
    const data = { orders: [{ total: 10 }, { total: 15 }] };
    const outcome = await runTool(
      transformTool,
      { expression: '{ "count": $count(orders), "sum": $sum(orders.total) }', data },
      createToolContext(),
    );
    expect(outcome).toEqual({ kind: 'done', output: { count: 2, sum: 25 } });
  });

  it('runs against null without data, and outputs null when nothing matches', async () => {
    expect(await runTool(transformTool, { expression: '"constant"' }, createToolContext())).toEqual({
      kind: 'done',
      output: 'constant',
    });
    expect(
      await runTool(transformTool, { expression: 'nothing.here', data: {} }, createToolContext()),
    ).toEqual({ kind: 'done', output: null });
  });

  it('fails permanently on an invalid expression, naming the position', async () => {
    await expect(
      runTool(transformTool, { expression: '$sum(', data: {} }, createToolContext()),
    ).rejects.toMatchObject({
      code: 'EXPRESSION_INVALID',
      retriable: false,
      message: expect.stringMatching(/at position \d+/),
    });
  });

  it('requires an expression', () => {
    expect(transformTool.params.safeParse({ data: 1 }).error?.issues[0]?.path).toEqual(['expression']);
  });
});
