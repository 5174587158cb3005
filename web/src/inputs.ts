// The run-now input: JSON text kept in step with per-input fields (pure, unit-tested).
import type { InputSpec } from './api';

const placeholderFor = (spec: InputSpec): unknown => {
  if (spec.default !== undefined) return spec.default;
  switch (spec.type) {
    case 'number':
      return 0;
    case 'boolean':
      return false;
    case 'object':
      return {};
    case 'array':
      return [];
    default:
      return '';
  }
};

/** The input a workflow's declared inputs (`metadata.inputs`) suggest, or `{}`. */
export function initialInput(inputs: Record<string, InputSpec> | undefined): string {
  if (!inputs || Object.keys(inputs).length === 0) return '{}';
  return JSON.stringify(
    Object.fromEntries(Object.entries(inputs).map(([name, spec]) => [name, placeholderFor(spec)])),
    null,
    2,
  );
}

/** The object in the JSON text, or null while it is not an object. */
export function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = text.trim() === '' ? {} : JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** `json` with `name` set to `value` (the JSON text is the one source of truth). */
export function withField(json: string, name: string, value: unknown): string {
  const object = parseObject(json) ?? {};
  return JSON.stringify({ ...object, [name]: value }, null, 2);
}
