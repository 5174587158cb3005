import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { principalOf, requireScope } from '../auth.js';

const idParams = z.object({ id: z.string().min(1).max(200) });
const range = z.object({ from: z.string().max(64).optional(), to: z.string().max(64).optional() });
const timelineQuery = range.extend({ bucket: z.string().max(16).optional() });

/**
 * Document 002's `/v1/workflows/{id}/summary`, `/summary/timeline` and `/summary/report`,
 * and `/v1/summary`, `/v1/summary/timeline`: the same over every run of the key's org.
 */
export function registerV1SummaryRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const read = requireScope(stepwise.keys, 'workflows:read');
  const tags = ['workflows (v1)'];

  app.get(
    '/v1/workflows/:id/summary',
    {
      preValidation: read,
      schema: {
        tags,
        summary: 'Runs by status, success rate, p50/p95 duration, credits, last run',
        params: idParams,
        querystring: range,
      },
    },
    async (request) =>
      stepwise.reports.summary(principalOf(request).org_id, request.params.id, request.query),
  );

  app.get(
    '/v1/workflows/:id/summary/timeline',
    {
      preValidation: read,
      schema: {
        tags,
        summary: 'Runs per time bucket (from, to, bucket = hour|day|week|15m)',
        params: idParams,
        querystring: timelineQuery,
      },
    },
    async (request) =>
      stepwise.reports.timeline(principalOf(request).org_id, request.params.id, request.query),
  );

  app.get(
    '/v1/workflows/:id/summary/report',
    {
      preValidation: read,
      schema: {
        tags,
        summary: 'Summary, timeline and recent failures as json, csv or html (with an SVG chart)',
        params: idParams,
        querystring: timelineQuery.extend({ format: z.string().max(8).default('json') }),
      },
    },
    async (request, reply) => {
      const { format, ...timeline } = request.query;
      const report = await stepwise.reports.report(
        principalOf(request).org_id,
        request.params.id,
        format,
        timeline,
      );
      reply.header('content-type', report.contentType);
      if (report.filename && format !== 'html')
        reply.header('content-disposition', `inline; filename="${report.filename}"`);
      return reply.send(report.body);
    },
  );

  app.get(
    '/v1/summary',
    {
      preValidation: read,
      schema: {
        tags,
        summary:
          "The org's runs across every workflow: by status, success rate, p50/p95 duration, credits, last run",
        querystring: range,
      },
    },
    async (request) => stepwise.reports.orgSummary(principalOf(request).org_id, request.query),
  );

  app.get(
    '/v1/summary/timeline',
    {
      preValidation: read,
      schema: {
        tags,
        summary:
          "The org's runs across every workflow per time bucket (from, to, bucket = hour|day|week|15m)",
        querystring: timelineQuery,
      },
    },
    async (request) => stepwise.reports.orgTimeline(principalOf(request).org_id, request.query),
  );
}
