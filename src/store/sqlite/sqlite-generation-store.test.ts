import { runGenerationStoreContract } from '../generation-store.contract.js';
import { SqliteStore } from './sqlite-store.js';

runGenerationStoreContract({
  name: 'sqlite (:memory:)',
  createStore: async () => SqliteStore.open({ path: ':memory:' }),
});
