import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import type { Scope } from '../../domain/scopes.js';
import type { InstanceRecord } from '../../services/instance-service.js';
import { principalOf, requireScope } from '../auth.js';

const ACTION_SCOPES = {
  create: 'instances:write',
  read: 'instances:read',
  update: 'instances:write',
} as const satisfies Record<string, Scope>;

/** Document 001's input schema, one body for the three actions. */
const instanceBody = z
  .object({
    action: z.enum(['create', 'read', 'update']),
    site_id: z.string().min(1).max(200).optional(),
    instance_id: z.string().min(1).max(200).optional(),
    activity: z.string().max(2000).optional(),
    name: z.string().max(200).optional(),
    context: z.string().max(20_000).optional(),
    status: z.string().max(32).optional(),
    limit: z.number().int().min(1).max(100).optional(),
    offset: z.number().int().min(0).optional(),
  })
  .strict();

/** An instance as the dialect shows it: document 001's `id`, `name`, `status`, and the rest. */
export function instanceView(instance: InstanceRecord) {
  return {
    id: instance.id,
    name: instance.name,
    status: instance.status,
    activity: instance.activity,
    site_id: instance.site_id,
    context: instance.context,
    created_at: new Date(instance.created_at).toISOString(),
    updated_at: new Date(instance.updated_at).toISOString(),
  };
}

/**
 * Document 001: `POST /api/agents/tools/instance` with `action` create | read | update.
 *
 * The key is checked first (401), then the scope the action needs (403 naming it):
 * `instances:write` for create and update, `instances:read` for read. `site_id` defaults
 * to the key's site for create and read; update without `instance_id` works on the site's
 * current instance, the one most recently created or updated.
 */
export function registerInstanceRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const guards = Object.fromEntries(
    Object.entries(ACTION_SCOPES).map(([action, scope]) => [action, requireScope(stepwise.keys, scope)]),
  ) as Record<keyof typeof ACTION_SCOPES, preHandlerAsyncHookHandler>;

  app.post(
    '/api/agents/tools/instance',
    {
      async preHandler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
        const { action } = request.body as z.infer<typeof instanceBody>;
        await guards[action].call(this, request, reply);
      },
      schema: {
        tags: ['instances (document 001)'],
        summary: 'Create, read or update (smart rename) an assistant instance',
        body: instanceBody,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const orgId = principal.org_id;
      const body = request.body;
      switch (body.action) {
        case 'create': {
          const siteId = await stepwise.instances.resolveSiteId(orgId, body.site_id, principal.site_id);
          const instance = await stepwise.instances.create(orgId, siteId, {
            activity: body.activity as string,
            name: body.name,
          });
          return reply.code(201).send({
            success: true,
            instance: instanceView(instance),
            authentication: { success: true },
          });
        }
        case 'read': {
          const siteId =
            body.instance_id !== undefined && body.site_id === undefined
              ? undefined
              : await stepwise.instances.resolveSiteId(orgId, body.site_id, principal.site_id);
          const result = await stepwise.instances.read(orgId, {
            site_id: siteId,
            instance_id: body.instance_id,
            limit: body.limit,
            offset: body.offset,
          });
          return 'instance' in result
            ? { success: true, instance: instanceView(result.instance) }
            : {
                success: true,
                instances: result.instances.map(instanceView),
                limit: result.limit,
                offset: result.offset,
              };
        }
        case 'update': {
          const siteId =
            body.instance_id !== undefined && body.site_id === undefined
              ? undefined
              : await stepwise.instances.resolveSiteId(orgId, body.site_id, principal.site_id);
          const result = await stepwise.instances.update(orgId, {
            instance_id: body.instance_id,
            site_id: siteId,
            name: body.name,
            status: body.status,
            context: body.context,
          });
          return {
            success: true,
            renamed: result.renamed,
            old_name: result.old_name,
            new_name: result.new_name,
            similarity: result.similarity,
            instance: instanceView(result.instance),
          };
        }
      }
    },
  );
}
