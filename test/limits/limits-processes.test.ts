import { afterEach, expect, it } from 'vitest';
import { CliProcess, runCli, tempDir } from '../cli/cli-process.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';

// Two real `stepwise serve` processes on one PostgreSQL: the rate limit and the plan's
// concurrency cap hold across them, because both live in the database, not in memory.

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

async function serve(env: Record<string, string>): Promise<string> {
  const child = CliProcess.spawn(['serve'], { ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' });
  cleanups.push(() => child.stop('SIGKILL'));
  const [, url] = await child.waitForOutput(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 20_000);
  return url!;
}

it.skipIf(!testDatabaseUrl)(
  'two serve processes on one PostgreSQL share the per-key rate limit and the concurrency cap',
  async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dirs = [tempDir(), tempDir()];
    for (const dir of dirs) cleanups.push(() => dir.remove());
    const shared = {
      STEPWISE_DATABASE_URL: database.url,
      STEPWISE_DEFAULT_PLAN: 'free',
      STEPWISE_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    const created = await runCli(
      ['keys', 'create', '--org', 'acme', '--scopes', 'workflows:read,workflows:write', '--json'],
      {
        ...shared,
        STEPWISE_DATA_DIR: dirs[0]!.dir,
      },
    );
    expect(created.code, created.stderr).toBe(0);
    const limitedKey = (JSON.parse(created.stdout) as { key: string }).key;
    const second = await runCli(
      ['keys', 'create', '--org', 'acme', '--scopes', 'workflows:read,workflows:write', '--json'],
      {
        ...shared,
        STEPWISE_DATA_DIR: dirs[0]!.dir,
      },
    );
    const runKey = (JSON.parse(second.stdout) as { key: string }).key;

    const urls = await Promise.all(dirs.map((dir) => serve({ ...shared, STEPWISE_DATA_DIR: dir.dir })));
    const post = (i: number, path: string, key: string, body: unknown) =>
      fetch(`${urls[i % 2]}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    // 16 mutating calls with one key, alternating between the processes: exactly 10 pass.
    const statuses = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        post(i, '/v1/workflows', limitedKey, { title: `w${i}` }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((status) => status === 201)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(6);

    // The free plan runs 3 at once: 8 starts of a long run across both processes admit exactly 3.
    const workflow = (await (
      await post(0, '/v1/workflows', runKey, {
        title: 'Long',
        steps: [{ id: 'nap', tool: 'delay', params: { duration: '1h' } }],
      })
    ).json()) as { id: string };
    const starts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => post(i, `/v1/workflows/${workflow.id}/run`, runKey, {})),
    );
    const bodies = await Promise.all(
      starts.map((response) => response.json() as Promise<{ error?: { code: string } }>),
    );
    expect(starts.filter((response) => response.status === 201)).toHaveLength(3);
    expect(bodies.filter((body) => body.error?.code === 'CONCURRENCY_LIMIT')).toHaveLength(5);
  },
  90_000,
);
