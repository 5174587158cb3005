import type { GenerationRequest } from '../domain/generation.js';
import type { TriggerConfig } from '../domain/model.js';
import type { StepDefinition } from '../domain/workflow.js';
import type { ToolRegistry } from '../tools/registry.js';
import { checkGeneratedSteps } from './generated-steps.js';
import { LlmError, type ChatMessage, type LlmClient } from './llm-client.js';
import { renderPrompt } from './prompt-files.js';
import { stepsResponseFormat } from './step-schema.js';

/** What to generate steps for. */
export interface StepGenerationInput {
  title: string;
  description: string;
  trigger: TriggerConfig;
  request: GenerationRequest;
  /** The steps being replaced (regeneration), shown to the model with the reason. */
  previousSteps: readonly StepDefinition[];
}

/** How a generation ended; `attempts` counts the model answers asked for. */
export type StepGenerationResult =
  | { ok: true; steps: StepDefinition[]; model: string; attempts: number }
  | { ok: false; error: string; attempts: number };

export interface LlmStepGeneratorOptions {
  /** Invalid answers sent back with their errors before giving up. Default 2. */
  maxRepairs?: number;
  /** Retries of a retriable provider failure (5xx, 429, network). Default 2. */
  maxRetries?: number;
  /** First retry delay, doubled each time; a provider's Retry-After wins when longer. Default 1000. */
  retryDelayMs?: number;
}

const MAX_RETRY_DELAY_MS = 30_000;
const PREVIOUS_STEPS_CHARS = 4000;

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * Asks an OpenAI-compatible model for a workflow's steps, constrained by a JSON schema built
 * from the tool registry. Each answer is checked like a saved workflow; an invalid one is
 * sent back with the exact errors for a bounded number of repairs, and retriable provider
 * failures are retried with backoff, so a generation always ends, with steps or a reason.
 */
export class LlmStepGenerator {
  private readonly maxRepairs: number;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;

  constructor(
    private readonly llm: Pick<LlmClient, 'chat'>,
    private readonly tools: ToolRegistry,
    options: LlmStepGeneratorOptions = {},
  ) {
    this.maxRepairs = options.maxRepairs ?? 2;
    this.maxRetries = options.maxRetries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
  }

  /** @throws only the abort reason of `signal`; every other failure is a result. */
  async generate(input: StepGenerationInput, signal?: AbortSignal): Promise<StepGenerationResult> {
    const avoid = input.request.force_different_tools ? input.request.previous_tools : undefined;
    const messages: ChatMessage[] = [
      { role: 'system', content: renderPrompt('generate-steps', { tools: this.describeTools() }) },
      { role: 'user', content: this.describeRequest(input, avoid) },
    ];
    const responseFormat = stepsResponseFormat(this.tools.list());
    let attempts = 0;
    let repairs = 0;
    let retries = 0;
    for (;;) {
      attempts += 1;
      let answer: unknown;
      let content: string | null = null;
      let model = '';
      let errors: string[];
      try {
        const reply = await this.llm.chat({
          messages,
          response_format: responseFormat,
          temperature: 0.2,
          signal,
        });
        ({ parsed: answer, content, model } = reply);
        const checked = checkGeneratedSteps(answer, this.tools, avoid);
        if (checked.ok) return { ok: true, steps: checked.steps, model, attempts };
        errors = checked.errors;
      } catch (error) {
        if (signal?.aborted || !(error instanceof LlmError)) throw error;
        if (error.code !== 'LLM_INVALID_JSON') {
          if (!error.retriable || retries >= this.maxRetries) {
            const tries = retries > 0 ? ` (after ${retries + 1} tries)` : '';
            return { ok: false, error: `the LLM provider failed${tries}: ${error.message}`, attempts };
          }
          retries += 1;
          const backoff = Math.min(this.retryDelayMs * 2 ** (retries - 1), MAX_RETRY_DELAY_MS);
          await sleep(Math.max(backoff, Math.min(error.retryAfterMs ?? 0, MAX_RETRY_DELAY_MS)), signal);
          continue;
        }
        errors = [error.message];
      }
      if (repairs >= this.maxRepairs) {
        return {
          ok: false,
          error: `the model's answer was still invalid after ${repairs} repair requests: ${errors.join('; ')}`,
          attempts,
        };
      }
      repairs += 1;
      if (content !== null) messages.push({ role: 'assistant', content });
      messages.push({
        role: 'user',
        content: renderPrompt('repair-steps', { errors: errors.map((e) => `- ${e}`).join('\n') }),
      });
    }
  }

  private describeTools(): string {
    return this.tools
      .list()
      .map((tool) => {
        const { $schema: _dialect, ...params } = tool.paramsJsonSchema;
        return `- ${tool.name}: ${tool.description}\n  params: ${JSON.stringify(params)}`;
      })
      .join('\n');
  }

  private describeRequest(input: StepGenerationInput, avoid: readonly string[] | undefined): string {
    const { todo, reason } = input.request;
    const previous = JSON.stringify(input.previousSteps);
    return renderPrompt('generate-request', {
      title: input.title,
      description: input.description || '(none)',
      trigger: JSON.stringify(input.trigger),
      todo: todo ? `${todo.title}${todo.description ? `: ${todo.description}` : ''} (todo ${todo.id})` : '',
      reason: reason ?? '',
      previous_steps:
        previous.length > PREVIOUS_STEPS_CHARS ? `${previous.slice(0, PREVIOUS_STEPS_CHARS)}…` : previous,
      avoid_tools: avoid?.join(', ') ?? '',
    });
  }
}
