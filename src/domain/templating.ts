import { permanentFailure } from './errors.js';

/** What `{{ … }}` references resolve against. */
export interface TemplateScope {
  input: unknown;
  steps: Record<string, { output: unknown }>;
  secrets: Record<string, string>;
  run: { id: string; workflow_id: string; attempt: number };
}

const SEGMENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
const MAX_DEPTH = 32;

/** One `{{ … }}` in a text: where it starts and ends, and what it refers to (trimmed). */
export interface TemplateReference {
  start: number;
  /** Just past the closing `}}`. */
  end: number;
  reference: string;
}

/**
 * Each `{{ … }}` of `text`, left to right: `{{`, at least one character that is not a
 * brace, then `}}`. A scanner rather than one regular expression: the regex
 * `\{\{\s*([^{}]+?)\s*\}\}` backtracks cubically on `{{` and a long run of spaces (3,000
 * characters held the event loop for 24 s). Here each character is looked at a bounded
 * number of times: a failed opening is retried only from the brace that stopped it.
 *
 * @example [...templateReferences('a {{ input.x }} b')] // [{ start: 2, end: 15, reference: 'input.x' }]
 */
export function* templateReferences(text: string): Generator<TemplateReference> {
  let from = 0;
  for (;;) {
    const start = text.indexOf('{{', from);
    if (start < 0) return;
    const close = nextBrace(text, start + 2);
    if (close > start + 2 && text[close] === '}' && text[close + 1] === '}') {
      yield { start, end: close + 2, reference: text.slice(start + 2, close).trim() };
      from = close + 2;
    } else {
      // What the scan passed holds no brace, so the next `{{` starts at the brace that stopped
      // it, or at this one's second `{` when a brace came at once (`{{{ x }}`).
      from = close === start + 2 ? start + 1 : close;
    }
  }
}

const BRACE = /[{}]/g;
const OPEN = 123;
const CLOSE = 125;

/** Where the first brace at or after `from` is, else the text's length (one character class: no backtracking). */
function nextBrace(text: string, from: number): number {
  const code = text.charCodeAt(from);
  if (code === OPEN || code === CLOSE) return from;
  BRACE.lastIndex = from;
  return BRACE.exec(text)?.index ?? text.length;
}

/** The reference of a string that is exactly one `{{ … }}` (give or take surrounding whitespace). */
function wholeReference(text: string): string | null {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{{')) return null;
  const first = templateReferences(trimmed).next();
  return !first.done && first.value.start === 0 && first.value.end === trimmed.length
    ? first.value.reference
    : null;
}

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
    if (!value.includes('{{')) return value;
    const whole = wholeReference(value);
    if (whole !== null) return resolve(whole, scope);
    let out = '';
    let last = 0;
    for (const { start, end, reference } of templateReferences(value)) {
      out += value.slice(last, start) + asText(resolve(reference, scope));
      last = end;
    }
    return out + value.slice(last);
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
    for (const { reference: ref } of templateReferences(value)) {
      if (ref.startsWith('secrets.')) found.add(ref.slice('secrets.'.length).split(/[.[]/)[0]!);
    }
  } else if (Array.isArray(value)) {
    for (const item of value) referencedSecrets(item, found);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) referencedSecrets(item, found);
  }
  return found;
}
