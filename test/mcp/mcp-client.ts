import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Stepwise } from '../../src/app/stepwise.js';
import { createMcpServer } from '../../src/mcp/mcp-server.js';

/** The SDK's own client, linked in memory to our server for the caller holding `key`. */
export async function connectInMemory(stepwise: Stepwise, key: string): Promise<Client> {
  const principal = await stepwise.keys.authenticate(key);
  const server = createMcpServer(stepwise, principal);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'stepwise-test', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

/** The JSON-RPC error a call is refused with. */
export async function rpcError(call: Promise<unknown>): Promise<McpError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof McpError) return error;
    throw error;
  }
  throw new Error('expected a JSON-RPC error');
}

/** `content[0].text`, parsed. */
export function textJson(result: unknown): Record<string, unknown> {
  const content = (result as { content: { type: string; text: string }[] }).content;
  return JSON.parse(content[0]!.text) as Record<string, unknown>;
}
