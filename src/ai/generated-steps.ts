import { sameToolSet, toolSetOf } from '../domain/generation.js';
import { StepwiseError } from '../domain/errors.js';
import { parseWorkflowDefinition, type StepDefinition } from '../domain/workflow.js';
import type { ToolRegistry } from '../tools/registry.js';
import { MAX_GENERATED_STEPS } from './step-schema.js';

/** A model's answer checked: the steps, or every problem found, each naming where it is. */
export type CheckedSteps = { ok: true; steps: StepDefinition[] } | { ok: false; errors: string[] };

const isTemplate = (value: unknown): boolean => typeof value === 'string' && value.includes('{{');

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (isTemplate(value) || value === null || typeof value !== 'object') return value;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/**
 * Each step's params against its tool's schema, as a run checks them after templating; a
 * value that is still a `{{ … }}` template can only be checked then, so it is left alone.
 */
function paramProblems(steps: readonly StepDefinition[], tools: ToolRegistry): string[] {
  const problems: string[] = [];
  steps.forEach((step, index) => {
    const parsed = tools.get(step.tool)?.params.safeParse(step.params);
    if (!parsed || parsed.success) return;
    for (const issue of parsed.error.issues) {
      if (isTemplate(valueAt(step.params, issue.path))) continue;
      const field = ['steps', String(index), 'params', ...issue.path.map(String)].join('.');
      problems.push(`${field}: ${issue.message} (step '${step.id}', tool '${step.tool}')`);
    }
  });
  return problems;
}

/**
 * Checks what the model answered: `{ "steps": [...] }` (a bare array is taken too), valid as
 * a workflow by the rules every saved workflow meets, params valid for their tools, 1 to MAX_GENERATED_STEPS steps, and, when
 * `avoidToolSet` is given, a tool set different from it.
 */
export function checkGeneratedSteps(
  answer: unknown,
  tools: ToolRegistry,
  avoidToolSet?: readonly string[],
): CheckedSteps {
  const raw = Array.isArray(answer) ? answer : (answer as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(raw)) {
    return {
      ok: false,
      errors: ['the answer must be a JSON object {"steps": [...]} with an array of steps'],
    };
  }
  if (raw.length === 0 || raw.length > MAX_GENERATED_STEPS) {
    return {
      ok: false,
      errors: [`steps: give between 1 and ${MAX_GENERATED_STEPS} steps (got ${raw.length})`],
    };
  }
  let steps: StepDefinition[];
  try {
    steps = parseWorkflowDefinition({ steps: raw }, (tool) => tools.has(tool)).steps;
  } catch (error) {
    if (!(error instanceof StepwiseError)) throw error;
    const known = tools.list().map((tool) => tool.name);
    const hint = error.message.includes('unknown tool') ? ` (the tools are: ${known.join(', ')})` : '';
    return { ok: false, errors: [`${error.message}${hint}`] };
  }
  const problems = paramProblems(steps, tools);
  if (avoidToolSet && sameToolSet(toolSetOf(steps), avoidToolSet)) {
    problems.push(
      `the steps use the same tools as before (${avoidToolSet.join(', ')}); use a different set of tools`,
    );
  }
  return problems.length > 0 ? { ok: false, errors: problems } : { ok: true, steps };
}
