import { runTenantStoreContract } from '../tenant-store.contract.js';
import { SqliteStore } from './sqlite-store.js';

runTenantStoreContract({
  name: 'sqlite (:memory:)',
  createStore: async () => SqliteStore.open({ path: ':memory:' }),
});
