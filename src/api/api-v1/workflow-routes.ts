import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { validationError } from '../../domain/errors.js';
import { triggerConfigSchema, type WorkflowInput, type WorkflowPatch } from '../../domain/workflow-input.js';
import {
  concurrencySchema,
  MAX_PRIORITY,
  MIN_PRIORITY,
  stepSchema,
  throttleSchema,
} from '../../domain/workflow.js';
import { principalOf, requireScope } from '../auth.js';
import { apiV1Execution, apiV1Status, apiV1Workflow } from './representation.js';

const BASE = '/api/v1/workflows';

const workflowParams = z.object({ workflow_id: z.string().min(1).max(200) });
const pageQuery = (defaultLimit: number) =>
  z.object({
    limit: z.coerce.number().int().min(1).max(500).default(defaultLimit),
    offset: z.coerce.number().int().min(0).default(0),
  });

/** The writable fields of document 004's Workflow Object. */
const workflowFields = z.object({
  title: z.string().trim().min(1, 'a title is required').max(200),
  // Clients generated from the document's models send `null` for an absent optional string.
  description: z.string().max(5000).nullish(),
  trigger_config: triggerConfigSchema,
  steps: z.array(stepSchema).max(500),
  // null (as a read object carries when unset) leaves these as they are.
  timeout_ms: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400_000)
    .nullable(),
  concurrency: concurrencySchema.nullable(),
  throttle: throttleSchema.nullable(),
  max_iterations: z.number().int().min(1).max(100_000).nullable(),
  priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).nullable(),
  status: z.enum(['active', 'inactive']),
  slug: z.string().max(64),
  is_public: z.boolean(),
});

const createBody = workflowFields
  .partial()
  .required({ title: true })
  .extend({ generate_immediately: z.boolean().optional() })
  .strict();

// PUT is a partial update ("Update workflow details"). The read-only fields are accepted so a
// client can send back the object it read; they are never applied.
const updateBody = workflowFields
  .partial()
  .extend({
    id: z.string().optional(),
    version: z.number().optional(),
    created_at: z.string().nullish(),
    updated_at: z.string().nullish(),
    generation: z.unknown().optional(),
  })
  .strict();

// Fastify hands a request without a body to the validator as null: the document's curl-style
// calls send none.
const executeBody = z
  .object({ context: z.record(z.string(), z.unknown()).optional() })
  .strict()
  .nullish();

/**
 * `is_public: true` publishes to the marketplace, as POST …/publish does (sanitized copy and
 * all), so it is refused up front, before anything is written, when there are no steps to publish.
 */
function checkPublishable(isPublic: boolean | undefined, steps: readonly unknown[]): void {
  if (isPublic === true && steps.length === 0) {
    throw validationError(
      'is_public',
      `is_public: a workflow needs steps before it is published; add steps, then POST ${BASE}/{workflow_id}/publish`,
    );
  }
}

function toCorePatch(body: Partial<z.infer<typeof workflowFields>>): WorkflowPatch {
  const core: WorkflowPatch = {
    title: body.title,
    description: body.description === null ? '' : body.description,
    slug: body.slug,
    steps: body.steps,
    timeout_ms: body.timeout_ms ?? undefined,
    concurrency: body.concurrency ?? undefined,
    throttle: body.throttle ?? undefined,
    max_iterations: body.max_iterations ?? undefined,
    priority: body.priority ?? undefined,
    trigger_config: body.trigger_config,
    status: body.status,
  };
  return Object.fromEntries(Object.entries(core).filter(([, value]) => value !== undefined)) as WorkflowPatch;
}

/**
 * Document 004: `/api/v1/workflows…` with snake_case bodies, `trigger_config`, execute with
 * `context`, status with progress, executions, activate/deactivate. `generate_immediately`
 * creates the workflow `generating`; the other AI generation routes are in
 * generation-routes.ts, the marketplace routes in marketplace-routes.ts.
 */
export function registerApiV1WorkflowRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const read = requireScope(stepwise.keys, 'workflows:read');
  const write = requireScope(stepwise.keys, 'workflows:write');
  const tags = ['workflows (api/v1)'];

  app.post(
    BASE,
    { preValidation: write, schema: { tags, summary: 'Create a workflow', body: createBody } },
    async (request, reply) => {
      const { generate_immediately: generateImmediately, is_public: isPublic, ...fields } = request.body;
      checkPublishable(isPublic, fields.steps ?? []);
      const orgId = principalOf(request).org_id;
      const input = toCorePatch(fields) as WorkflowInput;
      const workflow = await stepwise.generations.createOrGenerate(
        orgId,
        input,
        generateImmediately === true,
      );
      const saved = isPublic ? (await stepwise.marketplace.publish(orgId, workflow.id)).workflow : workflow;
      return reply.code(201).send(apiV1Workflow(saved));
    },
  );

  app.get(
    BASE,
    {
      preValidation: read,
      schema: { tags, summary: "List the caller's workflows", querystring: pageQuery(100) },
    },
    async (request) => {
      const { limit, offset } = request.query;
      const workflows = await stepwise.workflows.list(principalOf(request).org_id, { limit, offset });
      return { workflows: workflows.map(apiV1Workflow), limit, offset };
    },
  );

  app.get(
    `${BASE}/:workflow_id`,
    { preValidation: read, schema: { tags, summary: 'Get a workflow', params: workflowParams } },
    async (request) =>
      apiV1Workflow(await stepwise.workflows.get(principalOf(request).org_id, request.params.workflow_id)),
  );

  app.put(
    `${BASE}/:workflow_id`,
    {
      preValidation: write,
      schema: {
        tags,
        summary: 'Update workflow details (only the fields given change)',
        params: workflowParams,
        body: updateBody,
      },
    },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const current = await stepwise.workflows.get(orgId, request.params.workflow_id);
      if (request.body.id !== undefined && request.body.id !== current.id) {
        throw validationError('id', `id: '${request.body.id}' is not the id of the workflow in the path`);
      }
      const { is_public: isPublic } = request.body;
      checkPublishable(isPublic, request.body.steps ?? current.definition.steps);
      const updated = await stepwise.workflows.update(orgId, current.id, toCorePatch(request.body));
      if (isPublic === undefined || isPublic === updated.is_public) return apiV1Workflow(updated);
      // Publishing and unpublishing also set is_public: the listing and the flag never disagree.
      return apiV1Workflow(
        isPublic
          ? (await stepwise.marketplace.publish(orgId, current.id)).workflow
          : await stepwise.marketplace.unpublish(orgId, current.id),
      );
    },
  );

  app.delete(
    `${BASE}/:workflow_id`,
    { preValidation: write, schema: { tags, summary: 'Delete a workflow', params: workflowParams } },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const workflow = await stepwise.workflows.get(orgId, request.params.workflow_id);
      await stepwise.workflows.delete(orgId, workflow.id);
      return { success: true };
    },
  );

  app.post(
    `${BASE}/:workflow_id/execute`,
    {
      preValidation: write,
      schema: {
        tags,
        summary: 'Run a workflow now; `context` becomes the run input',
        params: workflowParams,
        body: executeBody,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const header = request.headers['idempotency-key'];
      const { run } = await stepwise.runs.start(principal.org_id, request.params.workflow_id, {
        input: request.body?.context ?? {},
        idempotency_key: typeof header === 'string' ? header : undefined,
        site_id: principal.site_id,
        trigger: { type: 'api', key_id: principal.key_id },
      });
      // 202: the run is accepted and queued, not done; its state is read from /status.
      return reply.code(202).send({ execution_id: run.id, workflow_id: run.workflow_id, status: run.status });
    },
  );

  app.get(
    `${BASE}/:workflow_id/status`,
    {
      preValidation: read,
      schema: { tags, summary: "The workflow's latest execution and its progress", params: workflowParams },
    },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const workflow = await stepwise.workflows.get(orgId, request.params.workflow_id);
      const [latest] = await stepwise.runs.list(orgId, { workflow_id: workflow.id, limit: 1 });
      return apiV1Status(workflow, latest);
    },
  );

  app.get(
    `${BASE}/:workflow_id/executions`,
    {
      preValidation: read,
      schema: {
        tags,
        summary: 'Past executions, newest first',
        params: workflowParams,
        querystring: pageQuery(10),
      },
    },
    async (request) => {
      const orgId = principalOf(request).org_id;
      const workflow = await stepwise.workflows.get(orgId, request.params.workflow_id);
      const { limit, offset } = request.query;
      const runs = await stepwise.runs.list(orgId, { workflow_id: workflow.id, limit, offset });
      return { executions: runs.map(apiV1Execution), limit, offset };
    },
  );

  const switches = [
    { action: 'activate', status: 'active', enabled: true, summary: 'Enable the workflow and its trigger' },
    {
      action: 'deactivate',
      status: 'inactive',
      enabled: false,
      summary: 'Disable the workflow and its trigger',
    },
  ] as const;
  for (const { action, status, enabled, summary } of switches) {
    app.post(
      `${BASE}/:workflow_id/${action}`,
      { preValidation: write, schema: { tags, summary, params: workflowParams } },
      async (request) => {
        const orgId = principalOf(request).org_id;
        const current = await stepwise.workflows.get(orgId, request.params.workflow_id);
        const updated = await stepwise.workflows.update(orgId, current.id, {
          status,
          trigger_config: { ...current.trigger_config, enabled },
        });
        return apiV1Workflow(updated);
      },
    );
  }
}
