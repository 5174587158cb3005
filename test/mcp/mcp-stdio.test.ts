import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.js';
import { createStepwise } from '../../src/app/stepwise.js';
import { CLI } from '../cli/cli-process.js';
import { rpcError, textJson } from './mcp-client.js';

let dataDir: string;
let key: string;
const env = () => ({
  PATH: process.env.PATH ?? '',
  STEPWISE_DATA_DIR: dataDir,
  STEPWISE_SQLITE_SYNCHRONOUS: 'NORMAL',
  LOG_LEVEL: 'info',
});

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'stepwise-mcp-stdio-'));
  // The key and workflow are made with the services on the SQLite file the process will open.
  const stepwise = await createStepwise(
    loadConfig({ STEPWISE_DATA_DIR: dataDir, STEPWISE_SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }),
    { logger: pino({ level: 'silent' }) },
  );
  const created = await stepwise.keys.create({ orgName: 'stdio', scopes: ['admin'], plan: 'unlimited' });
  key = created.key;
  await stepwise.workflows.create(created.org_id, {
    title: 'AI Shop Checkup',
    slug: 'ai_shop_checkup',
    credit_cost: 25,
    steps: [{ id: 'say', tool: 'log', params: { message: 'hi' } }],
  });
  await stepwise.close();
});

afterAll(() => {
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('stepwise mcp (stdio)', () => {
  it('serves the tools to the SDK client; stdout carries JSON-RPC only', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--worker'],
      env: { ...env(), STEPWISE_API_KEY: key },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    // A log line on stdout would break the JSON-RPC stream: connect and calls would fail.
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain('run_workflow');
    const started = textJson(
      await client.callTool({ name: 'run_workflow', arguments: { workflowId: 'ai_shop_checkup' } }),
    );
    expect(started).toMatchObject({ workflowId: 'ai_shop_checkup', status: 'pending', creditsReserved: 25 });
    let status: Record<string, unknown> = {};
    for (let i = 0; i < 100 && status.status !== 'completed'; i += 1) {
      status = textJson(
        await client.callTool({ name: 'get_run_status', arguments: { runId: started.runId } }),
      );
      if (status.status !== 'completed') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status.status).toBe('completed');
    const error = await rpcError(
      client.callTool({ name: 'run_workflow', arguments: { workflowId: 'nope' } }),
    );
    expect(error.code).toBe(-32000);
    await client.close();
    expect(stderr).toContain('MCP server on stdio');
  });

  it('says so when STEPWISE_API_KEY is missing or not valid', () => {
    const missing = spawnSync(process.execPath, [CLI, 'mcp'], { env: env(), encoding: 'utf8', input: '' });
    expect(missing.status).toBe(2);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('STEPWISE_API_KEY');
    const invalid = spawnSync(process.execPath, [CLI, 'mcp'], {
      env: { ...env(), STEPWISE_API_KEY: 'sk_live_not_a_key_at_all_000000' },
      encoding: 'utf8',
      input: '',
    });
    expect(invalid.status).toBe(2);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toMatch(/STEPWISE_API_KEY: .*not valid/);
  });
});
