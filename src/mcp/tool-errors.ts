import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { StepwiseError } from '../domain/errors.js';

/** JSON-RPC code of a failed pre-flight check (document 003): not found, no access, over a limit, no credits. */
export const PREFLIGHT_FAILED = -32000;

/** Service statuses that document 003 reports as a pre-flight failure (`-32000`). */
const PREFLIGHT_STATUSES = new Set([401, 402, 403, 404, 429]);

/**
 * An `McpError` whose message goes on the wire as written. The SDK's own constructor
 * prefixes `MCP error <code>: `, which the receiving client adds again.
 */
export class ToolCallError extends McpError {
  constructor(code: number, message: string, data?: unknown) {
    super(code, message, data);
    this.message = message;
  }
}

/** A `-32602` naming the argument at fault. */
export const invalidArgument = (field: string, message: string): ToolCallError =>
  new ToolCallError(ErrorCode.InvalidParams, `${field}: ${message}`, { field });

/** Turns a zod failure of a tool's arguments into a `-32602` naming the first field at fault. */
export function argumentsError(error: z.ZodError, raw: unknown): ToolCallError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const field = issue.keys[0]!;
    return invalidArgument(field, `is not an argument of this tool`);
  }
  const field = issue.path.map(String).join('.') || '(arguments)';
  const top = issue.path[0];
  const missing =
    issue.code === 'invalid_type' &&
    issue.path.length === 1 &&
    typeof top === 'string' &&
    (typeof raw !== 'object' || raw === null || !(top in raw));
  return invalidArgument(field, missing ? `is required (${issue.expected})` : issue.message);
}

/**
 * Maps what a tool threw onto MCP, once, at this edge:
 * - pre-flight failures (401/402/403/404/429 from the services) → JSON-RPC `-32000` with the service's message;
 * - bad input the services refused (400) → JSON-RPC `-32602` naming the field;
 * - any other refusal (409, say) → a tool result with `isError: true`;
 * - anything else is a bug: an `isError` result that leaks nothing; the caller logs it.
 * @returns the tool result to send, or throws the JSON-RPC error.
 */
export function toolFailure(error: unknown, log: (error: unknown) => void): CallToolResult {
  if (error instanceof McpError) throw error;
  if (error instanceof StepwiseError) {
    const data = {
      code: error.code,
      status: error.status,
      ...(error.field === undefined ? {} : { field: error.field }),
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    };
    if (PREFLIGHT_STATUSES.has(error.status)) throw new ToolCallError(PREFLIGHT_FAILED, error.message, data);
    if (error.status === 400) throw new ToolCallError(ErrorCode.InvalidParams, error.message, data);
    if (error.status < 500) return errorResult(error.code, error.message);
  }
  log(error);
  return errorResult('INTERNAL', 'the tool failed unexpectedly; the server log has the details');
}

function errorResult(code: string, message: string): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify({ error: { code, message } }) }], isError: true };
}
