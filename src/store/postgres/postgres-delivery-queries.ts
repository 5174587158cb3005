import type pg from 'pg';
import type { DeliveryStore } from '../delivery-store.js';

/** The DeliveryStore of the Postgres backend. */
export class PostgresDeliveryQueries implements DeliveryStore {
  constructor(readonly pool: pg.Pool) {}
}
