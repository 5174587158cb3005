import { describe, expect, it } from 'vitest';
import { StepFailure } from './errors.js';
import { evaluateExpression, evaluateExpressionToJson, isTruthy } from './expression.js';

async function failureOf(promise: Promise<unknown>): Promise<StepFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepFailure);
  return error as StepFailure;
}

describe('evaluateExpression', () => {
  it('evaluates paths, aggregates and object constructors into plain JSON', async () => {
    const data = {
      items: [
        { name: 'a', price: 2 },
        { name: 'b', price: 3 },
      ],
    };
    expect(await evaluateExpression('$sum(items.price)', data)).toBe(5);
    const mapped = await evaluateExpression('items.{ "label": $uppercase(name) }', data);
    expect(mapped).toEqual([{ label: 'A' }, { label: 'B' }]);
    // Sequences come back as ordinary arrays, without JSONata's marker properties.
    expect(Object.keys(mapped as object)).toEqual(['0', '1']);
    expect(await evaluateExpression('missing.path', data)).toBeUndefined();
  });

  it('evaluates the same cached expression concurrently with independent guards', async () => {
    const results = await Promise.all([1, 2, 3].map((n) => evaluateExpression('n * 10', { n })));
    expect(results).toEqual([10, 20, 30]);
  });

  it('names the position of a syntax error', async () => {
    const failure = await failureOf(evaluateExpression('items[price > ]', {}));
    expect(failure.code).toBe('EXPRESSION_INVALID');
    expect(failure.retriable).toBe(false);
    expect(failure.message).toMatch(/^expression is not valid JSONata: .+ \(at position \d+/);
  });

  it('reports a runtime error with its position', async () => {
    const failure = await failureOf(evaluateExpression('1 + "a"', null));
    expect(failure.code).toBe('EXPRESSION_FAILED');
    expect(failure.message).toMatch(
      /^expression failed: The right side of the "\+" operator must evaluate to a number \(at position 3\)$/,
    );
  });

  it('bounds infinite recursion by depth', async () => {
    const started = Date.now();
    const failure = await failureOf(
      evaluateExpression('($f := function($n) { 1 + $f($n + 1) }; $f(0))', null),
    );
    expect(failure.code).toBe('EXPRESSION_FAILED');
    expect(failure.message).toBe(
      'expression nests function calls deeper than 100 levels (unbounded recursion?)',
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('allows recursion within the depth limit', async () => {
    const factorial = '($f := function($n) { $n <= 1 ? 1 : $n * $f($n - 1) }; $f(10))';
    expect(await evaluateExpression(factorial, null)).toBe(3_628_800);
    await expect(evaluateExpression(factorial, null, { maxDepth: 5 })).rejects.toThrow(
      /deeper than 5 levels/,
    );
  });

  it('bounds a slow expression by time, checked between its steps', async () => {
    const started = Date.now();
    // Tail calls are trampolined by JSONata, so this loops forever without nesting.
    const failure = await failureOf(
      evaluateExpression('($f := function($n) { $f($n + 1) }; $f(0))', null, { timeoutMs: 200 }),
    );
    expect(failure.code).toBe('EXPRESSION_TIMEOUT');
    expect(failure.message).toBe('expression took too long to evaluate (infinite loop?) (limit 200 ms)');
    // Unbounded, it would never end; the margin is for a loaded machine.
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('gives the result as JSON text, and refuses one past the size limit', async () => {
    expect(await evaluateExpressionToJson('{ "a": [1, 2] }', null)).toBe('{"a":[1,2]}');
    expect(await evaluateExpressionToJson('nothing', {})).toBeUndefined();
    const failure = await failureOf(evaluateExpressionToJson('[1..1000]', null, { maxResultChars: 100 }));
    expect(failure.code).toBe('EXPRESSION_TOO_LARGE');
    expect(failure.retriable).toBe(false);
    expect(failure.message).toBe('expression result is 3894 characters of JSON, over the limit of 100');
  });

  it('does not evaluate JavaScript: names are paths into the data, never globals', async () => {
    expect(await evaluateExpression('$eval("process.exit(1)")', null)).toBeUndefined();
    expect(await evaluateExpression('$type(process)', null)).toBeUndefined();
  });
});

describe('isTruthy', () => {
  it.each([
    [true, true],
    [false, false],
    [1, true],
    [0, false],
    ['x', true],
    ['', false],
    [null, false],
    [undefined, false],
    [[], false],
    [[0, ''], false],
    [[0, 'x'], true],
    [{}, false],
    [{ a: 1 }, true],
  ])('%j is %s', (value, expected) => {
    expect(isTruthy(value)).toBe(expected);
  });
});
