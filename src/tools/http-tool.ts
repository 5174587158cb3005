import { z } from 'zod';
import { permanentFailure } from '../domain/errors.js';
import { describeUrl, guardedFetch } from './network-guard.js';
import { USER_AGENT, readBodyText, requestFailure, unexpectedStatus } from './http-support.js';
import type { StepTool } from './tool.js';

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const statusPattern = z.union([
  z.number().int().min(100).max(599),
  z.string().regex(/^[1-5]xx$/i, 'a status range is written like "2xx"'),
]);

const httpParamsSchema = z
  .strictObject({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']).default('GET'),
    url: z.url({ protocol: /^https?$/, error: 'url must be an absolute http:// or https:// URL' }).max(8192),
    headers: z.record(z.string(), scalar).optional(),
    /** Appended to the URL's query string; an array repeats the parameter. */
    query: z.record(z.string(), z.union([scalar, z.array(scalar)])).optional(),
    /** Sent as JSON with `Content-Type: application/json`. */
    json: z.unknown().optional(),
    /** Sent as-is (text). */
    body: z.string().optional(),
    /** Codes (`201`) or ranges (`"2xx"`); any other status fails the step. */
    expected_status: z.array(statusPattern).min(1).default(['2xx']),
    timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
    /** `auto` parses the body as JSON when the Content-Type says JSON. */
    response: z.enum(['auto', 'json', 'text']).default('auto'),
  })
  .refine((p) => p.json === undefined || p.body === undefined, {
    message: 'give either json or body, not both',
    path: ['body'],
  })
  .refine(
    (p) => !((p.method === 'GET' || p.method === 'HEAD') && (p.json !== undefined || p.body !== undefined)),
    {
      message: 'a GET or HEAD request cannot have a body: use query, or another method',
      path: ['method'],
    },
  );
/** Params of the `http` tool, as validated. */
export type HttpParams = z.infer<typeof httpParamsSchema>;

const matchesStatus = (status: number, expected: HttpParams['expected_status']): boolean =>
  expected.some((e) => (typeof e === 'number' ? e === status : Math.floor(status / 100) === Number(e[0])));

function buildHeaders(params: HttpParams, idempotencyKey: string): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(params.headers ?? {})) {
    try {
      headers.set(name, String(value));
    } catch {
      throw permanentFailure('HTTP_INVALID_HEADER', `headers.${name}: not a valid HTTP header name or value`);
    }
  }
  if (!headers.has('idempotency-key')) headers.set('Idempotency-Key', idempotencyKey);
  if (!headers.has('user-agent')) headers.set('User-Agent', USER_AGENT);
  if (params.json !== undefined && !headers.has('content-type'))
    headers.set('Content-Type', 'application/json');
  return headers;
}

function parseBody(
  text: string,
  contentType: string,
  mode: HttpParams['response'],
  request: string,
): unknown {
  if (mode === 'text') return text;
  const looksJson = /[/+]json\b/i.test(contentType);
  if (mode === 'auto' && !looksJson) return text;
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    if (mode === 'auto') return text;
    throw permanentFailure(
      'HTTP_INVALID_JSON',
      `${request} answered with a body that is not JSON (response: 'json')`,
      {
        body: text.slice(0, 1000),
      },
    );
  }
}

/**
 * The `http` tool: one HTTP request through the network guard. Sends the step's
 * idempotency key as `Idempotency-Key` so servers can dedupe retries.
 */
export const httpTool: StepTool<HttpParams> = {
  name: 'http',
  description:
    'Sends an HTTP request and returns { status, headers, body }; body is parsed JSON when the response is JSON ' +
    '(or response is "json"), else text. Sends Idempotency-Key (stable across retries) unless you set one. A status ' +
    'outside expected_status (default 2xx) fails the step: 4xx permanently (except 408/429), 5xx/408/429 are retried, ' +
    'honouring Retry-After. Private and loopback addresses are refused unless STEPWISE_ALLOW_PRIVATE_NETWORK=1.',
  params: httpParamsSchema,
  async execute(params, ctx) {
    const url = new URL(params.url);
    for (const [key, value] of Object.entries(params.query ?? {})) {
      for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(item));
    }
    const request = `${params.method} ${describeUrl(url)}`;
    const timeout =
      params.timeout_ms === undefined
        ? undefined
        : { signal: AbortSignal.timeout(params.timeout_ms), ms: params.timeout_ms };
    const signal = timeout ? AbortSignal.any([ctx.signal, timeout.signal]) : ctx.signal;
    const init: RequestInit = {
      method: params.method,
      headers: buildHeaders(params, ctx.idempotency_key),
      body: params.json !== undefined ? JSON.stringify(params.json) : params.body,
      signal,
    };

    let response: Response;
    let text: string;
    try {
      response = await guardedFetch(url, init, { allowPrivate: ctx.settings.allowPrivateNetwork });
      text = await readBodyText(response, request);
    } catch (error) {
      throw requestFailure(error, request, ctx.signal, timeout);
    }
    if (!matchesStatus(response.status, params.expected_status)) {
      throw unexpectedStatus(request, response, text, params.expected_status.join(', '), ctx.now());
    }
    const body =
      params.method === 'HEAD'
        ? null
        : parseBody(text, response.headers.get('content-type') ?? '', params.response, request);
    return {
      kind: 'done',
      output: { status: response.status, headers: Object.fromEntries(response.headers), body },
    };
  },
};
