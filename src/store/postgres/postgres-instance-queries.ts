import type pg from 'pg';
import { conflict } from '../../domain/errors.js';
import type { InstanceChanges, InstanceRecord, InstanceStore } from '../instance-store.js';
import { columnList, placeholders } from './postgres-rows.js';

// An object rather than an array so the compiler fails when a record field has no column.
const INSTANCE_COLUMN_SET = {
  id: true,
  org_id: true,
  site_id: true,
  name: true,
  activity: true,
  status: true,
  context: true,
  created_at: true,
  updated_at: true,
} as const satisfies Record<keyof InstanceRecord, true>;
const INSTANCE_COLUMNS = Object.keys(INSTANCE_COLUMN_SET) as (keyof InstanceRecord)[];
const SELECT = columnList(INSTANCE_COLUMNS);

const SQL = {
  insert: `INSERT INTO instances (${SELECT}) VALUES (${placeholders(INSTANCE_COLUMNS.length)})
    ON CONFLICT (id) DO NOTHING`,
  byId: `SELECT ${SELECT} FROM instances WHERE org_id = $1 AND id = $2`,
  // Walks instances_org_site_created_idx backwards.
  ofSite: `SELECT ${SELECT} FROM instances WHERE org_id = $1 AND site_id = $2
    ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`,
  latest: `SELECT ${SELECT} FROM instances WHERE org_id = $1 AND site_id = $2
    ORDER BY updated_at DESC, created_at DESC, id DESC LIMIT 1`,
  update: `UPDATE instances SET name = $3, status = $4, context = $5, updated_at = $6
    WHERE org_id = $1 AND id = $2 RETURNING ${SELECT}`,
} as const;

// The pool parses BIGINT to numbers, so rows are records as they are.
const toInstance = (row: Record<string, unknown>): InstanceRecord => row as unknown as InstanceRecord;

/** The InstanceStore of the PostgreSQL backend. */
export class PostgresInstanceQueries implements InstanceStore {
  constructor(private readonly pool: pg.Pool) {}

  async insertInstance(instance: InstanceRecord): Promise<void> {
    const result = await this.pool.query(
      SQL.insert,
      INSTANCE_COLUMNS.map((column) => instance[column]),
    );
    if (result.rowCount === 0) throw conflict('INSTANCE_EXISTS', `instance '${instance.id}' already exists`);
  }

  async getInstance(orgId: string, id: string): Promise<InstanceRecord | null> {
    const { rows } = await this.pool.query(SQL.byId, [orgId, id]);
    return rows[0] ? toInstance(rows[0]) : null;
  }

  async listInstances(
    orgId: string,
    siteId: string,
    page: { limit: number; offset: number },
  ): Promise<InstanceRecord[]> {
    const { rows } = await this.pool.query(SQL.ofSite, [orgId, siteId, page.limit, page.offset]);
    return rows.map(toInstance);
  }

  async latestInstance(orgId: string, siteId: string): Promise<InstanceRecord | null> {
    const { rows } = await this.pool.query(SQL.latest, [orgId, siteId]);
    return rows[0] ? toInstance(rows[0]) : null;
  }

  async updateInstance(orgId: string, id: string, changes: InstanceChanges): Promise<InstanceRecord | null> {
    const { rows } = await this.pool.query(SQL.update, [
      orgId,
      id,
      changes.name,
      changes.status,
      changes.context,
      changes.updated_at,
    ]);
    return rows[0] ? toInstance(rows[0]) : null;
  }
}
