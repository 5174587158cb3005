import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migratePostgres, postgresSchemaHash } from '../../src/store/postgres/postgres-migrations.js';

/**
 * A PostgreSQL URL whose role may create databases, e.g.
 * `postgres://postgres@127.0.0.1:5432/test`. Unset, PostgreSQL tests skip.
 */
export const testDatabaseUrl = process.env.STEPWISE_TEST_DATABASE_URL;

/** A database of one's own; `drop` removes it even while connections remain. */
export interface TestDatabase {
  url: string;
  /**
   * Deletes every row but the migration records: a few milliseconds, where a new clone
   * costs a few hundred (and TRUNCATE about as much), so a test file can share one database.
   */
  reset(): Promise<void>;
  drop(): Promise<void>;
}

const TEST_PREFIX = 'stepwise_test_';
// Serialises template builds across vitest worker processes (and concurrent test runs).
const TEMPLATE_LOCK_KEY = 0x5374_6574;
// Test databases older than this are leftovers of a killed run: no test file lasts an hour.
const STALE_AFTER_MS = 60 * 60 * 1000;

let template: Promise<string> | null = null;

/**
 * Creates an empty, migrated database by cloning a template (tens of milliseconds,
 * where migrating would take longer). The template is named after the migration set's
 * hash, built once by whichever process gets there first, and reused by later runs.
 * With `migrated: false` the database has no schema at all (for migration tests).
 *
 * @example
 * const db = await createTestDatabase();
 * const store = await PostgresStore.connect({ connectionString: db.url });
 * // …
 * await store.close();
 * await db.drop();
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  if (!testDatabaseUrl) throw new Error('STEPWISE_TEST_DATABASE_URL is unset');
  const adminUrl = testDatabaseUrl;
  // template0 is never connected to, so cloning it cannot fail on a busy template.
  const templateName = options.migrated === false ? 'template0' : await migratedTemplate(adminUrl);
  const name = `${TEST_PREFIX}${Date.now().toString(36)}_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE "${name}" TEMPLATE "${templateName}"`));
  const url = databaseUrl(adminUrl, name);
  // Kept open between resets: a new backend costs more than the deletes themselves.
  let resetter: Promise<{ client: pg.Client; script: string }> | null = null;
  return {
    url,
    async reset() {
      resetter ??= openResetter(url);
      const { client, script } = await resetter;
      await client.query(script);
    },
    async drop() {
      await resetter?.then(({ client }) => client.end()).catch(() => undefined);
      await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

async function openResetter(url: string): Promise<{ client: pg.Client; script: string }> {
  const client = new pg.Client({ connectionString: url });
  // Idle between tests: if the server drops it, the next reset fails rather than the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return { client, script: await deleteAllRowsScript(client) };
  } catch (error) {
    await client.end();
    throw error;
  }
}

async function deleteAllRowsScript(client: pg.Client): Promise<string> {
  const { rows: tables } = await client.query<{ name: string }>(
    "SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'",
  );
  const { rows: references } = await client.query<{ child: string; parent: string }>(
    "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent FROM pg_constraint WHERE contype = 'f'",
  );
  // Referencing tables first, so no foreign key stops a delete.
  const remaining = new Set(tables.map((table) => table.name));
  const ordered: string[] = [];
  while (remaining.size > 0) {
    const free = [...remaining].filter(
      (table) =>
        !references.some((ref) => ref.parent === table && ref.child !== table && remaining.has(ref.child)),
    );
    if (free.length === 0) throw new Error(`foreign keys form a cycle among ${[...remaining].join(', ')}`);
    for (const table of free) remaining.delete(table);
    ordered.push(...free);
  }
  return ordered.map((table) => `DELETE FROM ${table};`).join('\n');
}

function migratedTemplate(adminUrl: string): Promise<string> {
  template ??= ensureTemplate(adminUrl).catch((error: unknown) => {
    template = null;
    throw error;
  });
  return template;
}

async function ensureTemplate(adminUrl: string): Promise<string> {
  const name = `stepwise_template_${postgresSchemaHash()}`;
  await withAdmin(adminUrl, async (admin) => {
    await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK_KEY]);
    try {
      await dropStaleTestDatabases(admin);
      const existing = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (existing.rowCount === 1) return;
      // Built under another name and renamed when complete, so a build killed halfway
      // never leaves a template that looks finished.
      const building = `${name}_wip`;
      await admin.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${building}"`);
      const pool = new pg.Pool({ connectionString: databaseUrl(adminUrl, building), max: 1 });
      try {
        await migratePostgres(pool);
      } finally {
        await pool.end();
      }
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${name}"`);
      await admin.query(`ALTER DATABASE "${name}" WITH IS_TEMPLATE true`);
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK_KEY]);
    }
  });
  return name;
}

async function dropStaleTestDatabases(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
    [TEST_PREFIX],
  );
  for (const { datname } of rows) {
    const createdAt = parseInt(datname.slice(TEST_PREFIX.length).split('_')[0] ?? '', 36);
    if (Date.now() - createdAt > STALE_AFTER_MS) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
  }
}

async function withAdmin<T>(adminUrl: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
