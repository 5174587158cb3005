import { z } from 'zod';
import { LlmClient, LlmError } from '../ai/llm-client.js';
import type { ChatMessage, ResponseFormat } from '../ai/llm-client.js';
import { StepFailure, permanentFailure } from '../domain/errors.js';
import type { StepTool } from './tool.js';

const message = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(1_000_000),
});

const llmParamsSchema = z
  .strictObject({
    prompt: z.string().min(1).max(1_000_000).optional(),
    messages: z.array(message).min(1).max(200).optional(),
    system: z.string().max(100_000).optional(),
    /** Defaults to LLM_MODEL. */
    model: z.string().min(1).max(200).optional(),
    temperature: z.number().min(0).max(2).optional(),
    /** Ask for a JSON reply (OpenAI `json_object` mode); the output then has `json`. */
    json: z.boolean().optional(),
    /** Ask for a JSON reply following this JSON Schema (OpenAI `json_schema` mode). */
    json_schema: z.record(z.string(), z.unknown()).optional(),
    max_tokens: z.number().int().min(1).max(1_000_000).optional(),
  })
  .refine((p) => (p.prompt === undefined) !== (p.messages === undefined), {
    message: 'give either prompt or messages',
    path: ['prompt'],
  })
  .refine((p) => !(p.json === false && p.json_schema !== undefined), {
    message: 'json_schema asks for JSON; drop json: false',
    path: ['json'],
  });
/** Params of the `llm` tool, as validated. */
export type LlmParams = z.infer<typeof llmParamsSchema>;

/** OpenAI refuses json_object mode unless the conversation says "JSON" somewhere. */
const JSON_INSTRUCTION = 'Reply with one valid JSON value and nothing else.';

function buildMessages(params: LlmParams, wantJson: boolean): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (params.system !== undefined) messages.push({ role: 'system', content: params.system });
  messages.push(...(params.messages ?? [{ role: 'user', content: params.prompt! }]));
  if (wantJson && !messages.some((m) => /json/i.test(m.content)))
    messages.unshift({ role: 'system', content: JSON_INSTRUCTION });
  return messages;
}

function responseFormat(params: LlmParams): ResponseFormat | undefined {
  if (params.json_schema)
    return { type: 'json_schema', json_schema: { name: 'output', schema: params.json_schema } };
  return params.json ? { type: 'json_object' } : undefined;
}

/** The `llm` tool: one chat completion against the configured OpenAI-compatible provider. */
export const llmTool: StepTool<LlmParams> = {
  name: 'llm',
  description:
    'Asks the configured LLM (OpenAI-compatible; LLM_BASE_URL, LLM_API_KEY, LLM_MODEL): give `prompt` or ' +
    '`messages` ([{ role, content }]), optional `system`, `model`, `temperature`, `max_tokens`. With json: true, or ' +
    'a JSON Schema in json_schema, the reply must be JSON and is parsed into `json` (a reply that is not JSON is ' +
    'retried). Output: { text, json?, usage: { prompt_tokens, completion_tokens, total_tokens }, model }.',
  params: llmParamsSchema,
  async execute(params, ctx) {
    const config = ctx.settings.llm;
    if (!config) {
      throw permanentFailure(
        'LLM_NOT_CONFIGURED',
        'the llm tool needs LLM_BASE_URL (and LLM_API_KEY, LLM_MODEL) to be set',
      );
    }
    const format = responseFormat(params);
    try {
      const result = await new LlmClient(config).chat({
        messages: buildMessages(params, format !== undefined),
        model: params.model,
        temperature: params.temperature,
        max_tokens: params.max_tokens,
        response_format: format,
        signal: ctx.signal,
      });
      const output = {
        text: result.content,
        ...(format && { json: result.parsed }),
        usage: result.usage,
        model: result.model,
      };
      return { kind: 'done', output };
    } catch (error) {
      if (!(error instanceof LlmError)) throw error;
      throw new StepFailure(error.code, error.message, {
        retriable: error.retriable,
        retryAfterMs: error.retryAfterMs,
        details: error.upstreamStatus === undefined ? undefined : { status: error.upstreamStatus },
        cause: error,
      });
    }
  },
};
