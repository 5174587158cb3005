import type { z } from 'zod';
import type { Stepwise } from '../app/stepwise.js';
import { missingScope } from '../domain/errors.js';
import { hasScope, type Principal, type Scope } from '../domain/scopes.js';
import { argumentsError } from './tool-errors.js';

/** What every tool call gets: the services, and the caller resolved from its API key. */
export interface ToolContext {
  stepwise: Stepwise;
  principal: Principal;
}

/** What a call needs and is: the scope it requires, and whether it changes anything (stricter rate limit). */
export interface ToolAccess {
  scope: Scope;
  mutating: boolean;
}

/** A tool as the server dispatches it: schemas for `tools/list`, and a call that parses its own arguments. */
export interface McpTool {
  name: string;
  description: string;
  input: z.ZodObject;
  output: z.ZodObject;
  /**
   * Parses `raw` (a `-32602` naming the field when it does not fit), checks the scope,
   * and returns the access the call needs plus the work to do once the caller may proceed.
   */
  prepare(
    raw: unknown,
    context: ToolContext,
  ): { access: ToolAccess; run: () => Promise<Record<string, unknown>> };
}

/** Spec of one tool; `run` receives arguments already parsed by `input`. */
export interface ToolSpec<I extends z.ZodObject, O extends z.ZodObject> {
  name: string;
  description: string;
  input: I;
  output: O;
  access: ToolAccess | ((args: z.output<I>) => ToolAccess);
  /** Checks the raw arguments before the schema does (e.g. to refuse an injected field by name). */
  precheck?: (raw: Record<string, unknown>) => void;
  run(args: z.output<I>, context: ToolContext): Promise<z.output<O>>;
}

/** Erases a tool's argument and result types so tools can share one list, keeping them checked inside. */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(spec: ToolSpec<I, O>): McpTool {
  return {
    name: spec.name,
    description: spec.description,
    input: spec.input,
    output: spec.output,
    prepare(raw, context) {
      const args = raw ?? {};
      if (typeof args === 'object' && !Array.isArray(args)) spec.precheck?.(args as Record<string, unknown>);
      const parsed = spec.input.safeParse(args);
      if (!parsed.success) throw argumentsError(parsed.error, args);
      const access = typeof spec.access === 'function' ? spec.access(parsed.data) : spec.access;
      if (!hasScope(context.principal.scopes, access.scope)) throw missingScope(access.scope);
      return { access, run: async () => (await spec.run(parsed.data, context)) as Record<string, unknown> };
    },
  };
}
