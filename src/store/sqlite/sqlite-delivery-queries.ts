import type { SqliteConnection } from './sqlite-connection.js';
import type { DeliveryStore } from '../delivery-store.js';

/** The DeliveryStore of the Sqlite backend. */
export class SqliteDeliveryQueries implements DeliveryStore {
  constructor(readonly connection: SqliteConnection) {}
}
