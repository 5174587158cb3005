import { runLimitStoreContract } from '../limit-store.contract.js';
import { SqliteStore } from './sqlite-store.js';

runLimitStoreContract({
  name: 'sqlite (:memory:)',
  createStore: async () => SqliteStore.open({ path: ':memory:' }),
});
