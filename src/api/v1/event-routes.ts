import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { principalOf, requireScope } from '../auth.js';

const eventBody = z
  .object({ type: z.string().min(1).max(200), data: z.record(z.string(), z.unknown()).default({}) })
  .strict();

/** `POST /v1/events`: resumes runs waiting for the event and starts event-triggered workflows. */
export function registerEventRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/v1/events',
    {
      preValidation: requireScope(stepwise.keys, 'events:write'),
      schema: { tags: ['events'], summary: 'Publish an event', body: eventBody },
    },
    async (request, reply) => {
      const delivery = await stepwise.events.publish(
        principalOf(request).org_id,
        request.body.type,
        request.body.data,
      );
      return reply
        .code(202)
        .send({ id: delivery.event.id, type: delivery.event.type, ...delivery, event: undefined });
    },
  );
}
