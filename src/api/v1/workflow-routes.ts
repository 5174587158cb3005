import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import type { WorkflowInput, WorkflowPatch } from '../../domain/workflow-input.js';
import {
  concurrencySchema,
  MAX_PRIORITY,
  MIN_PRIORITY,
  stepSchema,
  throttleSchema,
} from '../../domain/workflow.js';
import { isFinalStatus } from '../../domain/run-state.js';
import { principalOf, requireScope } from '../auth.js';
import { BoundedCache } from '../bounded-cache.js';
import { v1Job, v1Workflow } from './representation.js';

const FINISHED_JOB_CACHE_SIZE = 5000;

const idParams = z.object({ id: z.string().min(1).max(200) });
const page = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

/** Document 002's CreateWorkflowDto, plus the fields that make a workflow do something. */
const workflowBody = z
  .object({
    title: z.string().trim().min(1, 'a title is required').max(200),
    description: z.string().max(5000).optional(),
    slug: z.string().max(64).optional(),
    steps: z.array(stepSchema).max(500).optional(),
    timeoutMs: z.number().int().min(1).optional(),
    concurrency: concurrencySchema.optional(),
    throttle: throttleSchema.optional(),
    maxIterations: z.number().int().min(1).max(100_000).optional(),
    priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional(),
    callbackUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .nullable()
      .optional(),
    webhook: z
      .object({ url: z.url({ protocol: /^https?$/ }).max(2000) })
      .strict()
      .nullable()
      .optional(),
    endCall: z
      .object({ phrases: z.array(z.string().max(200)).max(100) })
      .strict()
      .nullable()
      .optional(),
    creditCost: z.number().int().min(0).optional(),
    triggerConfig: z.record(z.string(), z.unknown()).optional(),
    status: z.enum(['active', 'inactive']).optional(),
  })
  .strict();
type WorkflowBody = z.infer<typeof workflowBody>;

const runBody = z
  .object({
    input: z.record(z.string(), z.unknown()).optional(),
    idempotencyKey: z.string().min(1).max(255).optional(),
  })
  .strict()
  .nullish();

// Fastify hands a request without a body to the validator as null.
const cancelBody = z
  .object({ jobId: z.string().min(1).optional() })
  .strict()
  .nullish();

function toCoreInput(body: Partial<WorkflowBody>): WorkflowPatch {
  const metadata: Record<string, unknown> = {};
  if (body.webhook !== undefined) metadata.webhook = body.webhook;
  if (body.endCall !== undefined) metadata.endCall = body.endCall;
  const core: WorkflowPatch = {
    title: body.title,
    description: body.description,
    slug: body.slug,
    steps: body.steps,
    timeout_ms: body.timeoutMs,
    concurrency: body.concurrency,
    throttle: body.throttle,
    max_iterations: body.maxIterations,
    priority: body.priority,
    callback_url: body.callbackUrl,
    credit_cost: body.creditCost,
    trigger_config: body.triggerConfig as WorkflowPatch['trigger_config'],
    status: body.status,
    metadata: Object.keys(metadata).length > 0 ? metadata : undefined,
  };
  return Object.fromEntries(Object.entries(core).filter(([, value]) => value !== undefined)) as WorkflowPatch;
}

/** Document 002: `/v1/workflows…` with `X-API-Key` and `workflows:read` / `workflows:write`. */
export function registerV1WorkflowRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const read = requireScope(stepwise.keys, 'workflows:read');
  const write = requireScope(stepwise.keys, 'workflows:write');
  const tags = ['workflows (v1)'];
  // A finished job never changes again, so pollers of it are answered from memory.
  const finishedJobs = new BoundedCache<string, string>(FINISHED_JOB_CACHE_SIZE);

  app.post(
    '/v1/workflows',
    { preValidation: write, schema: { tags, summary: 'Create a workflow', body: workflowBody } },
    async (request, reply) => {
      const workflow = await stepwise.workflows.create(
        principalOf(request).org_id,
        toCoreInput(request.body) as WorkflowInput,
      );
      return reply.code(201).send(v1Workflow(workflow));
    },
  );

  app.get(
    '/v1/workflows',
    { preValidation: read, schema: { tags, summary: 'List workflows', querystring: page } },
    async (request) => {
      const workflows = await stepwise.workflows.list(principalOf(request).org_id, request.query);
      return { data: workflows.map(v1Workflow), limit: request.query.limit, offset: request.query.offset };
    },
  );

  app.get(
    '/v1/workflows/jobs/:jobId',
    {
      preValidation: read,
      schema: {
        tags,
        summary: 'Get a job (run) and its steps',
        params: z.object({ jobId: z.string().min(1).max(200) }),
      },
    },
    async (request, reply) => {
      const orgId = principalOf(request).org_id;
      const cacheKey = `${orgId}:${request.params.jobId}`;
      let body = finishedJobs.get(cacheKey);
      if (body === undefined) {
        const detail = await stepwise.runs.withSteps(orgId, request.params.jobId);
        body = JSON.stringify(v1Job(detail.run, detail.steps));
        if (isFinalStatus(detail.run.status)) finishedJobs.set(cacheKey, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );

  app.get(
    '/v1/workflows/:id',
    { preValidation: read, schema: { tags, summary: 'Get a workflow', params: idParams } },
    async (request) =>
      v1Workflow(await stepwise.workflows.get(principalOf(request).org_id, request.params.id)),
  );

  app.patch(
    '/v1/workflows/:id',
    {
      preValidation: write,
      schema: { tags, summary: 'Update a workflow', params: idParams, body: workflowBody.partial().strict() },
    },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const current = await stepwise.workflows.get(orgId, request.params.id);
      const patch = toCoreInput(request.body);
      if (patch.metadata) patch.metadata = { ...current.metadata, ...patch.metadata };
      return v1Workflow(await stepwise.workflows.update(orgId, current.id, patch));
    },
  );

  app.delete(
    '/v1/workflows/:id',
    { preValidation: write, schema: { tags, summary: 'Delete a workflow', params: idParams } },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const workflow = await stepwise.workflows.get(orgId, request.params.id);
      await stepwise.workflows.delete(orgId, workflow.id);
      return { status: true, message: 'Workflow deleted', id: workflow.id };
    },
  );

  app.post(
    '/v1/workflows/:id/run',
    {
      preValidation: write,
      schema: { tags, summary: 'Run a workflow now', params: idParams, body: runBody },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const header = request.headers['idempotency-key'];
      const { run } = await stepwise.runs.start(principal.org_id, request.params.id, {
        input: request.body?.input ?? {},
        idempotency_key: request.body?.idempotencyKey ?? (typeof header === 'string' ? header : undefined),
        site_id: principal.site_id,
        trigger: { type: 'api', key_id: principal.key_id },
      });
      return reply.code(201).send({ status: true, message: 'Workflow execution started', jobId: run.id });
    },
  );

  app.post(
    '/v1/workflows/:id/cancel',
    {
      preValidation: write,
      schema: {
        tags,
        summary: "Cancel a job, or all of a workflow's active jobs",
        params: idParams,
        body: cancelBody,
      },
    },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const workflow = await stepwise.workflows.get(orgId, request.params.id);
      const jobId = request.body?.jobId;
      const targets = jobId
        ? [await stepwise.runs.get(orgId, jobId)].filter((run) => run.workflow_id === workflow.id)
        : await stepwise.runs.list(orgId, {
            workflow_id: workflow.id,
            status: ['pending', 'running'],
            limit: 500,
          });
      const cancelled: string[] = [];
      for (const run of targets) {
        try {
          await stepwise.runs.cancel(orgId, run.id);
          cancelled.push(run.id);
        } catch (error) {
          if (jobId) throw error;
        }
      }
      return {
        status: true,
        message: cancelled.length > 0 ? 'Workflow execution cancelled' : 'No active jobs to cancel',
        cancelledJobIds: cancelled,
      };
    },
  );

  app.get(
    '/v1/workflows/:id/jobs',
    {
      preValidation: read,
      schema: {
        tags,
        summary: "List a workflow's jobs (runs), newest first",
        params: idParams,
        querystring: page.extend({
          status: z
            .enum(['pending', 'running', 'completed', 'partial_complete', 'failed', 'cancelled'])
            .optional(),
        }),
      },
    },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const workflow = await stepwise.workflows.get(orgId, request.params.id);
      const { limit, offset, status } = request.query;
      const runs = await stepwise.runs.list(orgId, {
        workflow_id: workflow.id,
        status: status ? [status] : undefined,
        limit,
        offset,
      });
      return { data: runs.map((run) => v1Job(run)), limit, offset };
    },
  );

  app.get(
    '/v1/runs/:id',
    {
      preValidation: read,
      schema: { tags: ['runs'], summary: 'A run with its steps and timeline', params: idParams },
    },
    async (request) => {
      const detail = await stepwise.runs.detail(principalOf(request).org_id, request.params.id);
      const job = v1Job(detail.run, detail.steps);
      return {
        ...job,
        // Each attempt's input after templating (secrets show as `[secret]`), for the dashboard.
        steps: job.steps?.map((step, index) => ({ ...step, input: detail.steps[index]!.input })),
        timeline: detail.events.map((event) => ({
          seq: event.seq,
          type: event.type,
          at: new Date(event.at).toISOString(),
          data: event.data,
        })),
      };
    },
  );
}
