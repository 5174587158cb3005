import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { StepwiseError, validationError } from '../../domain/errors.js';
import { triggerConfigSchema, type WorkflowInput, type WorkflowPatch } from '../../domain/workflow-input.js';
import { concurrencySchema, stepSchema, throttleSchema } from '../../domain/workflow.js';
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

/** What `generate_immediately` answers until AI generation exists: said plainly, never faked. */
const GENERATION_UNAVAILABLE = {
  status: 'not_available',
  message: 'AI step generation arrives with the generation feature; add steps with PUT',
} as const;

const notImplemented = (message: string): StepwiseError => new StepwiseError('NOT_IMPLEMENTED', 501, message);

/** Publishing goes through the marketplace routes, which are not there yet; `is_public` must not bypass them. */
function refusePublishing(wanted: boolean | undefined, current: boolean): void {
  if (wanted !== undefined && wanted !== current) {
    throw notImplemented(
      'changing is_public is publishing to the community marketplace, which arrives with the marketplace feature',
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
    trigger_config: body.trigger_config,
    status: body.status,
  };
  return Object.fromEntries(Object.entries(core).filter(([, value]) => value !== undefined)) as WorkflowPatch;
}

interface LaterRoute {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  message: string;
  /** Absent for the one route the document serves without authentication. */
  scope?: 'workflows:read' | 'workflows:write';
}

const MARKETPLACE = 'it arrives with the community marketplace feature';
const LATER_ROUTES: LaterRoute[] = [
  {
    method: 'POST',
    url: `${BASE}/:workflow_id/regenerate-steps`,
    summary: 'Regenerate steps with AI (not implemented yet)',
    message: `regenerating steps with AI is not available yet: it arrives with the AI generation feature; edit steps with PUT ${BASE}/{workflow_id}`,
    scope: 'workflows:write',
  },
  {
    method: 'GET',
    url: `${BASE}/explore`,
    summary: 'Featured workflows (not implemented yet)',
    message: `exploring featured workflows is not available yet: ${MARKETPLACE}`,
    scope: 'workflows:read',
  },
  {
    method: 'GET',
    url: `${BASE}/community`,
    summary: 'Community workflows (not implemented yet)',
    message: `listing community workflows is not available yet: ${MARKETPLACE}`,
    scope: 'workflows:read',
  },
  {
    method: 'GET',
    url: `${BASE}/public/:workflow_id`,
    summary: 'A public workflow, without authentication (not implemented yet)',
    message: `reading public workflows is not available yet: ${MARKETPLACE}`,
  },
  {
    method: 'POST',
    url: `${BASE}/:workflow_id/publish`,
    summary: 'Publish to the community marketplace (not implemented yet)',
    message: `publishing workflows is not available yet: ${MARKETPLACE}`,
    scope: 'workflows:write',
  },
  {
    method: 'POST',
    url: `${BASE}/:workflow_id/unpublish`,
    summary: 'Remove from the community marketplace (not implemented yet)',
    message: `unpublishing workflows is not available yet: ${MARKETPLACE}`,
    scope: 'workflows:write',
  },
  {
    method: 'POST',
    url: `${BASE}/from-todo`,
    summary: 'Generate a workflow from a todo item (not implemented yet)',
    message: `creating workflows from todo items is not available yet: it arrives with the AI generation feature; create one with POST ${BASE}`,
    scope: 'workflows:write',
  },
];

/**
 * Document 004: `/api/v1/workflows…` with snake_case bodies, `trigger_config`, execute with
 * `context`, status with progress, executions, activate/deactivate. The marketplace and AI
 * generation routes answer 501 until those features exist.
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
      const { generate_immediately: generate, is_public: isPublic, ...fields } = request.body;
      refusePublishing(isPublic, false);
      const workflow = await stepwise.workflows.create(
        principalOf(request).org_id,
        toCorePatch(fields) as WorkflowInput,
      );
      const body = apiV1Workflow(workflow);
      const awaitsGeneration = generate === true && workflow.definition.steps.length === 0;
      return reply.code(201).send(awaitsGeneration ? { ...body, generation: GENERATION_UNAVAILABLE } : body);
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
      refusePublishing(request.body.is_public, current.is_public);
      return apiV1Workflow(await stepwise.workflows.update(orgId, current.id, toCorePatch(request.body)));
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

  for (const route of LATER_ROUTES) {
    app.route({
      method: route.method,
      url: route.url,
      ...(route.scope ? { preValidation: route.scope === 'workflows:read' ? read : write } : {}),
      schema: {
        tags,
        summary: route.summary,
        ...(route.url.includes(':workflow_id') ? { params: workflowParams } : {}),
      },
      handler: async () => {
        throw notImplemented(route.message);
      },
    });
  }
}
