import type { ResponseFormat } from './llm-client.js';
import type { ToolDescription } from '../tools/registry.js';

/** Generated workflows stay short: a long one is more likely wrong than useful. */
export const MAX_GENERATED_STEPS = 20;

/**
 * The `response_format` that constrains the model to `{ "steps": [...] }` where each step is
 * one tool's shape (`anyOf`, one branch per tool): `tool` is that tool's name and `params`
 * its params JSON Schema. Not `strict`: OpenAI's strict mode needs every property required,
 * which optional params are not; the reply is validated anyway.
 */
export function stepsResponseFormat(tools: readonly ToolDescription[]): ResponseFormat {
  const stepOf = (tool: ToolDescription): Record<string, unknown> => {
    const { $schema: _dialect, ...params } = tool.paramsJsonSchema;
    return {
      type: 'object',
      description: tool.description,
      properties: {
        id: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,63}$' },
        name: { type: 'string', maxLength: 200 },
        tool: { type: 'string', enum: [tool.name] },
        params,
        when: { type: 'string', maxLength: 2000 },
        continue_on_error: { type: 'boolean' },
      },
      required: ['id', 'tool', 'params'],
      additionalProperties: false,
    };
  };
  return {
    type: 'json_schema',
    json_schema: {
      name: 'workflow_steps',
      description: 'The ordered steps of a Stepwise workflow',
      strict: false,
      schema: {
        type: 'object',
        properties: {
          steps: {
            type: 'array',
            minItems: 1,
            maxItems: MAX_GENERATED_STEPS,
            items: { anyOf: tools.map(stepOf) },
          },
        },
        required: ['steps'],
        additionalProperties: false,
      },
    },
  };
}
