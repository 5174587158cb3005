import { afterAll, describe } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from '../../../test/support/postgres.js';
import { runMarketplaceStoreContract } from '../marketplace-store.contract.js';
import { PostgresStore } from './postgres-store.js';

const title = testDatabaseUrl
  ? 'PostgresMarketplaceQueries'
  : 'PostgresMarketplaceQueries (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  // One clone per file, emptied before each test: cloning costs ~300 ms, emptying ~10 ms.
  let database: TestDatabase | null = null;

  afterAll(async () => {
    await database?.drop();
  });

  runMarketplaceStoreContract({
    name: 'postgres',
    createStore: async () => {
      database ??= await createTestDatabase();
      await database.reset();
      // A small pool: several test files share one server's connections.
      return PostgresStore.connect({ connectionString: database.url, poolSize: 3, timeSource: 'caller' });
    },
  });
});
