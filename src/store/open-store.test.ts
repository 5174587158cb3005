import { createServer } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../../test/support/postgres.js';
import { isConnectionLost } from './open-store.js';

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('isConnectionLost', () => {
  it('recognises a database that is not there yet', async () => {
    const client = new pg.Client({ connectionString: `postgres://x@127.0.0.1:${await closedPort()}/x` });
    const error = await client.connect().catch((caught: unknown) => caught);
    expect(isConnectionLost(error)).toBe(true);
  });

  it('does not take a plain error or a non-error for a lost connection', () => {
    expect(isConnectionLost(new Error('relation "runs" does not exist'))).toBe(false);
    expect(isConnectionLost('ECONNRESET')).toBe(false);
  });

  describe.skipIf(!testDatabaseUrl)('on PostgreSQL', () => {
    const query = async (client: pg.Client, text: string) =>
      client.query(text).catch((caught: unknown) => caught);

    it('recognises a connection an administrator terminated, and not a statement the server refused', async () => {
      const victim = new pg.Client({ connectionString: testDatabaseUrl });
      const admin = new pg.Client({ connectionString: testDatabaseUrl });
      await Promise.all([victim.connect(), admin.connect()]);
      victim.on('error', () => undefined);
      try {
        expect(isConnectionLost(await query(victim, 'SELECT * FROM no_such_table'))).toBe(false);
        const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const sleeping = query(victim, 'SELECT pg_sleep(5)');
        await new Promise((resolve) => setTimeout(resolve, 100));
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        expect(isConnectionLost(await sleeping)).toBe(true);
      } finally {
        await Promise.all([victim.end().catch(() => undefined), admin.end()]);
      }
    });
  });
});
