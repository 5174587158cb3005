import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { SLUG_PATTERN } from '../../domain/workflow-input.js';
import { principalOf, requireScope } from '../auth.js';
import { apiV1Listing, apiV1Workflow } from './representation.js';

const BASE = '/api/v1/workflows';

const workflowParams = z.object({ workflow_id: z.string().min(1).max(200) });
// PostgreSQL refuses NUL in text: a filter holding one is the caller's 400, not our 500.
const filterText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((text) => !text.includes('\u0000'), 'may not hold a NUL character');

const listingQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(25),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
  kind: z.enum(['template', 'community']).optional(),
  category: filterText(60).optional(),
  q: filterText(200).optional(),
});

// Fastify hands a request without a body to the validator as null: `install` needs none.
const installBody = z
  .object({
    slug: z
      .string()
      .regex(SLUG_PATTERN, 'a slug starts with a letter and holds letters, digits, _ or - (64 at most)')
      .optional(),
    title: z.string().trim().min(1, 'a title may not be empty').max(200).optional(),
  })
  .strict()
  .nullish();

/**
 * Document 004's community marketplace: `explore` (featured: most installed, then newest),
 * `community` (every public workflow, newest first), `public/{id}` (without a key),
 * `publish` / `unpublish`, and `install`, which copies a listing into the caller's org. The
 * shipped templates are listings too (`kind: "template"`, ids `tpl_<slug>`); a published
 * workflow's listing id is the workflow's id.
 */
export function registerApiV1MarketplaceRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const read = requireScope(stepwise.keys, 'workflows:read');
  const write = requireScope(stepwise.keys, 'workflows:write');
  const tags = ['marketplace (api/v1)'];

  const lists = [
    {
      path: 'explore',
      summary: 'Featured workflows and templates: most installed first, then newest',
      list: (filter: z.infer<typeof listingQuery>) => stepwise.marketplace.explore(filter),
    },
    {
      path: 'community',
      summary: 'Every public workflow and template, newest first',
      list: (filter: z.infer<typeof listingQuery>) => stepwise.marketplace.community(filter),
    },
  ];
  for (const { path, summary, list } of lists) {
    app.get(
      `${BASE}/${path}`,
      { preValidation: read, schema: { tags, summary, querystring: listingQuery } },
      async (request) => {
        const { listings, total } = await list(request.query);
        const { limit, offset } = request.query;
        return { workflows: listings.map(apiV1Listing), limit, offset, total };
      },
    );
  }

  app.get(
    `${BASE}/public/:workflow_id`,
    {
      schema: {
        tags,
        summary: 'A public workflow or template by id, without authentication',
        security: [],
        params: workflowParams,
      },
    },
    async (request) => apiV1Listing(await stepwise.marketplace.get(request.params.workflow_id)),
  );

  app.post(
    `${BASE}/:workflow_id/publish`,
    {
      preValidation: write,
      schema: {
        tags,
        summary:
          'Publish (or republish) a workflow to the marketplace, secrets and org-specific values removed',
        params: workflowParams,
      },
    },
    async (request) => {
      const { workflow, listing } = await stepwise.marketplace.publish(
        principalOf(request).org_id,
        request.params.workflow_id,
      );
      return { ...apiV1Workflow(workflow), listing: apiV1Listing(listing) };
    },
  );

  app.post(
    `${BASE}/:workflow_id/unpublish`,
    {
      preValidation: write,
      schema: { tags, summary: 'Remove a workflow from the marketplace', params: workflowParams },
    },
    async (request) =>
      apiV1Workflow(
        await stepwise.marketplace.unpublish(principalOf(request).org_id, request.params.workflow_id),
      ),
  );

  app.post(
    `${BASE}/:workflow_id/install`,
    {
      preValidation: write,
      schema: {
        tags,
        summary: "Install a public workflow or template (by its listing id) into the caller's org",
        params: workflowParams,
        body: installBody,
      },
    },
    async (request, reply) => {
      const { workflow, listing, missing_secrets } = await stepwise.marketplace.install(
        principalOf(request).org_id,
        request.params.workflow_id,
        request.body ?? {},
      );
      return reply
        .code(201)
        .send({ ...apiV1Workflow(workflow), installed_from: listing.id, missing_secrets });
    },
  );
}
