import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import type { ScheduleRecord } from '../../domain/schedule.js';
import { principalOf, requireScope } from '../auth.js';
import { isoOrNull } from '../../domain/clock.js';

/** Document 002's ScheduleWorkflowDto. */
const scheduleBody = z
  .object({
    workFlowId: z.string({ error: 'workFlowId: the id of the workflow to run is required' }).min(1).max(200),
    scheduledDate: z
      .string({ error: 'scheduledDate: an ISO date such as 2026-07-01T09:00:00.000Z is required' })
      .min(1)
      .max(64),
    timezone: z.string().min(1).max(64).optional(),
    input: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

function v1Schedule(schedule: ScheduleRecord) {
  return {
    scheduleId: schedule.id,
    workFlowId: schedule.workflow_id,
    kind: schedule.kind,
    cron: schedule.cron,
    scheduledDate: isoOrNull(schedule.run_at),
    nextFireAt: isoOrNull(schedule.next_fire_at),
    timezone: schedule.timezone,
    scheduleStatus: schedule.status,
    statusReason: schedule.status_reason,
  };
}

/** `POST /v1/workflows/schedule`, schedule listing and cancelling, and a run's callback deliveries. */
export function registerV1ScheduleRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const read = requireScope(stepwise.keys, 'workflows:read');
  const write = requireScope(stepwise.keys, 'workflows:write');

  app.post(
    '/v1/workflows/schedule',
    {
      preValidation: write,
      schema: {
        tags: ['workflows (v1)'],
        summary: 'Schedule one run at a date, in a time zone',
        body: scheduleBody,
      },
    },
    async (request, reply) => {
      const { workFlowId, scheduledDate, timezone, input } = request.body;
      const schedule = await stepwise.schedules.scheduleOnce(principalOf(request).org_id, workFlowId, {
        scheduledDate,
        timezone,
        input,
      });
      return reply.code(201).send({ status: true, message: 'Workflow scheduled', ...v1Schedule(schedule) });
    },
  );

  app.get(
    '/v1/schedules',
    {
      preValidation: read,
      schema: {
        tags: ['schedules'],
        summary: "The org's schedules with their next fire times and status",
        querystring: z.object({
          workflowId: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
    },
    async (request) => {
      const { workflowId, limit, offset } = request.query;
      const schedules = await stepwise.schedules.list(principalOf(request).org_id, {
        workflow_id: workflowId,
        limit,
        offset,
      });
      return { data: schedules.map(v1Schedule), limit, offset };
    },
  );

  app.post(
    '/v1/schedules/:id/cancel',
    {
      preValidation: write,
      schema: {
        tags: ['schedules'],
        summary: 'Cancel a schedule',
        params: z.object({ id: z.string().min(1) }),
      },
    },
    async (request) => ({
      status: true,
      ...v1Schedule(await stepwise.schedules.cancel(principalOf(request).org_id, request.params.id)),
    }),
  );

  app.get(
    '/v1/runs/:id/deliveries',
    {
      preValidation: read,
      schema: {
        tags: ['runs'],
        summary: "A run's callback deliveries and every attempt",
        params: z.object({ id: z.string().min(1) }),
      },
    },
    async (request) => ({
      data: await stepwise.deliveries.listRunDeliveries(principalOf(request).org_id, request.params.id),
    }),
  );
}
