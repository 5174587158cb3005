import type { DatabaseTarget } from '../app/config.js';
import type { Store, TimeSource } from './store.js';

/** Opens the configured backend and brings its schema up to date. */
export async function openStore(
  target: DatabaseTarget,
  options: { sqliteSynchronous?: 'FULL' | 'NORMAL'; timeSource?: TimeSource } = {},
): Promise<Store> {
  let store: Store;
  if (target.kind === 'postgres') {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    store = await PostgresStore.connect({ connectionString: target.url, timeSource: options.timeSource });
  } else {
    const { SqliteStore } = await import('./sqlite/sqlite-store.js');
    store = SqliteStore.open({ path: target.path, synchronous: options.sqliteSynchronous });
  }
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
