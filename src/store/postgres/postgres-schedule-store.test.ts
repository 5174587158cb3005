import { afterAll, describe } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from '../../../test/support/postgres.js';
import { runScheduleStoreContract } from '../schedule-store.contract.js';
import { PostgresStore } from './postgres-store.js';

const title = testDatabaseUrl
  ? 'PostgresScheduleQueries'
  : 'PostgresScheduleQueries (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  // One clone per file, emptied before each test: cloning costs ~300 ms, emptying ~10 ms.
  let database: TestDatabase | null = null;

  afterAll(async () => {
    await database?.drop();
  });

  runScheduleStoreContract({
    name: 'postgres',
    createStore: async () => {
      database ??= await createTestDatabase();
      await database.reset();
      // Enough connections for the concurrent-claim tests to really overlap, few enough to share the server.
      return PostgresStore.connect({ connectionString: database.url, poolSize: 6, timeSource: 'caller' });
    },
  });
});
