import { z } from 'zod';
import { validationError, type ErrorInfo } from './errors.js';
import { parsePeriodMs } from './flow-control.js';

const STEP_ID = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

export const retryPolicySchema = z
  .object({
    max_attempts: z.number().int().min(1).max(100).default(3),
    backoff: z.enum(['fixed', 'exponential']).default('exponential'),
    initial_ms: z.number().int().min(0).max(86_400_000).default(1000),
    max_ms: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400_000)
      .default(60_000),
  })
  .strict();
export type RetryPolicy = z.infer<typeof retryPolicySchema>;

/** Used when a step declares no `retry`: three attempts, exponential from 1 s, as durable engines do. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  max_attempts: 3,
  backoff: 'exponential',
  initial_ms: 1000,
  max_ms: 60_000,
};

export const stepSchema = z
  .object({
    id: z
      .string()
      .regex(STEP_ID, 'a step id starts with a letter or _ and holds letters, digits, _ or - (64 at most)'),
    name: z.string().max(200).optional(),
    tool: z.string().min(1).max(64),
    params: z.record(z.string(), z.unknown()).default({}),
    retry: retryPolicySchema.optional(),
    timeout_ms: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400_000)
      .optional(),
    continue_on_error: z.boolean().default(false),
    /** A JSONata expression over `{ input, steps, run }`; a falsy result skips the step. */
    when: z.string().min(1).max(2000).optional(),
  })
  .strict();
export type StepDefinition = z.infer<typeof stepSchema>;
export type StepDefinitionInput = z.input<typeof stepSchema>;

const groupKeySchema = z.string().min(1).max(500);

/** At most `limit` runs per rendered `key` execute at once; the others wait for a slot. */
export const concurrencySchema = z
  .object({ key: groupKeySchema.optional(), limit: z.number().int().min(1).max(10_000) })
  .strict();

/** At most `limit` run starts per `period` per rendered `key`; the others start later. */
export const throttleSchema = z
  .object({
    key: groupKeySchema.optional(),
    limit: z.number().int().min(1).max(10_000),
    period: z.union([z.string().max(20), z.number().int()]).refine((period) => {
      const ms = parsePeriodMs(period);
      return ms !== null && ms <= 7 * 86_400_000;
    }, 'a period is like "30s", "1m", "1h" or milliseconds, at most 7 days'),
  })
  .strict();

/** The versioned, executable part of a workflow. */
/** A workflow's `priority` range: a few levels, as Hatchet's and Temporal's queues offer. */
export const MIN_PRIORITY = -10;
export const MAX_PRIORITY = 10;

export const workflowDefinitionSchema = z
  .object({
    steps: z.array(stepSchema).max(500).default([]),
    /** Whole-run deadline, measured from the run's first start. */
    timeout_ms: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400_000)
      .optional(),
    /** Runs executing at once per key (`{{ input.… }}` template); extra runs wait. */
    concurrency: concurrencySchema.optional(),
    /** Run starts per period per key; extra runs start in a later window. */
    throttle: throttleSchema.optional(),
    /**
     * Step executions one run may make, counting every pass of a loop (`goto` back) and
     * every skipped step; past it the run fails with MAX_ITERATIONS_EXCEEDED.
     */
    max_iterations: z.number().int().min(1).max(100_000).optional(),
    /**
     * Order among the org's runnable runs: higher first (default 0). Orgs are served
     * fairly whatever their runs' priorities; this only orders runs inside one org.
     */
    priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional(),
  })
  .strict();

/** The bound on a run's step executions when its workflow sets no `max_iterations`. */
export const DEFAULT_MAX_ITERATIONS = 1000;
export type WorkflowDefinition = z.infer<typeof workflowDefinitionSchema>;
export type WorkflowDefinitionInput = z.input<typeof workflowDefinitionSchema>;

/**
 * The index of the step to run after the one at `index`, given the `next` its outcome chose:
 * undefined = the following step, null = past the last (the run ends), else the step with
 * that id. @returns an UNKNOWN_STEP error when no step has that id.
 */
export function nextStepIndex(
  definition: WorkflowDefinition,
  index: number,
  next: string | null | undefined,
): number | ErrorInfo {
  if (next === undefined) return index + 1;
  if (next === null) return definition.steps.length;
  const target = definition.steps.findIndex((candidate) => candidate.id === next);
  if (target >= 0) return target;
  const from = definition.steps[index]!.id;
  return {
    code: 'UNKNOWN_STEP',
    message: `step '${from}' branched to '${next}', which is not a step of this workflow`,
    step_id: from,
  } as ErrorInfo;
}

/** Turns a zod failure into our 400, naming the first offending field as a dotted path. */
export function zodToValidationError(error: z.ZodError, prefix = '') {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== '').join('.');
  return validationError(path || '(body)', `${path || 'body'}: ${issue?.message ?? 'is invalid'}`);
}

/**
 * Parses and checks a definition: schema, unique step ids, and tools known to `isKnownTool`.
 * @throws StepwiseError (400) naming the field at fault.
 */
export function parseWorkflowDefinition(
  raw: unknown,
  isKnownTool: (tool: string) => boolean,
  fieldPrefix = '',
): WorkflowDefinition {
  const parsed = workflowDefinitionSchema.safeParse(raw ?? {});
  if (!parsed.success) throw zodToValidationError(parsed.error, fieldPrefix);
  const seen = new Set<string>();
  parsed.data.steps.forEach((step, index) => {
    const at = [fieldPrefix, 'steps', String(index)].filter(Boolean).join('.');
    if (seen.has(step.id)) throw validationError(`${at}.id`, `${at}.id: step id '${step.id}' is used twice`);
    seen.add(step.id);
    if (!isKnownTool(step.tool)) {
      throw validationError(`${at}.tool`, `${at}.tool: unknown tool '${step.tool}'`);
    }
  });
  return parsed.data;
}
