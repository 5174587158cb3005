import { runInstanceStoreContract } from '../instance-store.contract.js';
import { SqliteStore } from './sqlite-store.js';

runInstanceStoreContract({
  name: 'sqlite (:memory:)',
  createStore: async () => SqliteStore.open({ path: ':memory:' }),
});
