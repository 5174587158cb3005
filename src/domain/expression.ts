import jsonata from 'jsonata';
import { permanentFailure } from './errors.js';

/** Bounds on one evaluation of a JSONata expression. */
export interface ExpressionLimits {
  /** Wall-clock budget for the evaluation; default 1000 ms. */
  timeoutMs?: number;
  /** How deeply function calls may nest (recursion); default 100. */
  maxDepth?: number;
}

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_MAX_DEPTH = 100;
const CACHE_SIZE = 500;
/**
 * JSONata evaluates on microtasks only, so a long evaluation would starve timers,
 * heartbeats and sockets; the entry hook hands the event loop a turn this often.
 */
const YIELD_EVERY_MS = 10;
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
  nextYield: number;
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
  assign(ENTRY_HOOK, async (node: jsonata.ExprNode, _input: unknown, env: jsonata.Environment) => {
    const guard = env.lookup(GUARD_BINDING) as Guard;
    if (CALL_NODES.has(node.type) && ++guard.depth > guard.maxDepth) {
      throw new LimitExceeded(
        'EXPRESSION_FAILED',
        `expression nests function calls deeper than ${guard.maxDepth} levels (unbounded recursion?)`,
      );
    }
    const now = performance.now();
    if (now > guard.deadline) {
      throw new LimitExceeded('EXPRESSION_TIMEOUT', 'expression took too long to evaluate (infinite loop?)');
    }
    if (now > guard.nextYield) {
      guard.nextYield = now + YIELD_EVERY_MS;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  });
  assign(EXIT_HOOK, (node: jsonata.ExprNode, _input: unknown, env: jsonata.Environment) => {
    if (CALL_NODES.has(node.type)) (env.lookup(GUARD_BINDING) as Guard).depth--;
  });
}

/** JSONata marks sequences with extra properties and may return functions: keep plain JSON only. */
function toJson(value: unknown): unknown {
  if (value === undefined) return undefined;
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}

/**
 * Evaluates a JSONata expression against `data`, bounded in time and in function-call
 * depth. Nothing is evaluated as JavaScript. The result is plain JSON, or `undefined`
 * when the expression matched nothing. Native built-ins (a huge `$sort`, a pathological
 * regex) run to completion between checks, so the bound is checked, not preemptive.
 *
 * @throws StepFailure (non-retriable) `EXPRESSION_INVALID` for a syntax error (naming the
 *   position), `EXPRESSION_TIMEOUT` past the time budget, `EXPRESSION_FAILED` for a
 *   runtime error or recursion past `maxDepth`.
 * @example await evaluateExpression('$sum(items.price)', { items: [{ price: 2 }, { price: 3 }] }) // 5
 */
export async function evaluateExpression(
  expression: string,
  data: unknown,
  limits: ExpressionLimits = {},
): Promise<unknown> {
  const compiled = compile(expression);
  const start = performance.now();
  const guard: Guard = {
    deadline: start + (limits.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    nextYield: start + YIELD_EVERY_MS,
    maxDepth: limits.maxDepth ?? DEFAULT_MAX_DEPTH,
    depth: 0,
  };
  try {
    return toJson(await compiled.evaluate(data, { [GUARD_BINDING]: guard }));
  } catch (error) {
    if (error instanceof LimitExceeded) {
      const budget =
        error.code === 'EXPRESSION_TIMEOUT' ? ` (limit ${limits.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms)` : '';
      throw permanentFailure(error.code, `${error.message}${budget}`);
    }
    const { code, message, position } = error as JsonataError;
    const at = position === undefined ? '' : ` (at position ${position})`;
    throw permanentFailure('EXPRESSION_FAILED', `expression failed: ${message ?? String(error)}${at}`, {
      jsonata_code: code,
      position,
    });
  }
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
