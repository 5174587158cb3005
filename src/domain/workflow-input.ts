import { z } from 'zod';
import { WORKFLOW_STATUSES } from './model.js';
import { concurrencySchema, MAX_PRIORITY, MIN_PRIORITY, stepSchema, throttleSchema } from './workflow.js';

export const SLUG_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export const triggerConfigSchema = z
  .object({
    type: z.enum(['manual', 'scheduled', 'event']),
    enabled: z.boolean().default(true),
    schedule: z.string().min(1).max(200).optional(),
    timezone: z.string().min(1).max(64).optional(),
    event_type: z.string().min(1).max(200).optional(),
    filters: z.record(z.string(), z.unknown()).optional(),
  })
  .loose()
  .superRefine((trigger, ctx) => {
    if (trigger.type === 'scheduled' && !trigger.schedule) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule'],
        message: 'a scheduled trigger needs a cron schedule',
      });
    }
    if (trigger.type === 'event' && !trigger.event_type) {
      ctx.addIssue({ code: 'custom', path: ['event_type'], message: 'an event trigger needs an event_type' });
    }
  });

/** The core's workflow fields, as the services accept them; dialects map their own shapes onto this. */
export const workflowInputSchema = z
  .object({
    title: z.string().trim().min(1, 'a title is required').max(200),
    description: z.string().max(5000).default(''),
    slug: z
      .string()
      .regex(SLUG_PATTERN, 'a slug starts with a letter and holds letters, digits, _ or - (64 at most)')
      .optional(),
    steps: z.array(stepSchema).max(500).default([]),
    timeout_ms: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400_000)
      .optional(),
    /** Runs executing at once per rendered key; versioned with the steps. */
    concurrency: concurrencySchema.optional(),
    /** Run starts per period per rendered key; versioned with the steps. */
    throttle: throttleSchema.optional(),
    /** Step executions one run may make (loops included); versioned with the steps. */
    max_iterations: z.number().int().min(1).max(100_000).optional(),
    /** Order among the org's runnable runs, higher first (default 0); versioned with the steps. */
    priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional(),
    trigger_config: triggerConfigSchema.default({ type: 'manual', enabled: true }),
    status: z.enum(WORKFLOW_STATUSES).default('active'),
    is_public: z.boolean().default(false),
    credit_cost: z.number().int().min(0).max(1_000_000).default(0),
    callback_url: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .nullable()
      .default(null),
    metadata: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type WorkflowInput = z.input<typeof workflowInputSchema>;
export type ParsedWorkflowInput = z.output<typeof workflowInputSchema>;

/** A partial update: only the fields given change. */
export const workflowPatchSchema = workflowInputSchema.partial().strict();
export type WorkflowPatch = z.input<typeof workflowPatchSchema>;

/**
 * A slug from a title, in the camelCase that document 000's action names use:
 * "Lead follow-up" → "leadFollowUp".
 */
export function slugFromTitle(title: string): string {
  const words = title
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9]+/g, ' ')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  const camel = words
    .map((word, i) => (i === 0 ? word.toLowerCase() : word[0]!.toUpperCase() + word.slice(1).toLowerCase()))
    .join('');
  const slug = /^[A-Za-z]/.test(camel) ? camel : `workflow${camel}`;
  return slug.slice(0, 60) || 'workflow';
}
