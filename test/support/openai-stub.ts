import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A chat-completions request as the stub received it. */
export interface StubChatRequest {
  headers: IncomingHttpHeaders;
  body: {
    model?: string;
    messages?: Array<{ role: string; content: string }>;
    temperature?: number;
    max_tokens?: number;
    response_format?: { type: string; json_schema?: unknown };
    [field: string]: unknown;
  };
}

/** A scripted reply: assistant text, or a failure with an HTTP status. */
export type StubReply =
  | string
  | {
      content?: string;
      /** Answer with this status and an OpenAI-style `{ error: { message } }` body. */
      status?: number;
      error?: string;
      /** Send this raw text as the body instead (to test malformed responses). */
      raw?: string;
      headers?: Record<string, string>;
      delayMs?: number;
      usage?: { prompt_tokens: number; completion_tokens: number };
    };

/**
 * An OpenAI-compatible `/v1/chat/completions` on 127.0.0.1 that answers with scripted
 * replies in order (then `defaultReply`) and records every request.
 *
 * @example
 * const llm = await startOpenAiStub();
 * llm.reply('{"sentiment":"positive"}');
 * llm.reply({ status: 503, error: 'overloaded' });
 * // settings.llm = { baseUrl: llm.baseUrl, apiKey: 'test', model: 'stub-model' }
 */
export class OpenAiStub {
  readonly requests: StubChatRequest[] = [];
  /** Used when no scripted reply is queued. */
  defaultReply: StubReply = 'ok';
  private readonly queue: StubReply[] = [];
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () =>
      this.handle(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks), res),
    );
  });

  /** Kept from listen() so the URL stays readable after close(). */
  private port = 0;

  private constructor() {}

  /** Starts a stub on a random loopback port. */
  static async start(): Promise<OpenAiStub> {
    const stub = new OpenAiStub();
    await new Promise<void>((resolve) => stub.server.listen(0, '127.0.0.1', resolve));
    stub.port = (stub.server.address() as AddressInfo).port;
    return stub;
  }

  /** `http://127.0.0.1:<port>/v1`, the value for LLM_BASE_URL. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Queues replies, answered one per request in order. */
  reply(...replies: StubReply[]): this {
    this.queue.push(...replies);
    return this;
  }

  /** Queues a failure: the next request gets `status` with `message`. */
  failWith(status: number, message = 'stub failure'): this {
    return this.reply({ status, error: message });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    raw: Buffer,
    res: ServerResponse,
  ): void {
    if (method !== 'POST' || url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { message: `no route ${method} ${url}`, type: 'invalid_request_error' } }),
      );
      return;
    }
    let body: StubChatRequest['body'];
    try {
      body = JSON.parse(raw.toString('utf8')) as StubChatRequest['body'];
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'body is not JSON', type: 'invalid_request_error' } }));
      return;
    }
    this.requests.push({ headers, body });
    const next = this.queue.shift() ?? this.defaultReply;
    const reply = typeof next === 'string' ? { content: next } : next;
    const send = () => {
      if (reply.raw !== undefined) {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.raw);
        return;
      }
      if (reply.status !== undefined && reply.status >= 400) {
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify({ error: { message: reply.error ?? 'stub failure', type: 'server_error' } }));
        return;
      }
      const usage = reply.usage ?? { prompt_tokens: 10, completion_tokens: 5 };
      res.writeHead(200, { 'content-type': 'application/json', ...reply.headers });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${this.requests.length}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: body.model ?? 'stub-model',
          choices: [
            { index: 0, message: { role: 'assistant', content: reply.content ?? '' }, finish_reason: 'stop' },
          ],
          usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
        }),
      );
    };
    if (!reply.delayMs) return send();
    const timer = setTimeout(send, reply.delayMs);
    res.on('close', () => clearTimeout(timer));
  }
}

/** Starts an {@link OpenAiStub} on a random loopback port. */
export const startOpenAiStub = (): Promise<OpenAiStub> => OpenAiStub.start();
