import type { z } from 'zod';
import type { ExpressionEvaluator } from '../domain/expression.js';
import type { Millis } from '../domain/model.js';

/**
 * What a suspended step waits for besides its timer. An event wait matches events stored
 * since `since` (when the wait began), so one that arrives before the run is parked counts.
 */
export type WaitTarget =
  | { kind: 'event'; event_type: string; match: Record<string, unknown>; since: Millis | null }
  | { kind: 'run'; run_id: string };

/**
 * How a tool's execution ended. `done` commits the output; `suspend` parks the run
 * without holding a worker until `wake_at` (null = no timer) or the `wait` target fires,
 * then executes the same step again with `ctx.resume` set.
 */
export type ToolOutcome =
  | {
      kind: 'done';
      output: unknown;
      /** condition: the step id to go to, or null to end the run. */ next?: string | null;
    }
  | { kind: 'suspend'; state: unknown; wake_at: Millis | null; wait?: WaitTarget };

/** Runs a sub-workflow on behalf of the `workflow` tool. */
export interface SubRunPort {
  /** Starts (or, with the same key, finds) a run of the org's workflow by id or slug. */
  start(workflow: string, input: unknown, idempotencyKey: string): Promise<{ id: string }>;
  get(
    runId: string,
  ): Promise<{ status: string; output: unknown; error: { code: string; message: string } | null } | null>;
}

export interface ToolSettings {
  /** STEPWISE_ALLOW_PRIVATE_NETWORK=1: let tools reach loopback and private addresses. */
  allowPrivateNetwork: boolean;
  llm: { baseUrl: string; apiKey: string | null; model: string } | null;
  smtpUrl: string | null;
  /** Default From address for the email tool. */
  emailFrom: string;
}

export interface ToolContext {
  run_id: string;
  step_id: string;
  org_id: string;
  workflow_id: string;
  attempt: number;
  /** The pass through this step (1 = first; a loop back to it adds one). */
  iteration: number;
  /**
   * When the run reached this pass of the step, as a wait counts it: when the previous
   * step began (or the run was accepted). A callback that the previous step asked for
   * happened while this step was due, even if it came before that step's result was read.
   */
  reached_at: Millis;
  /**
   * `<run id>:<step id>` on the first pass, `<run id>:<step id>:<iteration>` on later ones:
   * stable across attempts and crashes, new for each pass of a loop.
   */
  idempotency_key: string;
  /** Aborted on step timeout, run timeout, cancel and shutdown. */
  signal: AbortSignal;
  now(): Millis;
  settings: ToolSettings;
  /** Set when the step runs again after a `suspend`. */
  resume: { state: unknown; payload: unknown } | null;
  runs: SubRunPort;
  /** Where JSONata runs: isolated from the server's event loop and heap. */
  expressions: ExpressionEvaluator;
  log(message: string, data?: Record<string, unknown>): void;
}

/** A step tool: a name, a params schema (validated after templating) and an execute function. */
export interface StepTool<P = unknown> {
  name: string;
  description: string;
  params: z.ZodType<P>;
  execute(params: P, ctx: ToolContext): Promise<ToolOutcome>;
}
