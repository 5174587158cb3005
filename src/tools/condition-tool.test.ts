import { afterAll, describe, expect, it } from 'vitest';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { ExpressionPool } from '../engine/expression-pool.js';
import { conditionTool } from './condition-tool.js';

const expressions = new ExpressionPool({ processes: 1, timeoutMs: 300, memoryMb: 64 });
afterAll(() => expressions.close());

const run = (params: unknown) => runTool(conditionTool, params, createToolContext({ expressions }));

describe('condition tool', () => {
  const cases = [
    { when: 'amount > 1000', goto: 'review' },
    { when: 'amount > 100', goto: 'approve' },
    { when: 'status = "void"', goto: 'end' },
  ];

  it('goes to the first case whose test is truthy', async () => {
    expect(await run({ cases, data: { amount: 500 } })).toEqual({
      kind: 'done',
      output: { matched: 1, next: 'approve' },
      next: 'approve',
    });
  });

  it('ends the run on goto "end"', async () => {
    expect(await run({ cases, data: { amount: 1, status: 'void' } })).toEqual({
      kind: 'done',
      output: { matched: 2, next: 'end' },
      next: null,
    });
  });

  it('takes else when nothing matched, and falls through without one', async () => {
    expect(await run({ cases, else: 'reject', data: { amount: 1 } })).toMatchObject({
      output: { matched: null },
      next: 'reject',
    });
    const fallThrough = await run({ cases, data: { amount: 1 } });
    expect(fallThrough).toEqual({ kind: 'done', output: { matched: null, next: null } });
    expect('next' in fallThrough).toBe(false);
  });

  it('supports the expression form with then/else and JSONata truthiness', async () => {
    const form = { expression: 'items', then: 'process', else: 'end' };
    expect(await run({ ...form, data: { items: [1] } })).toMatchObject({
      output: { matched: 0 },
      next: 'process',
    });
    expect(await run({ ...form, data: { items: [] } })).toMatchObject({
      output: { matched: null },
      next: null,
    });
    expect(await run({ ...form, data: null })).toMatchObject({ next: null });
  });

  it('names the case whose expression is invalid', async () => {
    await expect(run({ cases: [{ when: 'a >', goto: 'x' }] })).rejects.toMatchObject({
      code: 'EXPRESSION_INVALID',
      retriable: false,
      message: expect.stringMatching(/^cases\.0\.when: expression is not valid JSONata/),
    });
  });

  it('fails with EXPRESSION_TIMEOUT naming the case whose regex runs away', async () => {
    const runaway = { when: '$contains(s, /(a+)+$/)', goto: 'x' };
    await expect(run({ cases: [runaway], data: { s: `${'a'.repeat(40)}b` } })).rejects.toMatchObject({
      code: 'EXPRESSION_TIMEOUT',
      retriable: false,
      message: 'cases.0.when: expression took too long to evaluate (infinite loop?) (limit 300 ms)',
    });
  });

  it('validates the shape of its params', () => {
    const issue = (params: unknown) => {
      const i = conditionTool.params.safeParse(params).error?.issues[0];
      return i && `${i.path.join('.')}: ${i.message}`;
    };
    expect(issue({})).toBe('cases: give either cases, or expression with then/else');
    expect(issue({ cases, expression: 'x' })).toBe('cases: give either cases, or expression with then/else');
    expect(issue({ cases, then: 'a' })).toBe(
      'then: then goes with expression; with cases, each case names its goto',
    );
    expect(issue({ expression: 'x', then: 'not a step!' })).toBe(
      'then: a branch target is a step id, or "end" to finish the run',
    );
  });
});
