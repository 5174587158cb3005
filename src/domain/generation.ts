import type { Millis } from './model.js';
import type { StepDefinitionInput } from './workflow.js';

/** `pending` until a runner claims it, `running` while it plans, then `succeeded` or `failed`. */
export const GENERATION_STATES = ['pending', 'running', 'succeeded', 'failed'] as const;
export type GenerationState = (typeof GENERATION_STATES)[number];

/** `llm`: asked the configured model; `catalogue`: picked from the shipped templates (no LLM configured). */
export type GenerationPlanner = 'llm' | 'catalogue';

/** The todo item a workflow was generated from (`POST /api/v1/workflows/from-todo`). */
export interface GenerationTodo {
  id: string;
  title: string;
  description: string | null;
}

/** What was asked for: a first generation, a regeneration, or a workflow for a todo. */
export interface GenerationRequest {
  /** Why the caller asked to regenerate, passed to the planner. */
  reason?: string;
  /** The new steps must not use the same set of tools as `previous_tools`. */
  force_different_tools?: boolean;
  /** The tools of the steps being replaced, sorted. */
  previous_tools?: string[];
  todo?: GenerationTodo;
}

/**
 * How a workflow's steps were (or are being) generated. Kept on the workflow, so a client
 * polling it sees the state, which planner answered and, on failure, why in plain words.
 */
export interface WorkflowGeneration {
  state: GenerationState;
  planner: GenerationPlanner;
  /** The model that answered (llm planner). */
  model?: string;
  /** The template the steps were copied from (catalogue planner). */
  template_id?: string;
  /** A plain remark about how the steps came about, e.g. that no LLM was configured. */
  note?: string;
  request: GenerationRequest;
  /** Model answers asked for in the last attempt: the first answer, repairs and retries. */
  attempts: number;
  /** Why the generation failed, when it did. */
  error: string | null;
  requested_at: Millis;
  started_at: Millis | null;
  finished_at: Millis | null;
}

/** A new, pending generation. */
export function pendingGeneration(
  planner: GenerationPlanner,
  request: GenerationRequest,
  now: Millis,
): WorkflowGeneration {
  return {
    state: 'pending',
    planner,
    request,
    attempts: 0,
    error: null,
    requested_at: now,
    started_at: null,
    finished_at: null,
  };
}

/** The distinct tools of some steps, sorted: what "a different tool set" compares. */
export function toolSetOf(steps: readonly Pick<StepDefinitionInput, 'tool'>[]): string[] {
  return [...new Set(steps.map((step) => step.tool))].sort();
}

/** True when both step lists use exactly the same tools (order and repeats aside). */
export function sameToolSet(a: readonly string[], b: readonly string[]): boolean {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((tool, i) => tool === right[i]);
}
