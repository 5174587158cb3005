import { sameToolSet, toolSetOf } from './generation.js';
import type { TemplateInput, WorkflowTemplate } from './template.js';
import type { StepDefinitionInput } from './workflow.js';

/** What the catalogue planner is asked to plan for. */
export interface PlanningRequest {
  title: string;
  description: string;
  /** With force_different_tools: the tool set the new steps must differ from. */
  avoidToolSet?: readonly string[];
}

/** A plan made without an LLM: a template's steps, or a minimal placeholder when nothing matched. */
export interface CataloguePlan {
  /** The template copied, or null for the placeholder. */
  template: WorkflowTemplate | null;
  steps: StepDefinitionInput[];
  timeout_ms?: number;
  credit_cost: number;
  inputs: Record<string, TemplateInput>;
  /** Why these steps, in plain words, for `generation.note`. */
  note: string;
}

// Words that say nothing about what a workflow does.
const STOP_WORDS = new Set(
  (
    'a an and are as at be by for from get in into is it its of on or our the this that to up ' +
    'with we you your my me all any every each new workflow workflows automate automation step steps'
  ).split(' '),
);

/** Lower-case words of 3+ letters, camelCase split, plural `s` dropped, stop words removed. */
export function wordsOf(text: string): Set<string> {
  const words = text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .map((word) => (word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word))
    .filter((word) => word.length >= 3 && !STOP_WORDS.has(word));
  return new Set(words);
}

// A keyword is the template author's own statement of what it is for: it weighs most.
const WEIGHT = { keyword: 3, title: 2, description: 1 } as const;

/** How well a template matches the request's words, and which words matched. */
export function scoreTemplate(
  request: Set<string>,
  template: WorkflowTemplate,
): { score: number; matched: string[] } {
  const keywords = wordsOf(template.keywords.join(' '));
  const title = wordsOf(`${template.title} ${template.slug}`);
  const description = wordsOf(template.description);
  let score = 0;
  const matched: string[] = [];
  for (const word of request) {
    const points =
      (keywords.has(word) ? WEIGHT.keyword : 0) +
      (title.has(word) ? WEIGHT.title : 0) +
      (description.has(word) ? WEIGHT.description : 0);
    if (points > 0) matched.push(word);
    score += points;
  }
  return { score, matched };
}

const NO_LLM = 'No LLM is configured (LLM_BASE_URL is unset)';

/** Two llm-free placeholders, so one always differs from any tool set to avoid. */
function placeholderSteps(title: string): StepDefinitionInput[][] {
  const record: StepDefinitionInput = {
    id: 'record',
    tool: 'log',
    params: { message: `${title}: placeholder step; replace it with real steps`, data: '{{ input }}' },
  };
  return [
    [
      { id: 'collect', tool: 'transform', params: { expression: '$', data: '{{ input }}' } },
      { ...record, params: { ...record.params, data: '{{ steps.collect.output }}' } },
    ],
    [record],
  ];
}

/**
 * The deterministic planner used when no LLM is configured: scores every template by the
 * words its keywords, title and description share with the request's title and description,
 * and copies the best one (ties go to the earlier template, so the answer is stable). With
 * `avoidToolSet`, templates using exactly that tool set are passed over. When nothing
 * matches, it returns a minimal valid placeholder and says so.
 */
export function planFromCatalogue(
  request: PlanningRequest,
  catalogue: readonly WorkflowTemplate[],
): CataloguePlan {
  const words = wordsOf(`${request.title} ${request.description}`);
  const differs = (steps: readonly StepDefinitionInput[]): boolean =>
    request.avoidToolSet === undefined || !sameToolSet(toolSetOf(steps), request.avoidToolSet);
  let best: { template: WorkflowTemplate; score: number; matched: string[] } | null = null;
  for (const template of catalogue) {
    if (!differs(template.steps)) continue;
    const { score, matched } = scoreTemplate(words, template);
    if (score > 0 && (best === null || score > best.score)) best = { template, score, matched };
  }
  if (best) {
    const { template, matched } = best;
    return {
      template,
      steps: structuredClone(template.steps),
      ...(template.timeout_ms !== undefined && { timeout_ms: template.timeout_ms }),
      credit_cost: template.credit_cost,
      inputs: structuredClone(template.inputs),
      note: `${NO_LLM}, so the steps were copied from the catalogue template '${template.slug}' (${template.title}), which matched on: ${matched.join(', ')}.`,
    };
  }
  const steps = placeholderSteps(request.title).find(differs)!;
  const why =
    request.avoidToolSet === undefined
      ? 'no catalogue template matched the title or description'
      : 'no catalogue template with a different tool set matched the title or description';
  return {
    template: null,
    steps,
    credit_cost: 0,
    inputs: {},
    note: `${NO_LLM} and ${why}, so this is a minimal placeholder (${toolSetOf(steps).join(' + ')}); edit its steps.`,
  };
}
