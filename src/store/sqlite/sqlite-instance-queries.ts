import { conflict } from '../../domain/errors.js';
import type { InstanceChanges, InstanceRecord, InstanceStore } from '../instance-store.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { type Codecs, decodeRow, encodeRecord, insertSql } from './sqlite-rows.js';

const INSTANCE_CODECS: Codecs<InstanceRecord> = {
  id: 'value',
  org_id: 'value',
  site_id: 'value',
  name: 'value',
  activity: 'value',
  status: 'value',
  context: 'value',
  created_at: 'value',
  updated_at: 'value',
};

const SQL = {
  insert: `${insertSql('instances', INSTANCE_CODECS)} ON CONFLICT (id) DO NOTHING`,
  byId: 'SELECT * FROM instances WHERE org_id = ? AND id = ?',
  // Walks instances_org_site_created_idx backwards.
  ofSite: `SELECT * FROM instances WHERE org_id = ? AND site_id = ?
    ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
  latest: `SELECT * FROM instances WHERE org_id = ? AND site_id = ?
    ORDER BY updated_at DESC, created_at DESC, id DESC LIMIT 1`,
  update: `UPDATE instances SET name = @name, status = @status, context = @context, updated_at = @updated_at
    WHERE org_id = @org_id AND id = @id RETURNING *`,
} as const;

const toInstance = (row: unknown): InstanceRecord => decodeRow(row, INSTANCE_CODECS);

/** The InstanceStore of the SQLite backend: every write through the single writer connection. */
export class SqliteInstanceQueries implements InstanceStore {
  constructor(private readonly connection: SqliteConnection) {}

  async insertInstance(instance: InstanceRecord): Promise<void> {
    const result = this.connection.statement(SQL.insert).run(encodeRecord(instance, INSTANCE_CODECS));
    if (result.changes === 0) throw conflict('INSTANCE_EXISTS', `instance '${instance.id}' already exists`);
  }

  async getInstance(orgId: string, id: string): Promise<InstanceRecord | null> {
    const row = this.connection.statement(SQL.byId).get(orgId, id);
    return row === undefined ? null : toInstance(row);
  }

  async listInstances(
    orgId: string,
    siteId: string,
    page: { limit: number; offset: number },
  ): Promise<InstanceRecord[]> {
    return this.connection.statement(SQL.ofSite).all(orgId, siteId, page.limit, page.offset).map(toInstance);
  }

  async latestInstance(orgId: string, siteId: string): Promise<InstanceRecord | null> {
    const row = this.connection.statement(SQL.latest).get(orgId, siteId);
    return row === undefined ? null : toInstance(row);
  }

  async updateInstance(orgId: string, id: string, changes: InstanceChanges): Promise<InstanceRecord | null> {
    const row = this.connection.statement(SQL.update).get({ ...changes, org_id: orgId, id });
    return row === undefined ? null : toInstance(row);
  }
}
