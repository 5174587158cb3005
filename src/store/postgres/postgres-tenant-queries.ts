import type { ApiKeyRecord, Millis, Org, Site } from '../../domain/model.js';
import { fromRow, type Queryable, SQL_COLUMNS, toJson } from './postgres-rows.js';

/** Inserts an org. */
export async function createOrg(db: Queryable, org: Org): Promise<void> {
  await db.query(`INSERT INTO orgs (${SQL_COLUMNS.org}) VALUES ($1, $2, $3, $4, $5)`, [
    org.id,
    org.name,
    org.plan,
    org.credits_period,
    org.created_at,
  ]);
}

/** An org by id or, with `by: 'name'`, by its unique name. */
export async function getOrg(db: Queryable, by: 'id' | 'name', value: string): Promise<Org | null> {
  const { rows } = await db.query(`SELECT ${SQL_COLUMNS.org} FROM orgs WHERE ${by} = $1`, [value]);
  return rows[0] ? fromRow.org(rows[0]) : null;
}

/** @returns false when there is no such org. */
export async function setOrgPlan(db: Queryable, orgId: string, plan: string): Promise<boolean> {
  const result = await db.query('UPDATE orgs SET plan = $2 WHERE id = $1', [orgId, plan]);
  return result.rowCount === 1;
}

/** Inserts a site. */
export async function createSite(db: Queryable, site: Site): Promise<void> {
  await db.query(`INSERT INTO sites (${SQL_COLUMNS.site}) VALUES ($1, $2, $3, $4)`, [
    site.id,
    site.org_id,
    site.name,
    site.created_at,
  ]);
}

/** One of the org's sites by id or by its name, unique in the org. */
export async function getSite(
  db: Queryable,
  orgId: string,
  by: 'id' | 'name',
  value: string,
): Promise<Site | null> {
  const { rows } = await db.query(`SELECT ${SQL_COLUMNS.site} FROM sites WHERE org_id = $1 AND ${by} = $2`, [
    orgId,
    value,
  ]);
  return rows[0] ? fromRow.site(rows[0]) : null;
}

/** Inserts an API key record (its hash; the key itself is never stored). */
export async function createApiKey(db: Queryable, key: ApiKeyRecord): Promise<void> {
  await db.query(`INSERT INTO api_keys (${SQL_COLUMNS.apiKey}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
    key.id,
    key.org_id,
    key.site_id,
    key.name,
    key.prefix,
    key.key_hash,
    toJson(key.scopes),
    key.created_at,
    key.revoked_at,
  ]);
}

/** The key with this hash, revoked or not: the caller decides what a revoked key means. */
export async function findApiKeyByHash(db: Queryable, keyHash: string): Promise<ApiKeyRecord | null> {
  const { rows } = await db.query(`SELECT ${SQL_COLUMNS.apiKey} FROM api_keys WHERE key_hash = $1`, [
    keyHash,
  ]);
  return rows[0] ? fromRow.apiKey(rows[0]) : null;
}

/** The org's keys (every key when `orgId` is undefined), oldest first. */
export async function listApiKeys(db: Queryable, orgId?: string): Promise<ApiKeyRecord[]> {
  const { rows } =
    orgId === undefined
      ? await db.query(`SELECT ${SQL_COLUMNS.apiKey} FROM api_keys ORDER BY created_at, id`)
      : await db.query(
          `SELECT ${SQL_COLUMNS.apiKey} FROM api_keys WHERE org_id = $1 ORDER BY created_at, id`,
          [orgId],
        );
  return rows.map(fromRow.apiKey);
}

/** @returns false when no such unrevoked key exists. */
/** Every process caching authenticated keys listens here, so a revocation applies at once everywhere. */
export const KEYS_CHANNEL = 'stepwise_keys';

export async function revokeApiKey(db: Queryable, id: string, at: Millis): Promise<boolean> {
  const result = await db.query(
    `WITH revoked AS (UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id)
     SELECT pg_notify('${KEYS_CHANNEL}', id) FROM revoked`,
    [id, at],
  );
  return result.rowCount === 1;
}

/** Inserts or replaces an encrypted secret. */
export async function putSecret(
  db: Queryable,
  orgId: string,
  name: string,
  ciphertext: string,
  at: Millis,
): Promise<void> {
  await db.query(
    `INSERT INTO secrets (org_id, name, ciphertext, updated_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (org_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
    [orgId, name, ciphertext, at],
  );
}

/** The org's secrets among `names`; names without a secret are absent. */
export async function getSecrets(
  db: Queryable,
  orgId: string,
  names: string[],
): Promise<{ name: string; ciphertext: string }[]> {
  if (names.length === 0) return [];
  const { rows } = await db.query<{ name: string; ciphertext: string }>(
    'SELECT name, ciphertext FROM secrets WHERE org_id = $1 AND name = ANY($2::text[]) ORDER BY name',
    [orgId, names],
  );
  return rows;
}

/** The names of the org's secrets, sorted. */
export async function listSecretNames(db: Queryable, orgId: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    'SELECT name FROM secrets WHERE org_id = $1 ORDER BY name',
    [orgId],
  );
  return rows.map((row) => row.name);
}

/** @returns false when the org had no such secret. */
export async function deleteSecret(db: Queryable, orgId: string, name: string): Promise<boolean> {
  const result = await db.query('DELETE FROM secrets WHERE org_id = $1 AND name = $2', [orgId, name]);
  return result.rowCount === 1;
}
