import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the recorder received it. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string | string[]>;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  received_at: number;
}

/** One scripted answer. Without `status` it is a 200; `echo` wins over `json`, which wins over `body`. */
export interface ScriptedResponse {
  status?: number;
  headers?: Record<string, string>;
  /** Answer with the request as received, as an echo service does: `{ method, url, headers, body }` (url raw, query string included). */
  echo?: boolean;
  json?: unknown;
  body?: string;
  /** Wait this long before answering; a client that hangs up cancels the wait. */
  delayMs?: number;
}

/**
 * An HTTP server on 127.0.0.1 (random port) that records every request and answers as
 * scripted per path. Default answer: 200 `{ "ok": true }`.
 *
 * @example
 * const server = await startHttpRecorder();
 * server.script('/flaky', { status: 503, headers: { 'retry-after': '2' } }, { status: 200, json: { done: true } });
 * await fetch(`${server.url}/flaky`); // 503, then 200 for every later request
 * await server.close();
 */
export class HttpRecorder {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts = new Map<string, ScriptedResponse[]>();
  private readonly pending = new Set<NodeJS.Timeout>();
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

  private readonly answered = new Map<string, (request: RecordedRequest) => void>();

  /**
   * Calls `listener` each time a request to `path` has been answered, as a service that
   * posts a callback right after replying would.
   */
  afterAnswer(path: string, listener: (request: RecordedRequest) => void): this {
    this.answered.set(path, listener);
    return this;
  }

  /** Starts a recorder on a random loopback port. */
  static async start(): Promise<HttpRecorder> {
    const recorder = new HttpRecorder();
    await new Promise<void>((resolve) => recorder.server.listen(0, '127.0.0.1', resolve));
    recorder.port = (recorder.server.address() as AddressInfo).port;
    return recorder;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Scripts the answers for `path`: each request takes the next one; the last one repeats.
   * Replaces any earlier script for that path.
   */
  script(path: string, ...responses: ScriptedResponse[]): this {
    this.scripts.set(path, responses);
    return this;
  }

  /** Requests received for `path`. */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** How many requests carried each Idempotency-Key. */
  idempotencyKeyCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const request of this.requests) {
      const key = request.headers['idempotency-key'];
      if (typeof key === 'string') counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  /** Forgets recorded requests and scripts. */
  reset(): void {
    this.requests.length = 0;
    this.scripts.clear();
  }

  /** Stops listening and drops open connections, including requests still being delayed. */
  async close(): Promise<void> {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(
    method: string,
    rawUrl: string,
    headers: IncomingHttpHeaders,
    raw: Buffer,
    res: ServerResponse,
  ): void {
    const url = new URL(rawUrl, this.url);
    const query: Record<string, string | string[]> = {};
    for (const key of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(key);
      query[key] = values.length === 1 ? values[0]! : values;
    }
    const body = raw.toString('utf8');
    let json: unknown;
    try {
      json = body === '' ? undefined : JSON.parse(body);
    } catch {
      json = undefined;
    }
    const request = { method, path: url.pathname, query, headers, body, json, received_at: Date.now() };
    this.requests.push(request);

    const script = this.scripts.get(url.pathname);
    const answer = (script && script.length > 1 ? script.shift() : script?.[0]) ?? { json: { ok: true } };
    const send = () => {
      const json = answer.echo ? { method, url: rawUrl, headers, body } : answer.json;
      const payload = json !== undefined ? JSON.stringify(json) : (answer.body ?? '');
      const contentType = json !== undefined ? { 'content-type': 'application/json' } : {};
      res.writeHead(answer.status ?? 200, { ...contentType, ...answer.headers });
      res.end(payload, () => this.answered.get(url.pathname)?.(request));
    };
    if (!answer.delayMs) return send();
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      send();
    }, answer.delayMs);
    this.pending.add(timer);
    res.on('close', () => {
      clearTimeout(timer);
      this.pending.delete(timer);
    });
  }
}

/** Starts an {@link HttpRecorder} on a random loopback port. */
export const startHttpRecorder = (): Promise<HttpRecorder> => HttpRecorder.start();
