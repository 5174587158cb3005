import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { StepwiseError } from '../../domain/errors.js';
import { RUN_STATUSES, type RunStatus } from '../../domain/run-state.js';
import { principalOf, requireScope } from '../auth.js';
import { v1Job } from './representation.js';

const instant = () =>
  z.iso
    .datetime({ offset: true, error: 'expected an ISO 8601 date-time such as 2026-01-31T09:00:00Z' })
    .transform((text) => Date.parse(text));

const statusList = z
  .string()
  .max(200)
  .transform((text, context) => {
    const statuses = text
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '');
    for (const status of statuses) {
      if (!(RUN_STATUSES as readonly string[]).includes(status)) {
        context.addIssue({
          code: 'custom',
          message: `'${status}' is not one of ${RUN_STATUSES.join(', ')}`,
        });
        return z.NEVER;
      }
    }
    return statuses as RunStatus[];
  });

const runsQuery = z
  .object({
    status: statusList.optional(),
    workflow_id: z.string().min(1).max(200).optional(),
    created_after: instant().optional(),
    created_before: instant().optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

// Fastify hands a request without a body to the validator as null.
const cancelBody = z
  .object({
    cascade: z.boolean().optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .strict()
  .nullish();

/**
 * `GET /v1/runs`: the org's runs across workflows, newest first, with filters (for the
 * dashboard); `POST /v1/runs/{id}/cancel`: one run, and by default its sub-workflow runs.
 */
export function registerV1RunRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const read = requireScope(stepwise.keys, 'workflows:read');
  const write = requireScope(stepwise.keys, 'workflows:write');

  app.post(
    '/v1/runs/:id/cancel',
    {
      preValidation: write,
      schema: {
        tags: ['runs'],
        summary:
          'Cancel a run: at once when no worker holds it, within moments otherwise; with cascade (default true) its unfinished sub-workflow runs too',
        params: z.object({ id: z.string().min(1).max(200) }),
        body: cancelBody,
      },
    },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const run = await stepwise.runs.cancel(orgId, request.params.id, {
        reason: request.body?.reason,
        cascade: request.body?.cascade,
      });
      return {
        ...v1Job(run),
        cancelRequested: run.cancel_requested,
        cascade: request.body?.cascade ?? true,
      };
    },
  );

  app.get(
    '/v1/runs',
    {
      preValidation: read,
      schema: {
        tags: ['runs'],
        summary:
          "The org's runs, newest first: by status (comma-separated), workflow (id or slug) and creation time [created_after, created_before)",
        querystring: runsQuery,
      },
    },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const { status, workflow_id, created_after, created_before, limit, offset } = request.query;
      const workflowId = workflow_id === undefined ? undefined : await resolveWorkflowId(orgId, workflow_id);
      const runs = await stepwise.runs.list(orgId, {
        workflow_id: workflowId,
        status: status && status.length > 0 ? status : undefined,
        created_after,
        created_before,
        limit,
        offset,
      });
      return {
        data: runs.map((run) => ({
          ...v1Job(run),
          creditsReserved: run.credits_reserved,
          creditsConsumed: run.credits_consumed,
        })),
        limit,
        offset,
      };
    },
  );

  /** A slug names the live workflow; an id is used as given, so a deleted workflow's runs still list. */
  async function resolveWorkflowId(orgId: string, ref: string): Promise<string> {
    try {
      return (await stepwise.workflows.get(orgId, ref)).id;
    } catch (error) {
      if (error instanceof StepwiseError && error.status === 404) return ref;
      throw error;
    }
  }
}
