import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { StepwiseError } from '../domain/errors.js';

/** The one error body every REST route answers with. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

interface ValidationEntry {
  keyword: string;
  instancePath: string;
  message?: string;
  params?: { keys?: string[] };
}

const FASTIFY_CODES: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'INVALID_JSON',
    message: 'the request body is not valid JSON',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: 'INVALID_JSON',
    message: 'the request says Content-Type: application/json but has an empty body',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 400,
    code: 'BODY_TOO_LARGE',
    message: 'the request body is over the 1 MiB limit',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'send the body as Content-Type: application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'INVALID_BODY',
    message: 'the Content-Length does not match the body',
  },
};

/**
 * PostgreSQL refuses some text that JavaScript strings (and SQLite) hold: a NUL character in any
 * text value (SQLSTATE 22021; 22P05 converting jsonb to text), and an unpaired UTF-16 surrogate
 * inside a JSON value (22P02 "invalid input syntax for type json"). Both come from what a client
 * sent, so they are the client's 400, not our 500. Recognised by SQLSTATE and severity (pg's
 * DatabaseError), so this layer does not import the driver.
 */
function unstorableText(error: unknown): { status: number; body: ErrorBody } | null {
  if (!(error instanceof Error)) return null;
  const { code, severity } = error as Error & { code?: unknown; severity?: unknown };
  if (typeof severity !== 'string' || typeof code !== 'string') return null;
  if (code === '22021' || code === '22P05') {
    return {
      status: 400,
      body: {
        error: {
          code: 'UNSUPPORTED_CHARACTER',
          message: 'the request holds a NUL character (\\u0000), which cannot be stored; remove it',
        },
      },
    };
  }
  if (code === '22P02' && error.message.includes('type json')) {
    return {
      status: 400,
      body: {
        error: {
          code: 'UNSUPPORTED_CHARACTER',
          message:
            'the request holds an unpaired UTF-16 surrogate (\\ud800-\\udfff) in a JSON value, which cannot be stored; send well-formed Unicode',
        },
      },
    };
  }
  return null;
}

/** Which part of the request a validation failure is about, as callers name it. */
function fieldOf(context: string | undefined, entry: ValidationEntry): string {
  const path = entry.instancePath.split('/').filter(Boolean);
  if (entry.keyword === 'unrecognized_keys' && entry.params?.keys?.[0]) path.push(entry.params.keys[0]);
  const joined = path.join('.');
  if (context === 'body' || context === undefined) return joined || 'body';
  return joined || context;
}

/** Maps any error to a status and our error body. Unknown errors are 500s and are logged. */
export function toHttpError(error: unknown): { status: number; body: ErrorBody; retryAfter?: number } {
  if (error instanceof StepwiseError) {
    const body: ErrorBody = { error: { code: error.code, message: error.message } };
    if (error.field) body.error.field = error.field;
    return { status: error.status, body, retryAfter: error.retryAfterSeconds };
  }
  const fastifyError = error as FastifyError & { validationContext?: string };
  if (hasZodFastifySchemaValidationErrors(fastifyError)) {
    const entry = fastifyError.validation![0] as unknown as ValidationEntry;
    const field = fieldOf(fastifyError.validationContext, entry);
    const message =
      entry.keyword === 'unrecognized_keys' ? 'is not a known field' : (entry.message ?? 'is invalid');
    return {
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', message: `${field}: ${message}`, field } },
    };
  }
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (known) return { status: known.status, body: { error: { code: known.code, message: known.message } } };
  if (
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    return {
      status: fastifyError.statusCode,
      body: { error: { code: fastifyError.code ?? 'BAD_REQUEST', message: fastifyError.message } },
    };
  }
  const unstorable = unstorableText(error);
  if (unstorable) return unstorable;
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'an unexpected error occurred; it was logged' } },
  };
}

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body, retryAfter } = toHttpError(error);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return reply.code(status).send(body);
}
