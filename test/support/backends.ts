import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from './postgres.js';

/** The backends an end-to-end suite runs on: SQLite always, PostgreSQL when a test database is configured. */
export const BACKENDS = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres', enabled: Boolean(testDatabaseUrl) },
] as const;

export type BackendName = (typeof BACKENDS)[number]['name'];

/**
 * Registers, in the calling `describe`, the database of `backend`: on PostgreSQL one per
 * suite, created before it, emptied before each test and dropped after; on SQLite none
 * (each harness makes its own file). @returns the database URL to start a harness with.
 */
export function databaseFor(backend: BackendName): () => string | undefined {
  let database: TestDatabase | null = null;
  beforeAll(async () => {
    if (backend === 'postgres') database = await createTestDatabase();
  });
  beforeEach(async () => {
    await database?.reset();
  });
  afterAll(async () => {
    await database?.drop();
  });
  return () => database?.url;
}

/**
 * The backends for `describe.each`, each with `database()`: on PostgreSQL the URL of one
 * database shared by the calling file, emptied at each call and dropped after the file;
 * on SQLite undefined. Call it at the top of a test file.
 */
export function eachBackend(): { name: BackendName; database: () => Promise<string | undefined> }[] {
  let postgres: TestDatabase | null = null;
  afterAll(async () => {
    await postgres?.drop();
  });
  const shared = async (): Promise<string> => {
    postgres ??= await createTestDatabase();
    await postgres.reset();
    return postgres.url;
  };
  return BACKENDS.filter((backend) => backend.enabled).map((backend) => ({
    name: backend.name,
    database: backend.name === 'postgres' ? shared : async () => undefined,
  }));
}
