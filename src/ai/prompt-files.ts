import { readFileSync } from 'node:fs';

/** The prompt files under `src/ai/prompts/` (copied to `dist/ai/prompts/` by the build). */
export type PromptName = 'generate-steps' | 'generate-request' | 'repair-steps';

const cache = new Map<PromptName, string>();

/** Read once per process, next to this module, so the same code works from `src/` (tests) and `dist/`. */
function promptText(name: PromptName): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./prompts/${name}.md`, import.meta.url), 'utf8');
    cache.set(name, text);
  }
  return text;
}

// `{{name}}` is a value; `{{#name}}…{{/name}}` is kept only when `name` is not empty. Step
// templates such as `{{ input.x }}` have spaces and dots, so they are never taken for one.
const SECTION = /\{\{#([a-z_]+)\}\}\n?([\s\S]*?)\{\{\/\1\}\}\n?/g;
const VALUE = /\{\{([a-z_]+)\}\}/g;

/**
 * The prompt `name` with its placeholders filled from `values`.
 * @throws Error naming a placeholder the file uses but `values` lacks (a bug, not user input).
 */
export function renderPrompt(name: PromptName, values: Record<string, string>): string {
  const lookup = (key: string): string => {
    const value = values[key];
    if (value === undefined) throw new Error(`prompt '${name}' uses {{${key}}}, which was not given`);
    return value;
  };
  return promptText(name)
    .replace(SECTION, (_match, key: string, body: string) => (lookup(key) === '' ? '' : body))
    .replace(VALUE, (_match, key: string) => lookup(key))
    .trim();
}
