import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import { startHttpRecorder } from '../support/http-recorder.js';
import { CliProcess, runCli, tempDir, type CliResult } from './cli-process.js';

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

/** A temp dir holding the data dir and workflow files; `env` points the CLI at it. */
function workspace() {
  const { dir, remove } = tempDir();
  cleanups.push(remove);
  const dataDir = path.join(dir, 'data');
  const file = (name: string, content: unknown) => {
    const target = path.join(dir, name);
    writeFileSync(target, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return target;
  };
  return { dir, dataDir, file, env: { STEPWISE_DATA_DIR: dataDir, STEPWISE_SQLITE_SYNCHRONOUS: 'NORMAL' } };
}

/** The one `error: …` line a usage or configuration mistake prints, and nothing else. */
function expectOneErrorLine(result: CliResult, exitCode: number): string {
  expect(result.code, result.stderr).toBe(exitCode);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(result.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
  return lines[0]!;
}

const HELLO = {
  title: 'Hello CLI',
  steps: [
    {
      id: 'greet',
      tool: 'transform',
      params: { expression: "'Hello, ' & name & '!'", data: '{{ input }}' },
    },
    { id: 'say', tool: 'log', params: { message: '{{ steps.greet.output }}' } },
  ],
};

describe('stepwise run', () => {
  it('--wait prints the run, each step and the output, and exits 0; a second run of the file is version 2', async () => {
    const ws = workspace();
    const file = ws.file('hello.json', HELLO);

    const first = await runCli(['run', file, '--input', '{"name":"Ada"}', '--wait'], ws.env);
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.split('\n');
    expect(lines[0]).toMatch(/^run run_\S+ of helloCli \(version 1\)$/);
    expect(first.stdout).toContain('▶ run started');
    expect(first.stdout).toMatch(/^ {2}… greet \(transform, attempt 1\)$/m);
    expect(first.stdout).toMatch(/^ {2}✓ greet \d+ ms$/m);
    expect(first.stdout).toMatch(/^ {2}✓ say \d+ ms$/m);
    expect(first.stdout.indexOf('✓ greet')).toBeLessThan(first.stdout.indexOf('✓ say'));
    expect(first.stdout).toMatch(/^● completed in \d+ ms$/m);
    const output = JSON.parse(first.stdout.slice(first.stdout.indexOf('\n{'))) as unknown;
    expect(output).toMatchObject({ message: 'Hello, Ada!' });
    expect(first.stdout).not.toContain('\u001b['); // no colour codes when stdout is not a terminal

    const second = await runCli(['run', file, '--input', '{"name":"Bo"}', '--wait'], ws.env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.split('\n')[0]).toMatch(/^run run_\S+ of helloCli \(version 2\)$/);
    expect(second.stdout.split('\n')[0]!.split(' ')[1]).not.toBe(lines[0]!.split(' ')[1]);
    expect(second.stdout).toContain('"Hello, Bo!"');
  });

  it('without --wait only queues the run and exits 0', async () => {
    const ws = workspace();
    const result = await runCli(['run', ws.file('hello.json', HELLO)], ws.env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toMatch(/^run run_\S+ of helloCli \(version 1\)$/);
  });

  it('a failing run exits 1 and prints the step error code', async () => {
    const server = await startHttpRecorder();
    cleanups.push(() => server.close());
    server.script('/boom', { status: 500, json: { error: 'down' } });
    const ws = workspace();
    const file = ws.file('failing.json', {
      title: 'Failing',
      steps: [
        {
          id: 'call',
          tool: 'http',
          params: { method: 'GET', url: `${server.url}/boom` },
          retry: { max_attempts: 1 },
        },
      ],
    });
    const result = await runCli(['run', file, '--wait'], { ...ws.env, STEPWISE_ALLOW_PRIVATE_NETWORK: '1' });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toMatch(/^ {2}✗ call HTTP_STATUS: .*500/m);
    expect(result.stdout).toMatch(/^● failed: HTTP_STATUS: /m);
    expect(server.requestsTo('/boom')).toHaveLength(1);
  });

  it('a missing file, invalid JSON (file or --input) and an unknown option exit 2 with one error line', async () => {
    const ws = workspace();
    const missing = await runCli(['run', path.join(ws.dir, 'nope.json'), '--wait'], ws.env);
    expect(expectOneErrorLine(missing, 2)).toMatch(/cannot read .*nope\.json/);
    expect(missing.stdout).toBe('');
    // The database exists now, so these may run side by side.
    const hello = ws.file('hello.json', HELLO);
    const [bad, badInput, unknownOption] = await Promise.all([
      runCli(['run', ws.file('bad.json', '{"title": "x",'), '--wait'], ws.env),
      runCli(['run', hello, '--input', '{name:'], ws.env),
      runCli(['run', hello, '--wiat'], ws.env),
    ]);
    expect(expectOneErrorLine(bad, 2)).toMatch(/bad\.json: not valid JSON/);
    expect(expectOneErrorLine(badInput, 2)).toMatch(/--input: not valid JSON/);
    expect(badInput.stdout).toBe('');
    expect(expectOneErrorLine(unknownOption, 2)).toMatch(/Unknown option '--wiat'/);
  });
});

describe('stepwise keys', () => {
  it('create --json, list --json without the key, revoke then list shows it revoked; a bad scope exits 2', async () => {
    const ws = workspace();
    const created = await runCli(
      ['keys', 'create', '--org', 'acme', '--scopes', 'workflows:read,workflows:write', '--json'],
      ws.env,
    );
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(Object.keys(key).sort()).toEqual(['id', 'key', 'org_id', 'scopes', 'site_id']);
    expect(key).toMatchObject({
      id: expect.stringMatching(/^key_/),
      key: expect.stringMatching(/^sk_live_.{40,}/),
      org_id: expect.stringMatching(/^org_/),
      site_id: expect.stringMatching(/^site_/),
      scopes: ['workflows:read', 'workflows:write'],
    });

    const [listed, badScope] = await Promise.all([
      runCli(['keys', 'list', '--json'], ws.env),
      runCli(['keys', 'create', '--org', 'acme', '--scopes', 'workflows:read,root'], ws.env),
    ]);
    expect(expectOneErrorLine(badScope, 2)).toMatch(/scopes: 'root' is not one of/);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain(String(key.key));
    const list = JSON.parse(listed.stdout) as Record<string, unknown>[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: key.id, org_id: key.org_id, scopes: key.scopes, revoked_at: null });
    expect(list[0]).not.toHaveProperty('key');
    expect(list[0]).not.toHaveProperty('key_hash');

    const revoked = await runCli(['keys', 'revoke', String(key.id)], ws.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout.trim()).toBe(`revoked ${String(key.id)}`);
    const afterText = await runCli(['keys', 'list'], ws.env);
    expect(afterText.code, afterText.stderr).toBe(0);
    expect(afterText.stdout.trim()).toMatch(new RegExp(`^${String(key.id)} +sk_live_\\S{4}… .*REVOKED$`));
    expect(afterText.stdout).not.toContain(String(key.key));
  });
});

describe('stepwise migrate and configuration', () => {
  it('migrate exits 0 and prints the schema line; a bad configuration value exits 2 with one line naming the variable, never repeating a secret one', async () => {
    const cases = [
      ['STEPWISE_WORKER_CONCURRENCY', 'abc', 'shown'],
      ['PORT', '70000', 'shown'],
      ['STEPWISE_DATABASE_URL', 'mysql://root:hunter2@db/x', 'secret'],
      ['SMTP_URL', 'mail://mailer:hunter2@smtp:587', 'secret'],
    ] as const;
    const good = workspace();
    const bad = workspace();
    const [migrated, ...results] = await Promise.all([
      runCli(['migrate'], good.env),
      ...cases.map(([variable, value]) => runCli(['migrate'], { ...bad.env, [variable]: value })),
    ]);
    expect(migrated!.code, migrated!.stderr).toBe(0);
    expect(migrated!.stdout.trim()).toBe('schema up to date (sqlite)');
    expect(existsSync(path.join(good.dataDir, 'stepwise.db'))).toBe(true);

    for (const [i, [variable, value, shown]] of cases.entries()) {
      const line = expectOneErrorLine(results[i]!, 2);
      expect(line).toContain(`error: ${variable}:`);
      if (shown === 'shown') expect(line).toContain(`'${value}'`);
      else expect(line).not.toContain('hunter2');
      expect(results[i]!.stdout).toBe('');
    }
    expect(existsSync(bad.dataDir), 'nothing is created before the configuration is checked').toBe(false);
  });
});

describe('stepwise serve', () => {
  /** Starts `serve` on a free loopback port (PORT=0) and reads the address from its log. */
  async function serve(env: Record<string, string>) {
    const child = CliProcess.spawn(['serve'], { ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    cleanups.push(() => child.stop('SIGKILL'));
    const [, url] = await child.waitForOutput(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/);
    return { process: child, url: url! };
  }

  const workflowsStatus = async (url: string, key: string) =>
    (await fetch(`${url}/v1/workflows`, { headers: { authorization: `Bearer ${key}` } })).status;

  it('first start prints the operator key once and writes admin-key.txt (0600); a restart does not; SIGTERM exits 0', async () => {
    const ws = workspace();
    const first = await serve(ws.env);
    const [, printed] = /^ {2}(sk_live_\S+)$/m.exec(first.process.stdout) ?? [];
    expect(printed, first.process.stdout).toBeDefined();
    expect(first.process.stdout).toContain('Created the operator API key');
    expect(first.process.stdout).toContain(`also in ${path.join(ws.dataDir, 'admin-key.txt')}`);
    const keyFile = path.join(ws.dataDir, 'admin-key.txt');
    expect(readFileSync(keyFile, 'utf8')).toBe(`${printed}\n`);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    const health = await fetch(`${first.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(await workflowsStatus(first.url, printed!)).toBe(200);
    expect(await workflowsStatus(first.url, 'sk_live_not_a_real_key_at_all_000000')).toBe(401);
    const keys = await fetch(`${first.url}/v1/admin/keys`, {
      headers: { authorization: `Bearer ${printed}` },
    });
    const listed = ((await keys.json()) as { data: { name: string; scopes: string[] }[] }).data;
    expect(listed).toEqual([expect.objectContaining({ name: 'bootstrap operator', scopes: ['operator'] })]);

    const stopped = await first.process.stop('SIGTERM');
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toContain('SIGTERM: draining');

    const second = await serve(ws.env);
    expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    expect(await workflowsStatus(second.url, printed!)).toBe(200);
    expect(second.process.stdout).not.toContain('operator API key');
    expect(second.process.stdout).not.toMatch(/sk_live_/);
    expect(readFileSync(keyFile, 'utf8')).toBe(`${printed}\n`);

    expect((await second.process.stop('SIGTERM')).code).toBe(0);
  });

  it('STEPWISE_BOOTSTRAP_KEY on a fresh data dir becomes the operator key, printed nowhere', async () => {
    const ws = workspace();
    const chosen = 'bootstrap-key-for-cli-test-0123'.padEnd(32, 'x');
    expect(chosen).toHaveLength(32);
    const server = await serve({ ...ws.env, STEPWISE_BOOTSTRAP_KEY: chosen });
    expect(await workflowsStatus(server.url, chosen)).toBe(200);
    expect(server.process.stdout).not.toContain('operator API key');
    expect(server.process.stdout).not.toContain(chosen);
    expect(existsSync(path.join(ws.dataDir, 'admin-key.txt'))).toBe(false);
    expect((await server.process.stop('SIGTERM')).code).toBe(0);
  });

  it('a port already in use exits 1 with one error line naming the address, and claims no run', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as AddressInfo).port;
    const ws = workspace();
    const queued = await runCli(['run', ws.file('hello.json', HELLO)], ws.env);
    const runId = /^run (run_\S+) /.exec(queued.stdout)?.[1];
    expect(runId, queued.stdout + queued.stderr).toBeDefined();

    const result = await runCli(['serve'], { ...ws.env, PORT: String(port), HOST: '127.0.0.1' });
    expect(expectOneErrorLine(result, 1)).toMatch(new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
    // The process exited at once: had it claimed the run, the run would wait out a 30 s lease.
    const store = await openStore({ kind: 'sqlite', path: path.join(ws.dataDir, 'stepwise.db') });
    cleanups.push(() => store.close());
    expect(await store.getRun(null, runId!)).toMatchObject({ status: 'pending', lease_owner: null });
  });
});
