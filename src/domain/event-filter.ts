import { validationError } from './errors.js';

type Operator = '$in' | '$exists' | '$gt' | '$gte' | '$lt' | '$lte' | '$contains';

const OPERATORS: ReadonlySet<string> = new Set<Operator>([
  '$in',
  '$exists',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$contains',
]);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** An object whose keys all start with `$` holds operators; any other value is compared for equality. */
const isOperatorObject = (value: unknown): value is Record<string, unknown> =>
  isPlainObject(value) && Object.keys(value).length > 0 && Object.keys(value).every((k) => k.startsWith('$'));

function lookup(data: unknown, path: string): { found: boolean; value?: unknown } {
  let value = data;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key)) {
      return { found: false };
    }
    value = (value as Record<string, unknown>)[key];
  }
  return { found: true, value };
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  return (
    aKeys.length === bKeys.length &&
    aKeys.every(
      (key) =>
        Object.prototype.hasOwnProperty.call(b, key) &&
        jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
    )
  );
}

const comparable = (value: unknown): value is number | string =>
  typeof value === 'number' || typeof value === 'string';

function compare(op: '$gt' | '$gte' | '$lt' | '$lte', value: unknown, operand: unknown): boolean {
  // Numbers compare with numbers, strings (ISO dates, say) with strings; "5" is not 5.
  if (!comparable(value) || !comparable(operand) || typeof value !== typeof operand) return false;
  if (op === '$gt') return value > operand;
  if (op === '$gte') return value >= operand;
  if (op === '$lt') return value < operand;
  return value <= operand;
}

function holds(op: string, operand: unknown, found: boolean, value: unknown): boolean {
  switch (op) {
    case '$exists':
      return found === operand;
    case '$in':
      return found && Array.isArray(operand) && operand.some((item) => jsonEqual(value, item));
    case '$contains':
      if (typeof value === 'string') return typeof operand === 'string' && value.includes(operand);
      return Array.isArray(value) && value.some((item) => jsonEqual(item, operand));
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      return found && compare(op, value, operand);
    default:
      return false;
  }
}

/**
 * Whether event data passes a trigger's `filters`. Each key is a dotted path into the data
 * (`payload.amount`, array items by index: `items.0.sku`); its value is either the JSON value
 * the data must equal, or an object of operators that must all hold: `$in` (one of a list),
 * `$exists` (true/false), `$gt` `$gte` `$lt` `$lte` (numbers with numbers, strings with
 * strings) and `$contains` (a substring of a string, or an element of an array).
 * Missing or empty filters accept every event.
 *
 * @example matchesFilters({ from: 'x@y.com', 'payload.amount': { $gte: 5 } }, data)
 */
export function matchesFilters(filters: Record<string, unknown> | undefined, data: unknown): boolean {
  return Object.entries(filters ?? {}).every(([path, expected]) => {
    const { found, value } = lookup(data, path);
    if (!isOperatorObject(expected)) return found && jsonEqual(value, expected);
    return Object.entries(expected).every(([op, operand]) => holds(op, operand, found, value));
  });
}

/**
 * Checks filters when a workflow is saved, so a typo in an operator is a 400 at once
 * rather than a trigger that silently never fires.
 * @throws StepwiseError 400 naming the offending `field.<path>`.
 */
export function checkEventFilters(filters: unknown, field = 'trigger_config.filters'): void {
  if (filters === undefined) return;
  if (!isPlainObject(filters))
    throw validationError(field, `${field}: must be an object of path → condition`);
  for (const [path, condition] of Object.entries(filters)) {
    const at = `${field}.${path}`;
    if (path === '' || path.split('.').includes('')) {
      throw validationError(at, `${at}: a filter path is dot-separated keys such as payload.amount`);
    }
    if (!isPlainObject(condition) || !Object.keys(condition).some((key) => key.startsWith('$'))) continue;
    for (const [op, operand] of Object.entries(condition)) {
      if (!OPERATORS.has(op)) {
        throw validationError(
          at,
          `${at}: '${op}' is not a filter operator; use $in, $exists, $gt, $gte, $lt, $lte or $contains`,
        );
      }
      const problem = operandProblem(op as Operator, operand);
      if (problem) throw validationError(at, `${at}: ${op} ${problem}`);
    }
  }
}

function operandProblem(op: Operator, operand: unknown): string | null {
  if (op === '$in') return Array.isArray(operand) ? null : 'takes an array of values';
  if (op === '$exists') return typeof operand === 'boolean' ? null : 'takes true or false';
  if (op === '$contains') return operand === undefined ? 'takes a value' : null;
  return comparable(operand) ? null : 'takes a number or a string';
}
