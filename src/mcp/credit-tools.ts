import { z } from 'zod';
import type { Plan } from '../domain/plan.js';
import { CREDIT_ENTRY_KINDS } from '../domain/model.js';
import { defineTool, type McpTool } from './tool-definition.js';
import { isoOrNull } from '../domain/clock.js';

/** Enough of the ledger for an assistant to explain a balance without paging. */
const RECENT_ENTRIES = 5;

const workflowAccess = z.union([
  z.literal('all'),
  z.object({ slugs: z.array(z.string()).optional(), maxCreditCost: z.number().optional() }),
]);

function workflowAccessOf(plan: Plan): z.output<typeof workflowAccess> {
  const access = plan.workflows;
  if (access === 'all') return 'all';
  return {
    ...(access.slugs ? { slugs: access.slugs } : {}),
    ...(access.max_credit_cost !== undefined ? { maxCreditCost: access.max_credit_cost } : {}),
  };
}

/**
 * `get_credits`: what document 003's pre-flight checks look at, so an assistant can tell
 * before run_workflow whether a start would be refused (plan access, concurrency, credits).
 */
export const getCreditsTool = defineTool({
  name: 'get_credits',
  description:
    "The organisation's credit balance, when it is next topped up, and its plan: the most concurrent runs, " +
    'the monthly credits, which workflows it may run, its rate limits and its caps on open MCP sessions and ' +
    'workflows generating at once. A run needs a balance of at least the ' +
    "workflow's creditCost (see list_workflows); credits are reserved at launch and given back if the run fails or is cancelled.",
  input: z.strictObject({}),
  output: z.object({
    balance: z.number().describe('Credits available now'),
    renewsAt: z
      .string()
      .nullable()
      .describe('When the balance is next topped up to monthlyCredits (ISO 8601); null if never'),
    plan: z.object({
      name: z.string(),
      maxConcurrentRuns: z
        .number()
        .nullable()
        .describe('Pending + running runs allowed at once; null = no cap'),
      monthlyCredits: z.number(),
      workflows: workflowAccess.describe('"all", or the slugs and/or highest creditCost the plan may run'),
      rateLimits: z
        .object({ mutatingPerMinute: z.number(), readPerMinute: z.number() })
        .nullable()
        .describe('Calls per key and minute; null = no limit'),
      maxMcpSessions: z
        .number()
        .nullable()
        .describe('MCP sessions the organisation may hold open at once; null = no cap of its own'),
      maxGeneratingWorkflows: z
        .number()
        .nullable()
        .describe('Workflows that may be generating their steps at once; null = no cap'),
    }),
    recentEntries: z
      .array(
        z.object({
          kind: z.enum(CREDIT_ENTRY_KINDS),
          amount: z.number(),
          reason: z.string().nullable(),
          runId: z.string().nullable(),
          createdAt: z.string(),
        }),
      )
      .describe(
        `The ${RECENT_ENTRIES} newest ledger entries: grant +, reserve −cost, release +cost, consume 0`,
      ),
  }),
  access: { scope: 'workflows:read', mutating: false },
  async run(_args, { stepwise, principal }) {
    const account = await stepwise.credits.account(principal.org_id, { limit: RECENT_ENTRIES });
    const { plan } = account;
    return {
      balance: account.balance,
      renewsAt: isoOrNull(account.renews_at),
      plan: {
        name: plan.name,
        maxConcurrentRuns: plan.max_concurrent_runs,
        monthlyCredits: plan.monthly_credits,
        workflows: workflowAccessOf(plan),
        rateLimits: plan.rate_limits && {
          mutatingPerMinute: plan.rate_limits.mutating_per_minute,
          readPerMinute: plan.rate_limits.read_per_minute,
        },
        maxMcpSessions: plan.max_mcp_sessions,
        maxGeneratingWorkflows: plan.max_generating_workflows,
      },
      recentEntries: account.entries.map((entry) => ({
        kind: entry.kind,
        amount: entry.amount,
        reason: entry.reason,
        runId: entry.run_id,
        createdAt: new Date(entry.created_at).toISOString(),
      })),
    };
  },
});

export const CREDIT_TOOLS: McpTool[] = [getCreditsTool];
