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

/** SQLSTATEs of a connection that dropped or a server that is not accepting connections yet. */
const CONNECTION_LOST_STATES = new Set(['57P01', '57P02', '57P03']);
const CONNECTION_LOST_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Whether `error` says the database connection was lost or not there yet (a restart, a
 * failover, an administrator's terminate), rather than that a statement was wrong: the
 * same work may succeed on a new connection.
 */
export function isConnectionLost(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' && (CONNECTION_LOST_STATES.has(code) || code.startsWith('08'))) return true;
  if (typeof code === 'string' && CONNECTION_LOST_ERRNOS.has(code)) return true;
  return /Connection terminated/i.test(error.message);
}
