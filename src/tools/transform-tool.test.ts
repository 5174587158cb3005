import { afterAll, describe, expect, it } from 'vitest';
import { createToolContext as createContext, runTool } from '../../test/support/tool-context.js';
import { ExpressionPool } from '../engine/expression-pool.js';
import { transformTool } from './transform-tool.js';

const expressions = new ExpressionPool({ processes: 1, timeoutMs: 300, memoryMb: 32 });
/** Time enough for a memory bomb to reach the heap limit first. */
const unhurried = new ExpressionPool({ processes: 1, timeoutMs: 10_000, memoryMb: 32 });
afterAll(() => Promise.all([expressions.close(), unhurried.close()]));

const createToolContext = () => createContext({ expressions });

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

  it('fails with EXPRESSION_TIMEOUT on a catastrophic regex, then evaluates on', async () => {
    await expect(
      runTool(
        transformTool,
        { expression: '$match(s, /(a+)+$/)', data: { s: `${'a'.repeat(40)}b` } },
        createToolContext(),
      ),
    ).rejects.toMatchObject({ code: 'EXPRESSION_TIMEOUT', retriable: false });
    expect(await runTool(transformTool, { expression: '1 + 1' }, createToolContext())).toEqual({
      kind: 'done',
      output: 2,
    });
  });

  it('fails with EXPRESSION_TOO_LARGE on a memory bomb', async () => {
    await expect(
      runTool(
        transformTool,
        { expression: '[1..10000000].{ "n": $ }' },
        createContext({ expressions: unhurried }),
      ),
    ).rejects.toMatchObject({ code: 'EXPRESSION_TOO_LARGE', retriable: false });
  });

  it('requires an expression', () => {
    expect(transformTool.params.safeParse({ data: 1 }).error?.issues[0]?.path).toEqual(['expression']);
  });
});
