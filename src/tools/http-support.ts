import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { StepFailure, permanentFailure } from '../domain/errors.js';

/** What the outbound HTTP tools send as `User-Agent`. */
export const USER_AGENT = `stepwise/${
  (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
    .version
}`;

/** Larger responses fail the step instead of filling the worker's memory. */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
const EXCERPT_CHARS = 1000;
/** A Retry-After further out than this is a misconfigured server, not a plan. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/**
 * Reads a response body as UTF-8 text, refusing bodies over `maxBytes` as soon as the
 * Content-Length or the bytes received say so.
 *
 * @throws StepFailure `HTTP_RESPONSE_TOO_LARGE` (non-retriable).
 */
export async function readBodyText(
  response: Response,
  request: string,
  maxBytes = MAX_RESPONSE_BYTES,
): Promise<string> {
  const tooLarge = () =>
    permanentFailure(
      'HTTP_RESPONSE_TOO_LARGE',
      `${request} answered with a body over ${maxBytes} bytes, the limit`,
    );
  if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Milliseconds a Retry-After header (seconds or an HTTP date) asks to wait, if it parses. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(0, Math.round(ms)), MAX_RETRY_AFTER_MS) : undefined;
}

/** Statuses a later attempt may get past: server errors, request timeout, rate limit. */
export const isRetriableStatus = (status: number): boolean =>
  status >= 500 || status === 408 || status === 429;

/**
 * The step failure for a response whose status was not expected: `HTTP_STATUS`,
 * retriable for 5xx/408/429 (honouring Retry-After), permanent otherwise, with the
 * status and a body excerpt in `details`.
 */
export function unexpectedStatus(
  request: string,
  response: Response,
  bodyText: string,
  expected: string,
  now: number,
): StepFailure {
  const { status } = response;
  const reason = response.statusText || STATUS_CODES[status] || '';
  const retriable = isRetriableStatus(status);
  return new StepFailure(
    'HTTP_STATUS',
    `${request} answered ${status}${reason ? ` ${reason}` : ''} (expected ${expected})`,
    {
      retriable,
      retryAfterMs: retriable ? parseRetryAfter(response.headers.get('retry-after'), now) : undefined,
      details: { status, body: bodyText.slice(0, EXCERPT_CHARS) },
    },
  );
}

/**
 * Classifies what a guarded fetch threw. The step's own abort passes through untouched
 * so the engine sees its cancel or timeout; our step failures pass through; anything
 * else is a network error, which a retry may fix.
 *
 * @param timeout the signal of the tool's own `timeout_ms`, if any.
 */
export function requestFailure(
  error: unknown,
  request: string,
  stepSignal: AbortSignal,
  timeout?: { signal: AbortSignal; ms: number },
): unknown {
  if (stepSignal.aborted || error instanceof StepFailure) return error;
  if (timeout?.signal.aborted) {
    return new StepFailure('HTTP_TIMEOUT', `${request} did not answer within ${timeout.ms} ms`, {
      cause: error,
    });
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.message ?? cause?.code ?? (error instanceof Error ? error.message : String(error));
  return new StepFailure('HTTP_NETWORK_ERROR', `${request} failed: ${why}`, { cause: error });
}
