import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolRequestSchema, ErrorCode, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Stepwise } from '../app/stepwise.js';
import type { Principal } from '../domain/scopes.js';
import { workflowsActionTool } from './action-tool.js';
import { CREDIT_TOOLS } from './credit-tools.js';
import { instanceTool } from './instance-tool.js';
import { MARKETPLACE_TOOLS } from './marketplace-tools.js';
import { RUN_TOOLS } from './run-tools.js';
import type { McpTool, ToolAccess, ToolContext } from './tool-definition.js';
import { ToolCallError, toolFailure } from './tool-errors.js';
import { WORKFLOW_TOOLS } from './workflow-tools.js';

const SERVER_INFO = { name: 'stepwise', version: '0.1.0' };

/** Every tool Stepwise serves over MCP, in the order `tools/list` shows them. */
export const MCP_TOOLS: readonly McpTool[] = [
  ...RUN_TOOLS,
  ...WORKFLOW_TOOLS,
  ...CREDIT_TOOLS,
  ...MARKETPLACE_TOOLS,
  workflowsActionTool,
  instanceTool,
];

/**
 * An MCP server exposing Stepwise's tools to one caller (`principal`, resolved from an API
 * key). Connect it to any transport: Streamable HTTP, stdio, in-memory.
 *
 * The SDK's own `tools/call` handler turns every thrown error into an `isError` result;
 * document 003 wants pre-flight failures as JSON-RPC errors (`-32000`) and bad arguments as
 * `-32602`, so `tools/call` is dispatched here while `tools/list` stays the SDK's (built
 * from the same zod schemas).
 * @example
 * const server = createMcpServer(stepwise, await stepwise.keys.authenticate(key));
 * await server.connect(new StdioServerTransport());
 */
export function createMcpServer(stepwise: Stepwise, principal: Principal): McpServer {
  const server = new McpServer(SERVER_INFO, {
    instructions:
      'Stepwise runs durable workflows. list_workflows shows what can run; run_workflow starts a run and returns a ' +
      'runId at once; poll get_run_status every 5-10 seconds until the run ends. get_credits shows the balance and ' +
      'plan limits a start must fit.',
  });
  const context: ToolContext = { stepwise, principal };
  const tools = new Map(MCP_TOOLS.map((tool) => [tool.name, tool]));
  const call = (tool: McpTool, args: unknown) => callTool(tool, args, context);

  for (const tool of MCP_TOOLS) {
    server.registerTool(
      tool.name,
      { description: tool.description, inputSchema: tool.input, outputSchema: tool.output },
      (args: unknown) => call(tool, args),
    );
  }
  server.server.setRequestHandler(CallToolRequestSchema, (request) => {
    const tool = tools.get(request.params.name);
    if (!tool) {
      throw new ToolCallError(
        ErrorCode.InvalidParams,
        `name: unknown tool '${request.params.name}'; use one of ${[...tools.keys()].join(', ')}`,
      );
    }
    return call(tool, request.params.arguments);
  });
  return server;
}

async function callTool(tool: McpTool, args: unknown, context: ToolContext): Promise<CallToolResult> {
  try {
    const { access, run } = tool.prepare(args, context);
    await consumeRateLimit(context, access);
    const result = await run();
    return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
  } catch (error) {
    return toolFailure(error, (bug) =>
      context.stepwise.logger.error({ err: bug, tool: tool.name }, 'MCP tool failed unexpectedly'),
    );
  }
}

/**
 * Counts the call against the key's per-minute budget of its plan, as REST does per
 * request: mutating tools spend the stricter budget (document 003: 10 a minute), reads
 * the looser one. Over the limit → 429 → `-32000`.
 */
async function consumeRateLimit({ stepwise, principal }: ToolContext, access: ToolAccess): Promise<void> {
  const plan = await stepwise.plans.planOf(principal.org_id);
  await stepwise.rateLimits.consume(principal.key_id, access.mutating ? 'mutating' : 'read', plan);
}
