import { runDeliveryStoreContract } from '../delivery-store.contract.js';
import { SqliteStore } from './sqlite-store.js';

runDeliveryStoreContract({
  name: 'sqlite (:memory:)',
  createStore: async () => SqliteStore.open({ path: ':memory:' }),
});
