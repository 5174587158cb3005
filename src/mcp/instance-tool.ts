import { z } from 'zod';
import { instanceView } from '../api/instances/instance-routes.js';
import { defineTool } from './tool-definition.js';

const instance = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  activity: z.string(),
  site_id: z.string(),
  context: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

/**
 * `instance { action: create | read | update, … }` (document 001): AI assistant sessions,
 * with smart renaming on update. Same answers as `POST /api/agents/tools/instance`.
 */
export const instanceTool = defineTool({
  name: 'instance',
  description:
    'Manage AI assistant instances (create, read, update). Use "create" to start a new instance for an activity. ' +
    'Use "read" to get one instance or list the site\'s instances. Use "update" to rename the instance from ' +
    'context (when it has a generic name such as "Assistant Session" or "New Instance", or the objective changed) ' +
    'or to set name or status. You MUST call update when the instance has a generic name or the conversation ' +
    'objective changed significantly.',
  input: z.strictObject({
    action: z.enum(['create', 'read', 'update']),
    site_id: z.string().min(1).max(200).optional().describe("Site id; defaults to your API key's site"),
    instance_id: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('Instance id; defaults to the current instance'),
    activity: z
      .string()
      .max(2000)
      .optional()
      .describe('Required for create: the purpose of the new instance'),
    name: z.string().max(200).optional().describe('For update: an explicit new name'),
    context: z.string().max(20_000).optional().describe('For update: what the user is trying to accomplish'),
    status: z.string().max(32).optional().describe('For update: the new status'),
    limit: z.number().int().min(1).max(100).optional().describe('For read: how many'),
    offset: z.number().int().min(0).optional().describe('For read: how many to skip'),
  }),
  output: z.object({
    success: z.literal(true),
    instance: instance.optional(),
    instances: z.array(instance).optional(),
    limit: z.number().optional(),
    offset: z.number().optional(),
    authentication: z.object({ success: z.boolean() }).optional(),
    renamed: z.boolean().optional(),
    old_name: z.string().optional(),
    new_name: z.string().optional(),
    similarity: z.number().nullable().optional(),
  }),
  access: (args) =>
    args.action === 'read'
      ? { scope: 'instances:read', mutating: false }
      : { scope: 'instances:write', mutating: true },
  async run(args, { stepwise, principal }) {
    const orgId = principal.org_id;
    const service = stepwise.instances;
    // With only an instance id, the instance is found in any site of the org.
    const siteId =
      args.action !== 'create' && args.instance_id !== undefined && args.site_id === undefined
        ? undefined
        : await service.resolveSiteId(orgId, args.site_id, principal.site_id);
    switch (args.action) {
      case 'create': {
        const created = await service.create(orgId, siteId!, {
          activity: args.activity as string,
          name: args.name,
        });
        return { success: true as const, instance: instanceView(created), authentication: { success: true } };
      }
      case 'read': {
        const result = await service.read(orgId, {
          site_id: siteId,
          instance_id: args.instance_id,
          limit: args.limit,
          offset: args.offset,
        });
        return 'instance' in result
          ? { success: true as const, instance: instanceView(result.instance) }
          : {
              success: true as const,
              instances: result.instances.map(instanceView),
              limit: result.limit,
              offset: result.offset,
            };
      }
      case 'update': {
        const result = await service.update(orgId, {
          instance_id: args.instance_id,
          site_id: siteId,
          name: args.name,
          status: args.status,
          context: args.context,
        });
        return {
          success: true as const,
          renamed: result.renamed,
          old_name: result.old_name,
          new_name: result.new_name,
          similarity: result.similarity,
          instance: instanceView(result.instance),
        };
      }
    }
  },
});
