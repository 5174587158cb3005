import type { TriggerConfig } from '../domain/model.js';
import type { TemplateInput, WorkflowTemplate } from '../domain/template.js';
import type { StepDefinitionInput } from '../domain/workflow.js';

// Building blocks of the shipped templates, all plain generic-tool steps. Endpoints and
// credentials are org secrets (set once, e.g. PUT /v1/secrets/CRM_BASE_URL), so document
// 000's callers send only `site_id` and the action's own fields, scheduled runs need no
// input, and tests point them at loopback stubs.

/** Document 000: every action's payload carries `site_id` (the action routes inject the key's). */
export const SITE_ID_INPUT: Record<string, TemplateInput> = {
  site_id: {
    type: 'string',
    description: 'The site the work is for; injected from the API key when absent',
    required: true,
  },
};

/** Document 003: `configuration.context`, extra instructions for the workflow's agents. */
export const CONTEXT_INPUT: Record<string, TemplateInput> = {
  context: {
    type: 'string',
    description: 'Additional instructions, e.g. "Focus on brake service and oil change queries."',
    required: false,
  },
};

export const stringInput = (description: string, required = true): TemplateInput => ({
  type: 'string',
  description,
  required,
});

/** A call to the org's CRM / REST backend: `CRM_BASE_URL` + path, with `CRM_API_KEY` as bearer token. */
export function crm(
  id: string,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH',
  path: string,
  json?: unknown,
  extra: Partial<StepDefinitionInput> = {},
): StepDefinitionInput {
  return {
    id,
    tool: 'http',
    params: {
      method,
      url: `{{ secrets.CRM_BASE_URL }}${path}`,
      headers: { Authorization: 'Bearer {{ secrets.CRM_API_KEY }}' },
      ...(json === undefined ? {} : { json }),
    },
    ...extra,
  };
}

/** A call to a service named by the secrets `<PREFIX>_URL` (base) and `<PREFIX>_TOKEN` (bearer). */
export function service(
  prefix: string,
  id: string,
  method: 'GET' | 'POST',
  path: string,
  json?: unknown,
  extra: Partial<StepDefinitionInput> = {},
): StepDefinitionInput {
  return {
    id,
    tool: 'http',
    params: {
      method,
      url: `{{ secrets.${prefix}_URL }}${path}`,
      headers: { Authorization: `Bearer {{ secrets.${prefix}_TOKEN }}` },
      ...(json === undefined ? {} : { json }),
    },
    ...extra,
  };
}

/** A GET of a public web page (a site, a competitor), read as text for an LLM to judge. */
export const fetchPage = (
  id: string,
  url: string,
  extra: Partial<StepDefinitionInput> = {},
): StepDefinitionInput => ({
  id,
  tool: 'http',
  params: { method: 'GET', url, response: 'text', timeout_ms: 20_000 },
  ...extra,
});

/**
 * An llm step whose reply must be a JSON object (parsed into `output.json`). The prompt
 * embeds earlier outputs as JSON text; `{{ input }}` hands the model everything the caller
 * sent, optional fields such as `context` included, without a missing one failing the step.
 */
export const think = (id: string, system: string, prompt: string): StepDefinitionInput => ({
  id,
  tool: 'llm',
  params: { system, prompt, json: true, temperature: 0.2 },
  retry: { max_attempts: 3, backoff: 'exponential', initial_ms: 2000, max_ms: 30_000 },
});

/** A transform over `{ input, steps }`: JSONata copes with absent optional fields. */
export const shape = (id: string, expression: string): StepDefinitionInput => ({
  id,
  tool: 'transform',
  params: { expression, data: { input: '{{ input }}', steps: '{{ steps }}' } },
});

type TemplateSpec = Omit<WorkflowTemplate, 'id' | 'trigger_config'> & { trigger_config?: TriggerConfig };

/** A template with its marketplace id (`tpl_` + slug) and, unless given, a manual trigger. */
export const defineTemplate = (spec: TemplateSpec): WorkflowTemplate => ({
  id: `tpl_${spec.slug}`,
  trigger_config: { type: 'manual', enabled: true },
  ...spec,
});
