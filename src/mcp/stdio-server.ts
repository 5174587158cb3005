import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { pino } from 'pino';
import type { StepwiseConfig } from '../app/config.js';
import { createStepwise } from '../app/stepwise.js';
import { configError, StepwiseError } from '../domain/errors.js';
import { createMcpServer } from './mcp-server.js';

export interface StdioOptions {
  /** The caller's API key (`STEPWISE_API_KEY`). */
  apiKey: string | undefined;
  /** Also execute runs in this process (otherwise a `serve` or `worker` process on the same database does). */
  worker?: boolean;
}

/**
 * `stepwise mcp`: the MCP tools over stdio for the holder of `STEPWISE_API_KEY`. stdout
 * carries JSON-RPC only: every log line goes to stderr. Ends when stdin closes or on
 * SIGTERM/SIGINT. @returns the exit code.
 * @throws CONFIG_INVALID naming STEPWISE_API_KEY when the key is missing or not valid.
 */
export async function runMcpOverStdio(config: StepwiseConfig, options: StdioOptions): Promise<number> {
  const apiKey = options.apiKey?.trim();
  if (!apiKey) {
    throw configError('STEPWISE_API_KEY', 'set it to an API key (create one with: stepwise keys create …)');
  }
  const logger = pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination(2));
  const stepwise = await createStepwise(config, { logger });
  let principal;
  try {
    principal = await stepwise.keys.authenticate(apiKey);
  } catch (error) {
    await stepwise.close();
    if (error instanceof StepwiseError && error.status === 401) {
      throw configError('STEPWISE_API_KEY', error.message);
    }
    throw error;
  }
  if (options.worker) await stepwise.startWorker();
  const server = createMcpServer(stepwise, principal);
  const transport = new StdioServerTransport();

  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let closing = false;
  const stop = async (code: number) => {
    if (closing) return;
    closing = true;
    await server.close().catch(() => undefined);
    await stepwise.close();
    finish(code);
  };
  process.stdin.once('end', () => void stop(0));
  process.stdin.once('close', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(130));

  await server.connect(transport);
  logger.info({ org_id: principal.org_id, key_id: principal.key_id }, 'MCP server on stdio');
  return finished;
}
