import { afterAll, describe } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from '../../../test/support/postgres.js';
import { runDeliveryStoreContract } from '../delivery-store.contract.js';
import { PostgresStore } from './postgres-store.js';

const title = testDatabaseUrl
  ? 'PostgresStore deliveries'
  : 'PostgresStore deliveries (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  // One clone per file, emptied before each test.
  let shared: TestDatabase | null = null;

  afterAll(async () => {
    await shared?.drop();
  });

  runDeliveryStoreContract({
    name: 'postgres',
    createStore: async () => {
      shared ??= await createTestDatabase();
      await shared.reset();
      return PostgresStore.connect({ connectionString: shared.url, poolSize: 3, timeSource: 'caller' });
    },
  });
});
