import jsonata from 'jsonata';
import { permanentFailure } from './errors.js';

/** Bounds on one evaluation of a JSONata expression. */
export interface ExpressionLimits {
  /** Wall-clock budget for the evaluation; default 1000 ms. */
  timeoutMs?: number;
  /** How deeply function calls may nest (recursion); default 100. */
  maxDepth?: number;
  /** Longest result, in characters of JSON; default {@link MAX_RESULT_CHARS}. */
  maxResultChars?: number;
}

/**
 * Evaluates user expressions where they cannot hold the caller's event loop nor grow its
 * heap: the engine's pool of processes (`engine/expression-pool`), handed to tools in
 * their context.
 */
export interface ExpressionEvaluator {
  /**
   * The result as plain JSON, or `undefined` when the expression matched nothing.
   * @throws StepFailure as {@link evaluateExpression}, plus `EXPRESSION_TOO_LARGE` when the
   *   evaluation outgrows its memory, and the caller's `signal.reason` once it aborts.
   */
  evaluate(expression: string, data: unknown, signal?: AbortSignal): Promise<unknown>;
}

export const DEFAULT_EXPRESSION_TIMEOUT_MS = 1000;
const DEFAULT_MAX_DEPTH = 100;
/** As large as the largest HTTP body a step may fetch, so a transform can pass one through. */
export const MAX_RESULT_CHARS = 10 * 1024 * 1024;
const CACHE_SIZE = 500;
/**
 * Per-evaluation guard state travels as a binding, since one compiled expression can be
 * evaluated concurrently. The space makes the name unreachable as a `$variable`.
 */
const GUARD_BINDING = 'stepwise guard';
const ENTRY_HOOK = Symbol.for('jsonata.__evaluate_entry');
const EXIT_HOOK = Symbol.for('jsonata.__evaluate_exit');
/** AST node types that invoke a function: the only way an evaluation can nest without bound. */
const CALL_NODES = new Set(['function', 'partial', 'apply']);

interface Guard {
  deadline: number;
  maxDepth: number;
  depth: number;
}

interface JsonataError {
  code?: string;
  message?: string;
  position?: number;
  token?: string;
}

/** Thrown from the hooks; caught in evaluateExpression so JSONata's own error decoration leaves it alone. */
class LimitExceeded {
  constructor(
    readonly code: 'EXPRESSION_TIMEOUT' | 'EXPRESSION_FAILED',
    readonly message: string,
  ) {}
}

const cache = new Map<string, jsonata.Expression>();

function compile(expression: string): jsonata.Expression {
  const cached = cache.get(expression);
  if (cached) {
    // Re-inserting moves the entry to the back of Map's insertion order: an LRU.
    cache.delete(expression);
    cache.set(expression, cached);
    return cached;
  }
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(expression);
  } catch (error) {
    const { message, position, token } = error as JsonataError;
    const near = token === undefined ? '' : ` near '${token}'`;
    throw permanentFailure(
      'EXPRESSION_INVALID',
      `expression is not valid JSONata: ${message ?? 'syntax error'} (at position ${position ?? 0}${near})`,
      { position, token },
    );
  }
  installGuards(compiled);
  cache.set(expression, compiled);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return compiled;
}

function installGuards(compiled: jsonata.Expression): void {
  // `assign` binds in the expression's own frame; the typings only admit string names.
  const assign = compiled.assign as (name: string | symbol, value: unknown) => void;
  assign(ENTRY_HOOK, (node: jsonata.ExprNode, _input: unknown, env: jsonata.Environment) => {
    const guard = env.lookup(GUARD_BINDING) as Guard;
    if (CALL_NODES.has(node.type) && ++guard.depth > guard.maxDepth) {
      throw new LimitExceeded(
        'EXPRESSION_FAILED',
        `expression nests function calls deeper than ${guard.maxDepth} levels (unbounded recursion?)`,
      );
    }
    if (performance.now() > guard.deadline) {
      throw new LimitExceeded('EXPRESSION_TIMEOUT', 'expression took too long to evaluate (infinite loop?)');
    }
  });
  assign(EXIT_HOOK, (node: jsonata.ExprNode, _input: unknown, env: jsonata.Environment) => {
    if (CALL_NODES.has(node.type)) (env.lookup(GUARD_BINDING) as Guard).depth--;
  });
}

/** The message of a timeout, whether the evaluation noticed its deadline or was stopped from outside. */
export const timeoutMessage = (timeoutMs: number): string =>
  `expression took too long to evaluate (infinite loop?) (limit ${timeoutMs} ms)`;

/**
 * Evaluates a JSONata expression against `data` into the JSON text of its result (JSONata's
 * sequence markers and functions fall away), or `undefined` when it matched nothing.
 * Bounded in time and in function-call depth, checked between JSONata's steps: a native
 * built-in (a pathological regex, a huge `$sort`) runs to completion between checks, so
 * a server runs this in a process it can stop (`engine/expression-pool`). Nothing is
 * evaluated as JavaScript. Compiled expressions are cached per process.
 *
 * @throws StepFailure (non-retriable) `EXPRESSION_INVALID` for a syntax error (naming the
 *   position), `EXPRESSION_TIMEOUT` past the time budget, `EXPRESSION_FAILED` for a
 *   runtime error or recursion past `maxDepth`, `EXPRESSION_TOO_LARGE` for a result past
 *   `maxResultChars`.
 */
export async function evaluateExpressionToJson(
  expression: string,
  data: unknown,
  limits: ExpressionLimits = {},
): Promise<string | undefined> {
  const compiled = compile(expression);
  const timeoutMs = limits.timeoutMs ?? DEFAULT_EXPRESSION_TIMEOUT_MS;
  const guard: Guard = {
    deadline: performance.now() + timeoutMs,
    maxDepth: limits.maxDepth ?? DEFAULT_MAX_DEPTH,
    depth: 0,
  };
  let result: unknown;
  try {
    result = await compiled.evaluate(data, { [GUARD_BINDING]: guard });
  } catch (error) {
    if (error instanceof LimitExceeded) {
      throw permanentFailure(
        error.code,
        error.code === 'EXPRESSION_TIMEOUT' ? timeoutMessage(timeoutMs) : error.message,
      );
    }
    const { code, message, position } = error as JsonataError;
    const at = position === undefined ? '' : ` (at position ${position})`;
    throw permanentFailure('EXPRESSION_FAILED', `expression failed: ${message ?? String(error)}${at}`, {
      jsonata_code: code,
      position,
    });
  }
  const maxResultChars = limits.maxResultChars ?? MAX_RESULT_CHARS;
  const tooLarge = (size: string) =>
    permanentFailure(
      'EXPRESSION_TOO_LARGE',
      `expression result is ${size} characters of JSON, over the limit of ${maxResultChars}`,
    );
  let text: string | undefined;
  try {
    text = result === undefined ? undefined : JSON.stringify(result);
  } catch (error) {
    // A result past the longest string the engine can build.
    if (error instanceof RangeError) throw tooLarge('more');
    throw error;
  }
  if (text !== undefined && text.length > maxResultChars) throw tooLarge(String(text.length));
  return text;
}

/**
 * {@link evaluateExpressionToJson} parsed: plain JSON, or `undefined` when nothing matched.
 * In-process, so for trusted expressions (the shipped templates) and tests; a server
 * evaluates user expressions through an {@link ExpressionEvaluator}.
 *
 * @example await evaluateExpression('$sum(items.price)', { items: [{ price: 2 }, { price: 3 }] }) // 5
 */
export async function evaluateExpression(
  expression: string,
  data: unknown,
  limits: ExpressionLimits = {},
): Promise<unknown> {
  const text = await evaluateExpressionToJson(expression, data, limits);
  return text === undefined ? undefined : JSON.parse(text);
}

/**
 * The effective boolean value of a result, as JSONata's `$boolean` defines it: empty
 * strings, 0, null, empty arrays, empty objects, functions and `undefined` are false; an
 * array is true when any member is.
 */
export function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(isTruthy);
  if (typeof value === 'string') return value.length > 0;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'boolean') return value;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return false;
}
