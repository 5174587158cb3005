import { NotJsonError, toStorableJson, toStorableString } from './storable-json.js';

/**
 * The one error family of Stepwise. Every error a caller can see has a stable string
 * `code`, an HTTP status, and a message that says what to change. Adapters (REST, MCP,
 * CLI) map these once at their edge.
 */
export class StepwiseError extends Error {
  readonly code: string;
  readonly status: number;
  /** The input field at fault, as a dotted path, when there is one. */
  readonly field?: string;
  /** Seconds after which a retry may succeed (rate limits). */
  readonly retryAfterSeconds?: number;

  constructor(
    code: string,
    status: number,
    message: string,
    options: { field?: string; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StepwiseError';
    this.code = code;
    this.status = status;
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const validationError = (field: string, message: string): StepwiseError =>
  new StepwiseError('VALIDATION_FAILED', 400, message, { field });

export const notFound = (what: string, id: string): StepwiseError =>
  new StepwiseError('NOT_FOUND', 404, `${what} '${id}' was not found`);

export const conflict = (code: string, message: string): StepwiseError =>
  new StepwiseError(code, 409, message);

/** `why` says what needed the scope when it was not the route itself (e.g. handing it on). */
export const missingScope = (scope: string, why?: string): StepwiseError =>
  new StepwiseError(
    'MISSING_SCOPE',
    403,
    `this API key lacks the '${scope}' scope${why === undefined ? '' : `: ${why}`}`,
  );

export const unauthenticated = (message = 'a valid API key is required'): StepwiseError =>
  new StepwiseError('UNAUTHENTICATED', 401, message);

export const rateLimited = (retryAfterSeconds: number, message: string): StepwiseError =>
  new StepwiseError('RATE_LIMITED', 429, message, { retryAfterSeconds });

export const insufficientCredits = (message: string): StepwiseError =>
  new StepwiseError('INSUFFICIENT_CREDITS', 402, message);

export const configError = (variable: string, message: string): StepwiseError =>
  new StepwiseError('CONFIG_INVALID', 500, `${variable}: ${message}`, { field: variable });

/**
 * Thrown by a step tool (or the engine on its behalf) when a step fails.
 * `retriable: false` tells the engine not to spend the step's remaining attempts,
 * in the spirit of inngest's NonRetriableError.
 */
export class StepFailure extends Error {
  readonly code: string;
  readonly retriable: boolean;
  /** When set, the next attempt must not start before this many ms have passed. */
  readonly retryAfterMs?: number;
  readonly details?: unknown;

  constructor(
    code: string,
    message: string,
    options: { retriable?: boolean; retryAfterMs?: number; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StepFailure';
    this.code = code;
    this.retriable = options.retriable ?? true;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }
}

/** A failure that retrying cannot fix: bad params, a missing template reference, a 4xx. */
export const permanentFailure = (code: string, message: string, details?: unknown): StepFailure =>
  new StepFailure(code, message, { retriable: false, details });

/** The serialisable shape of an error stored on a run or a step. */
export interface ErrorInfo {
  code: string;
  message: string;
  details?: unknown;
}

/**
 * The `ErrorInfo` of an error, as the stores will keep it: tool errors carry text from
 * outside (a response body in `details`), so its strings are made storable here.
 */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof StepFailure) {
    const message = toStorableString(error.message);
    if (error.details === undefined) return { code: error.code, message };
    return { code: error.code, message, details: storableDetails(error.details) };
  }
  if (error instanceof StepwiseError) return { code: error.code, message: toStorableString(error.message) };
  if (error instanceof Error) return { code: 'STEP_ERROR', message: toStorableString(error.message) };
  return { code: 'STEP_ERROR', message: toStorableString(String(error)) };
}

// Details JSON cannot hold (a BigInt, a cycle) are replaced by the reason: the error itself
// must still be stored.
function storableDetails(details: unknown): unknown {
  try {
    return toStorableJson(details);
  } catch (error) {
    if (error instanceof NotJsonError) return { not_json: error.message };
    throw error;
  }
}
