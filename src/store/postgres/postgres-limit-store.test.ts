import { afterAll, describe } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from '../../../test/support/postgres.js';
import { runLimitStoreContract } from '../limit-store.contract.js';
import { PostgresStore } from './postgres-store.js';

const title = testDatabaseUrl
  ? 'PostgresStore limits'
  : 'PostgresStore limits (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  // One clone per file, emptied before each test: cloning costs ~300 ms, emptying ~10 ms.
  let database: TestDatabase | null = null;

  afterAll(async () => {
    await database?.drop();
  });

  runLimitStoreContract({
    name: 'postgres',
    createStore: async () => {
      database ??= await createTestDatabase();
      await database.reset();
      // Several connections, so concurrent renewals really race in separate transactions.
      return PostgresStore.connect({ connectionString: database.url, poolSize: 6, timeSource: 'caller' });
    },
  });
});
