import { runMarketplaceStoreContract } from '../marketplace-store.contract.js';
import { SqliteStore } from './sqlite-store.js';

runMarketplaceStoreContract({
  name: 'sqlite (:memory:)',
  createStore: async () => SqliteStore.open({ path: ':memory:' }),
});
