import { z } from 'zod';
import type { MarketplaceListing } from '../domain/marketplace.js';
import { SLUG_PATTERN } from '../domain/workflow-input.js';
import { defineTool, type McpTool } from './tool-definition.js';

const listingSummary = z.object({
  id: z.string().describe('Pass this as workflowId to install_workflow'),
  kind: z.enum(['template', 'community']),
  slug: z.string().describe('The slug (action name) an installed copy takes'),
  name: z.string(),
  description: z.string(),
  category: z.string(),
  creditCost: z.number(),
  estimatedDuration: z.string().nullable(),
  installCount: z.number(),
  inputs: z.record(z.string(), z.unknown()).describe('What a run of it expects as input'),
  requiredSecrets: z.array(z.string()).describe('Secrets to set (PUT /v1/secrets/{name}) before running it'),
});

const summarize = (listing: MarketplaceListing) => ({
  id: listing.id,
  kind: listing.kind,
  slug: listing.slug,
  name: listing.title,
  description: listing.description,
  category: listing.category,
  creditCost: listing.snapshot.credit_cost,
  estimatedDuration: listing.snapshot.estimated_duration,
  installCount: listing.install_count,
  inputs: listing.snapshot.inputs,
  requiredSecrets: listing.snapshot.required_secrets,
});

/** `explore_workflows`: the marketplace's templates and community workflows, most installed first. */
export const exploreWorkflowsTool = defineTool({
  name: 'explore_workflows',
  description:
    'Browse the marketplace: ready-made templates (lead research, shop checkups, …) and workflows other ' +
    'organisations published, most installed first. Install one with install_workflow, then run it with run_workflow.',
  input: z.strictObject({
    q: z.string().max(200).optional().describe('Text to find in the name, description or slug'),
    category: z.string().max(60).optional(),
    kind: z.enum(['template', 'community']).optional(),
    limit: z.number().int().min(1).max(100).default(25),
    offset: z.number().int().min(0).max(100_000).default(0),
  }),
  output: z.object({ workflows: z.array(listingSummary), total: z.number() }),
  access: { scope: 'workflows:read', mutating: false },
  async run(args, { stepwise }) {
    const { listings, total } = await stepwise.marketplace.explore({
      ...args,
      // PostgreSQL refuses NUL in text; no name or description holds one anyway.
      q: args.q?.split('\u0000').join(''),
      category: args.category?.split('\u0000').join(''),
    });
    return { workflows: listings.map(summarize), total };
  },
});

/** `install_workflow`: copies a marketplace listing into the caller's org. */
export const installWorkflowTool = defineTool({
  name: 'install_workflow',
  description:
    "Install a marketplace workflow (an id from explore_workflows) into the organisation. The copy's slug is the " +
    "listing's (or a numbered variant when taken, or the slug given); run it with run_workflow once the secrets in " +
    'missingSecrets are set.',
  input: z.strictObject({
    workflowId: z.string().min(1).max(200).describe('The listing id from explore_workflows'),
    slug: z
      .string()
      .regex(SLUG_PATTERN, 'a slug starts with a letter and holds letters, digits, _ or - (64 at most)')
      .optional(),
  }),
  output: z.object({
    workflowId: z.string().describe('The installed workflow: pass it (or the slug) to run_workflow'),
    slug: z.string(),
    name: z.string(),
    status: z.string(),
    installedFrom: z.string(),
    creditCost: z.number(),
    requiredSecrets: z.array(z.string()),
    missingSecrets: z
      .array(z.string())
      .describe(
        'Required secrets the organisation has not set: set them (PUT /v1/secrets/{name}) before running it',
      ),
  }),
  access: { scope: 'workflows:write', mutating: true },
  async run(args, { stepwise, principal }) {
    const { workflow, listing, missing_secrets } = await stepwise.marketplace.install(
      principal.org_id,
      args.workflowId,
      { slug: args.slug },
    );
    return {
      workflowId: workflow.id,
      slug: workflow.slug,
      name: workflow.title,
      status: workflow.status,
      installedFrom: listing.id,
      creditCost: workflow.credit_cost,
      requiredSecrets: listing.snapshot.required_secrets,
      missingSecrets: missing_secrets,
    };
  },
});

export const MARKETPLACE_TOOLS: McpTool[] = [exploreWorkflowsTool, installWorkflowTool];
