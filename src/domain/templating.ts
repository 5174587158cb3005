import { permanentFailure } from './errors.js';

/** What `{{ … }}` references resolve against. */
export interface TemplateScope {
  input: unknown;
  steps: Record<string, { output: unknown }>;
  secrets: Record<string, string>;
  run: { id: string; workflow_id: string; attempt: number };
}

const WHOLE = /^\s*\{\{\s*([^{}]+?)\s*\}\}\s*$/;
const EMBEDDED = /\{\{\s*([^{}]+?)\s*\}\}/g;
const SEGMENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
const MAX_DEPTH = 32;

/** Splits `steps.fetch.output.items[0].name` into `['steps','fetch','output','items','0','name']`. */
function parsePath(reference: string): string[] {
  const parts: string[] = [];
  for (const raw of reference.split('.')) {
    const match = /^([^[\]]+)((?:\[\d+\])*)$/.exec(raw);
    if (!match || !SEGMENT.test(match[1]!)) {
      throw permanentFailure('TEMPLATE_INVALID', `template reference '${reference}' is not a dotted path`);
    }
    parts.push(match[1]!);
    for (const index of match[2]!.matchAll(/\[(\d+)\]/g)) parts.push(index[1]!);
  }
  return parts;
}

function resolve(reference: string, scope: TemplateScope): unknown {
  const path = parsePath(reference);
  const root = path[0];
  if (root !== 'input' && root !== 'steps' && root !== 'secrets' && root !== 'run') {
    throw permanentFailure(
      'TEMPLATE_INVALID',
      `template reference '${reference}' must start with input, steps, secrets or run`,
    );
  }
  let value: unknown = scope;
  for (const [i, key] of path.entries()) {
    const isObject = value !== null && typeof value === 'object';
    if (!isObject || !Object.prototype.hasOwnProperty.call(value, key)) {
      const missing = path.slice(0, i + 1).join('.');
      const hint = root === 'steps' && i === 1 ? ' (no such step has completed before this one)' : '';
      throw permanentFailure(
        'TEMPLATE_MISSING_REFERENCE',
        `template reference '${reference}': '${missing}' is missing${hint}`,
      );
    }
    value = (value as Record<string, unknown>)[key];
  }
  if (value === undefined) {
    throw permanentFailure('TEMPLATE_MISSING_REFERENCE', `template reference '${reference}' is undefined`);
  }
  return value;
}

const asText = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : value !== null && typeof value === 'object'
      ? JSON.stringify(value)
      : String(value);

/**
 * Renders step params. A string that is exactly one `{{ ref }}` keeps the referenced
 * value's type (objects stay objects); references inside longer strings are interpolated
 * as text. A reference to something missing throws a non-retriable step failure naming it.
 *
 * @example renderTemplate({ url: 'https://x/{{ input.id }}', body: '{{ steps.a.output }}' }, scope)
 */
export function renderTemplate(value: unknown, scope: TemplateScope, depth = 0): unknown {
  if (depth > MAX_DEPTH)
    throw permanentFailure('TEMPLATE_TOO_DEEP', `params nest deeper than ${MAX_DEPTH} levels`);
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return resolve(whole[1]!, scope);
    if (!value.includes('{{')) return value;
    return value.replace(EMBEDDED, (_match, reference: string) => asText(resolve(reference.trim(), scope)));
  }
  if (Array.isArray(value)) return value.map((item) => renderTemplate(item, scope, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = renderTemplate(item, scope, depth + 1);
    return out;
  }
  return value;
}

/** Secret names a params tree refers to, so only those are decrypted for a step. */
export function referencedSecrets(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    for (const match of value.matchAll(EMBEDDED)) {
      const ref = match[1]!.trim();
      if (ref.startsWith('secrets.')) found.add(ref.slice('secrets.'.length).split(/[.[]/)[0]!);
    }
  } else if (Array.isArray(value)) {
    for (const item of value) referencedSecrets(item, found);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) referencedSecrets(item, found);
  }
  return found;
}
