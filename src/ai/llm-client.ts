import { StepwiseError } from '../domain/errors.js';

/** Where the OpenAI-compatible endpoint is: LLM_BASE_URL, LLM_API_KEY, LLM_MODEL. */
export interface LlmConfig {
  /** e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  apiKey: string | null;
  model: string;
}

/** One turn of the conversation. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** OpenAI's structured-output modes. */
export type ResponseFormat =
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: { name: string; schema: Record<string, unknown>; strict?: boolean; description?: string };
    };

/** What {@link LlmClient.chat} sends. */
export interface ChatRequest {
  messages: ChatMessage[];
  /** Defaults to the configured model. */
  model?: string;
  temperature?: number;
  max_tokens?: number;
  /** With a format set, the reply must parse as JSON and comes back in `parsed`. */
  response_format?: ResponseFormat;
  signal?: AbortSignal;
}

/** Token counts as the provider reports them (0 when it does not). */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What {@link LlmClient.chat} returns. */
export interface ChatResult {
  content: string;
  /** The reply parsed as JSON, when a response_format was requested. */
  parsed?: unknown;
  usage: ChatUsage;
  /** The model that answered, as the provider reports it. */
  model: string;
}

/**
 * A failure of the LLM provider: a 502 for our callers, with what went wrong upstream.
 * `retriable` says whether trying again may help (rate limits, 5xx, network, a reply
 * that was not the JSON asked for).
 */
export class LlmError extends StepwiseError {
  readonly retriable: boolean;
  readonly upstreamStatus?: number;
  readonly retryAfterMs?: number;

  constructor(
    code: 'LLM_REQUEST_FAILED' | 'LLM_UNREACHABLE' | 'LLM_BAD_RESPONSE' | 'LLM_INVALID_JSON',
    message: string,
    options: { retriable: boolean; upstreamStatus?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(code, 502, message, { cause: options.cause });
    this.name = 'LlmError';
    this.retriable = options.retriable;
    this.upstreamStatus = options.upstreamStatus;
    this.retryAfterMs = options.retryAfterMs;
  }
}

const DEFAULT_TIMEOUT_MS = 300_000;
const EXCERPT_CHARS = 500;

/** Models in JSON mode still wrap replies in a Markdown fence now and then. */
const stripFence = (text: string): string =>
  text.trim().replace(/^```(?:json)?\s*\n([\s\S]*?)\n?```$/i, '$1');

function providerMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const message = typeof body.error === 'string' ? body.error : (body.error?.message ?? body.message);
    if (typeof message === 'string' && message !== '') return message;
  } catch {
    // Not JSON: the raw text is the best message there is.
  }
  return text.slice(0, EXCERPT_CHARS) || '(empty body)';
}

const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

/**
 * A client for OpenAI-compatible `POST {baseUrl}/chat/completions` (OpenAI, Azure-style
 * gateways, Ollama, vLLM, LM Studio, …). The endpoint is operator configuration, so it may
 * be on loopback.
 *
 * @example
 * const llm = new LlmClient({ baseUrl: 'http://127.0.0.1:11434/v1', apiKey: null, model: 'llama3.1' });
 * const { content } = await llm.chat({ messages: [{ role: 'user', content: 'Say hi' }] });
 */
export class LlmClient {
  constructor(
    private readonly config: LlmConfig,
    private readonly options: { timeoutMs?: number } = {},
  ) {}

  /**
   * Sends one chat completion. An abort of `request.signal` rejects with the signal's
   * reason, untouched.
   * @throws LlmError for an unreachable endpoint, a non-2xx answer (status and the
   *   provider's message), a malformed body, or a reply that is not the JSON requested.
   */
  async chat(request: ChatRequest): Promise<ChatResult> {
    const url = `${this.config.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (this.config.apiKey) headers.authorization = `Bearer ${this.config.apiKey}`;
    const body = {
      model: request.model ?? this.config.model,
      messages: request.messages,
      ...(request.temperature !== undefined && { temperature: request.temperature }),
      ...(request.max_tokens !== undefined && { max_tokens: request.max_tokens }),
      ...(request.response_format && { response_format: request.response_format }),
    };

    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      text = await response.text();
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason;
      const why = timeout.aborted
        ? `no answer within ${this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`
        : ((error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message);
      throw new LlmError(
        'LLM_UNREACHABLE',
        `the LLM endpoint ${this.config.baseUrl} is unreachable: ${why}`,
        {
          retriable: true,
          cause: error,
        },
      );
    }

    if (status < 200 || status > 299) {
      const retriable = status >= 500 || status === 408 || status === 429;
      const seconds = Number(retryAfter);
      throw new LlmError(
        'LLM_REQUEST_FAILED',
        `the LLM provider answered ${status}: ${providerMessage(text)}`,
        {
          retriable,
          upstreamStatus: status,
          retryAfterMs:
            retriable && retryAfter !== null && Number.isFinite(seconds) ? seconds * 1000 : undefined,
        },
      );
    }
    return this.parseReply(text, body.model, request.response_format !== undefined);
  }

  private parseReply(text: string, requestedModel: string, wantJson: boolean): ChatResult {
    const malformed = (what: string) =>
      new LlmError('LLM_BAD_RESPONSE', `the LLM provider sent a malformed response: ${what}`, {
        retriable: true,
      });
    let reply: {
      model?: unknown;
      choices?: Array<{ message?: { content?: unknown; refusal?: unknown } }>;
      usage?: Record<string, unknown>;
    };
    try {
      reply = JSON.parse(text) as typeof reply;
    } catch {
      throw malformed(`not JSON: ${text.slice(0, EXCERPT_CHARS)}`);
    }
    const message = Array.isArray(reply?.choices) ? reply.choices[0]?.message : undefined;
    if (!message) throw malformed('no choices[0].message');
    if (typeof message.refusal === 'string' && message.refusal !== '') {
      throw new LlmError('LLM_REQUEST_FAILED', `the model refused: ${message.refusal}`, { retriable: false });
    }
    if (typeof message.content !== 'string') throw malformed('choices[0].message.content is not text');
    const content = message.content;
    const prompt_tokens = count(reply.usage?.prompt_tokens);
    const completion_tokens = count(reply.usage?.completion_tokens);
    const usage = {
      prompt_tokens,
      completion_tokens,
      total_tokens: count(reply.usage?.total_tokens) || prompt_tokens + completion_tokens,
    };
    const result: ChatResult = {
      content,
      usage,
      model: typeof reply.model === 'string' ? reply.model : requestedModel,
    };
    if (!wantJson) return result;
    try {
      result.parsed = JSON.parse(stripFence(content));
    } catch {
      throw new LlmError(
        'LLM_INVALID_JSON',
        `the model's reply is not valid JSON: ${content.slice(0, EXCERPT_CHARS)}`,
        {
          retriable: true,
        },
      );
    }
    return result;
  }
}
