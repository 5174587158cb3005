import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { SCOPES } from '../../domain/scopes.js';
import { principalOf, requireScope } from '../auth.js';

const keyBody = z
  .object({
    org: z.string().min(1).max(100).optional(),
    site: z.string().min(1).max(100).optional(),
    scopes: z.array(z.enum(SCOPES)).min(1),
    name: z.string().max(200).optional(),
  })
  .strict();

const secretName = z.object({ name: z.string().min(1).max(128) });

/**
 * Key management for `org_admin` keys (their own org) and operators (every org), and the
 * org's secrets for workflow writers.
 */
export function registerAdminRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const orgAdmin = requireScope(stepwise.keys, 'org_admin');
  const tags = ['admin'];

  app.post(
    '/v1/admin/keys',
    {
      preValidation: orgAdmin,
      schema: {
        tags,
        summary:
          "Create an API key (shown once): in the caller's org, or in `org` (created when new) for an operator",
        body: keyBody,
      },
    },
    async (request, reply) => {
      const created = await stepwise.keys.createAs(principalOf(request), request.body);
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/admin/keys',
    {
      preValidation: orgAdmin,
      schema: { tags, summary: "List API keys: the caller's org, or every org for an operator" },
    },
    async (request) => ({ data: await stepwise.keys.listAs(principalOf(request)) }),
  );

  app.delete(
    '/v1/admin/keys/:id',
    {
      preValidation: orgAdmin,
      schema: {
        tags,
        summary: "Revoke an API key at once (an org admin: its own org's, operator keys aside)",
        params: z.object({ id: z.string().min(1) }),
      },
    },
    async (request) => {
      await stepwise.keys.revokeAs(principalOf(request), request.params.id);
      return { status: true, message: 'API key revoked', id: request.params.id };
    },
  );

  app.put(
    '/v1/secrets/:name',
    {
      preValidation: requireScope(stepwise.keys, 'workflows:write'),
      schema: {
        tags: ['secrets'],
        summary: 'Set a secret for {{ secrets.NAME }}',
        params: secretName,
        body: z.object({ value: z.string() }).strict(),
      },
    },
    async (request) => {
      await stepwise.secrets.put(principalOf(request).org_id, request.params.name, request.body.value);
      return { status: true, name: request.params.name };
    },
  );

  app.get(
    '/v1/secrets',
    {
      preValidation: requireScope(stepwise.keys, 'workflows:read'),
      schema: { tags: ['secrets'], summary: 'Secret names (never values)' },
    },
    async (request) => ({ data: await stepwise.secrets.listNames(principalOf(request).org_id) }),
  );
}
