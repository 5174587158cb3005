import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { StepFailure } from '../domain/errors.js';
import { ExpressionPool, type ExpressionPoolConfig } from './expression-pool.js';

/** Backtracks 2^40 times on V8's regex engine: native code that no JSONata check can interrupt. */
const CATASTROPHIC_REGEX = '$contains(s, /(a+)+$/)';
const EVIL_STRING = { s: `${'a'.repeat(40)}b` };
/** One array of ten million numbers, mapped: a single allocation past a small heap. */
const MEMORY_BOMB = '$count([1..10000000].($ * 2))';

const pools: ExpressionPool[] = [];
function pool(config: Partial<ExpressionPoolConfig> = {}): ExpressionPool {
  const created = new ExpressionPool({ processes: 1, timeoutMs: 300, memoryMb: 32, ...config });
  pools.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((created) => created.close()));
});

async function failureOf(promise: Promise<unknown>): Promise<StepFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepFailure);
  return error as StepFailure;
}

describe('ExpressionPool', () => {
  it('evaluates in another process with the errors of an in-process evaluation', async () => {
    const expressions = pool();
    expect(await expressions.evaluate('$sum(items.price)', { items: [{ price: 2 }, { price: 3 }] })).toBe(5);
    expect(await expressions.evaluate('missing.path', {})).toBeUndefined();
    const invalid = await failureOf(expressions.evaluate('items[price > ]', {}));
    expect(invalid).toMatchObject({
      code: 'EXPRESSION_INVALID',
      retriable: false,
      details: { position: 15 },
    });
    expect(invalid.message).toMatch(/^expression is not valid JSONata: .+ \(at position 15 near '\]'\)$/);
    const failed = await failureOf(expressions.evaluate('1 + "a"', null));
    expect(failed.code).toBe('EXPRESSION_FAILED');
    expect(failed.message).toMatch(/must evaluate to a number \(at position 3\)$/);
    const deep = await failureOf(
      expressions.evaluate('($f := function($n) { 1 + $f($n + 1) }; $f(0))', null),
    );
    expect(deep.message).toBe(
      'expression nests function calls deeper than 100 levels (unbounded recursion?)',
    );
  });

  it('kills a catastrophic regex at the time limit while this event loop keeps turning', async () => {
    const expressions = pool({ timeoutMs: 300 });
    await expressions.evaluate('1', null);
    let longestGapMs = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      longestGapMs = Math.max(longestGapMs, performance.now() - last);
      last = performance.now();
    }, 5);
    const started = performance.now();
    const failure = await failureOf(expressions.evaluate(CATASTROPHIC_REGEX, EVIL_STRING));
    clearInterval(ticker);
    expect(failure).toMatchObject({ code: 'EXPRESSION_TIMEOUT', retriable: false });
    expect(failure.message).toBe('expression took too long to evaluate (infinite loop?) (limit 300 ms)');
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(300);
    // The limit plus the grace before the kill, and a margin for a loaded machine.
    expect(elapsed).toBeLessThan(1000);
    // A loop held by the regex would stall for the whole 300 ms; the margin is for a loaded machine.
    expect(longestGapMs).toBeLessThan(150);
  });

  it('fails a memory bomb with EXPRESSION_TOO_LARGE, and this process lives on', async () => {
    const expressions = pool({ memoryMb: 32, timeoutMs: 10_000 });
    const failure = await failureOf(expressions.evaluate(MEMORY_BOMB, null));
    expect(failure).toMatchObject({ code: 'EXPRESSION_TOO_LARGE', retriable: false });
    expect(failure.message).toBe('expression needed more memory than its limit of 32 MB');
  });

  it('replaces a killed process: the next evaluations work', async () => {
    const expressions = pool({ processes: 2 });
    await Promise.all([
      failureOf(expressions.evaluate(CATASTROPHIC_REGEX, EVIL_STRING)),
      failureOf(expressions.evaluate(CATASTROPHIC_REGEX, EVIL_STRING)),
    ]);
    const results = await Promise.all([1, 2, 3].map((n) => expressions.evaluate('n * 10', { n })));
    expect(results).toEqual([10, 20, 30]);
  });

  it('times an evaluation from its start, not from its wait in the queue', async () => {
    const expressions = pool({ processes: 1, timeoutMs: 300 });
    await expressions.evaluate('1', null);
    const stuck = failureOf(expressions.evaluate(CATASTROPHIC_REGEX, EVIL_STRING));
    // Queued behind the regex for longer than its own limit, then evaluated by the replacement.
    expect(await expressions.evaluate('"fine"', null)).toBe('fine');
    expect((await stuck).code).toBe('EXPRESSION_TIMEOUT');
  });

  it('lets a caller give up: a queued evaluation leaves the queue at once', async () => {
    const expressions = pool({ processes: 1, timeoutMs: 2000 });
    await expressions.evaluate('1', null);
    const stuck = failureOf(expressions.evaluate(CATASTROPHIC_REGEX, EVIL_STRING));
    const controller = new AbortController();
    const queued = expressions.evaluate('"late"', null, controller.signal);
    const started = performance.now();
    controller.abort(new Error('step timed out'));
    await expect(queued).rejects.toThrow('step timed out');
    expect(performance.now() - started).toBeLessThan(100);
    expect((await stuck).code).toBe('EXPRESSION_TIMEOUT');
  });

  it('keeps a process alive while it awaits an evaluation, and lets it exit once closed', async () => {
    // Nothing else holds this script's event loop: only the pool can keep it running.
    const script = `
      import { ExpressionPool } from ${JSON.stringify(new URL('../../dist/engine/expression-pool.js', import.meta.url).href)};
      const pool = new ExpressionPool({ processes: 2, timeoutMs: 1000, memoryMb: 64 });
      console.log(await pool.evaluate('6 * 7', null));
      await pool.close();
      console.log('closed');`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    expect(stdout).toBe('42\nclosed\n');
  });

  it('fails what is queued or running when closed, and everything after', async () => {
    const expressions = pool({ timeoutMs: 5000 });
    await expressions.evaluate('1', null);
    const running = failureOf(expressions.evaluate(CATASTROPHIC_REGEX, EVIL_STRING));
    const queued = failureOf(expressions.evaluate('2', null));
    await expressions.close();
    for (const failure of [await running, await queued, await failureOf(expressions.evaluate('3', null))]) {
      expect(failure).toMatchObject({ code: 'EXPRESSION_UNAVAILABLE', retriable: true });
    }
  });
});
