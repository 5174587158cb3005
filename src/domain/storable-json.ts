/**
 * JSON values as both stores keep them. SQLite keeps JSON as text and gives back any
 * string; PostgreSQL's JSONB refuses a lone UTF-16 surrogate (`\ud800` with no partner)
 * and the NUL character (`\u0000`), failing the whole statement that carries one. Every
 * such character, in a string or an object key, becomes U+FFFD, the replacement character
 * Unicode reserves for "a character that could not be represented": it is what a UTF-8
 * decoder writes for an unpaired surrogate, so the text keeps its length and shows where
 * something was lost, and both stores then hold and return the same value.
 */

/** A value JSON can hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Thrown for a value JSON cannot hold at all (a BigInt, a cycle); names where it is. */
export class NotJsonError extends TypeError {
  constructor(
    /** Where the value sits, e.g. `$.body.items[2]`. */
    readonly path: string,
    what: string,
  ) {
    super(`${path} ${what}, which JSON cannot hold`);
    this.name = 'NotJsonError';
  }
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// How JSON.stringify writes those characters: as escapes (it writes paired surrogates as
// themselves). An escaped backslash followed by `u0000` also matches; that costs only the
// slow path, which leaves such text as it is.
const UNSTORABLE_ESCAPE = /\\u(?:0000|d[89a-f])/i;

/** `text` with each lone surrogate and NUL replaced by U+FFFD. */
export function toStorableString(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd').replaceAll('\u0000', '\ufffd');
}

/**
 * The value both stores keep for `value`: what `JSON.parse(JSON.stringify(value))` gives
 * (`toJSON` applied, `undefined`, functions and symbols dropped from objects and `null` in
 * arrays, NaN and ±Infinity `null`, -0 `0`; `undefined` itself is `null`), with lone
 * surrogates and NUL in strings and keys replaced by U+FFFD. Two keys that become equal
 * keep the later one's value, as a repeated key does in JSON. Always a fresh copy.
 * @throws NotJsonError for a BigInt or a cycle, naming its path, or a value nested too deeply.
 * @example
 * toStorableJson({ body: 'a\u0000b', '\udfff': [undefined, NaN] }) // { body: 'a\ufffdb', '\ufffd': [null, null] }
 */
export function toStorableJson(value: unknown): JsonValue {
  try {
    return storable(value, '', '$', new Set()) ?? null;
  } catch (error) {
    // JSON.parse builds values nested deeper than a recursive walk (or JSON.stringify) can go.
    if (error instanceof RangeError) throw new NotJsonError('$', 'is nested too deeply');
    throw error;
  }
}

/**
 * `JSON.stringify(toStorableJson(value))`, for the stores' JSON columns. Values without a
 * character to replace (nearly all) cost one `JSON.stringify` and one scan of its text.
 */
export function toStorableJsonText(value: unknown): string {
  const text = JSON.stringify(value ?? null) ?? 'null';
  return UNSTORABLE_ESCAPE.test(text) ? JSON.stringify(toStorableJson(JSON.parse(text))) : text;
}

/** The storable form of `value`, or undefined where JSON.stringify would leave it out. */
function storable(value: unknown, key: string, path: string, ancestors: Set<object>): JsonValue | undefined {
  let current = value;
  if (
    typeof current === 'object' &&
    current !== null &&
    typeof (current as { toJSON?: unknown }).toJSON === 'function'
  ) {
    current = (current as { toJSON(key: string): unknown }).toJSON(key);
  }
  if (current instanceof Number || current instanceof String || current instanceof Boolean) {
    current = current.valueOf();
  }
  switch (typeof current) {
    case 'string':
      return toStorableString(current);
    case 'number':
      return Number.isFinite(current) ? current + 0 : null;
    case 'boolean':
      return current;
    case 'bigint':
      throw new NotJsonError(path, 'is a BigInt');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (current === null) return null;
  const object = current as object;
  if (ancestors.has(object)) throw new NotJsonError(path, 'refers to an object that contains it');
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      return object.map(
        (item, index) => storable(item, String(index), `${path}[${index}]`, ancestors) ?? null,
      );
    }
    const result: Record<string, JsonValue> = {};
    for (const [name, item] of Object.entries(object)) {
      const stored = storable(item, name, `${path}.${name}`, ancestors);
      // defineProperty, because assigning a `__proto__` key would set the prototype instead.
      if (stored !== undefined) {
        Object.defineProperty(result, toStorableString(name), {
          value: stored,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    return result;
  } finally {
    ancestors.delete(object);
  }
}
