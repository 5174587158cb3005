import type { MarketplaceListing } from '../../domain/marketplace.js';
import type { ListingFilter, ListingOrder, MarketplaceStore } from '../marketplace-store.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { type Codecs, decodeRow, encodeRecord, insertSql } from './sqlite-rows.js';

const LISTING_CODECS: Codecs<MarketplaceListing> = {
  id: 'value',
  kind: 'value',
  source_org_id: 'value',
  source_workflow_id: 'value',
  slug: 'value',
  title: 'value',
  description: 'value',
  category: 'value',
  snapshot: 'json',
  install_count: 'value',
  published_at: 'value',
  updated_at: 'value',
  hidden: 'bool',
  position: 'value',
};

// Unset filters are bound as NULL, so one statement per order serves every combination.
const FILTER = `hidden = 0 AND (@kind IS NULL OR kind = @kind) AND (@category IS NULL OR category = @category)
  AND (@q IS NULL OR title LIKE @q ESCAPE '\\' OR description LIKE @q ESCAPE '\\' OR slug LIKE @q ESCAPE '\\')`;

const ORDER_BY: Record<ListingOrder, string> = {
  // Both walk their partial index (marketplace_featured_idx, marketplace_newest_idx).
  featured: 'install_count DESC, published_at DESC, position, id',
  newest: 'published_at DESC, position, id',
};

const SQL = {
  // A changed listing moves updated_at; a republished hidden one starts a new published_at.
  upsert: `${insertSql('marketplace_listings', LISTING_CODECS)}
    ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, source_org_id = excluded.source_org_id,
      source_workflow_id = excluded.source_workflow_id, slug = excluded.slug, title = excluded.title,
      description = excluded.description, category = excluded.category, snapshot = excluded.snapshot,
      position = excluded.position,
      published_at = CASE WHEN marketplace_listings.hidden = 1 THEN excluded.published_at
        ELSE marketplace_listings.published_at END,
      updated_at = CASE WHEN marketplace_listings.hidden = 1 OR marketplace_listings.snapshot IS NOT excluded.snapshot
        OR marketplace_listings.title IS NOT excluded.title OR marketplace_listings.description IS NOT excluded.description
        OR marketplace_listings.slug IS NOT excluded.slug OR marketplace_listings.category IS NOT excluded.category
        THEN excluded.updated_at ELSE marketplace_listings.updated_at END,
      hidden = 0`,
  visible: 'SELECT * FROM marketplace_listings WHERE id = ? AND hidden = 0',
  any: 'SELECT * FROM marketplace_listings WHERE id = ?',
  page: (order: ListingOrder) =>
    `SELECT * FROM marketplace_listings WHERE ${FILTER} ORDER BY ${ORDER_BY[order]} LIMIT @limit OFFSET @offset`,
  count: `SELECT COUNT(*) AS total FROM marketplace_listings WHERE ${FILTER}`,
  hide: 'UPDATE marketplace_listings SET hidden = 1, updated_at = ? WHERE id = ? AND hidden = 0',
  // The shipped ids arrive as one JSON array: a statement with a placeholder per id could not be cached.
  hideTemplates: `UPDATE marketplace_listings SET hidden = 1, updated_at = ?
    WHERE kind = 'template' AND hidden = 0 AND id NOT IN (SELECT value FROM json_each(?)) RETURNING id`,
  install: `UPDATE marketplace_listings SET install_count = install_count + 1
    WHERE id = ? AND hidden = 0 RETURNING install_count`,
} as const;

const toListing = (row: unknown): MarketplaceListing => decodeRow(row, LISTING_CODECS);

/** `%text%` for LIKE, with the wildcards of the text itself escaped. */
const likePattern = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The MarketplaceStore of the SQLite backend. */
export class SqliteMarketplaceQueries implements MarketplaceStore {
  constructor(private readonly connection: SqliteConnection) {}

  async upsertListings(listings: MarketplaceListing[]): Promise<void> {
    this.connection.write(() => {
      for (const listing of listings) {
        this.connection.statement(SQL.upsert).run(encodeRecord(listing, LISTING_CODECS));
      }
    });
  }

  async getListing(id: string, includeHidden = false): Promise<MarketplaceListing | null> {
    const row = this.connection.statement(includeHidden ? SQL.any : SQL.visible).get(id);
    return row === undefined ? null : toListing(row);
  }

  async listListings(
    filter: ListingFilter,
    order: ListingOrder,
  ): Promise<{ listings: MarketplaceListing[]; total: number }> {
    // SQLite's LIKE ignores ASCII case by itself.
    const params = {
      kind: filter.kind ?? null,
      category: filter.category ?? null,
      q: filter.q === undefined ? null : likePattern(filter.q),
    };
    const rows = this.connection
      .statement(SQL.page(order))
      .all({ ...params, limit: filter.limit, offset: filter.offset });
    const { total } = this.connection.statement(SQL.count).get(params) as { total: number };
    return { listings: rows.map(toListing), total };
  }

  async hideListing(id: string, at: number): Promise<boolean> {
    return this.connection.write(() => this.connection.statement(SQL.hide).run(at, id).changes > 0);
  }

  async hideTemplatesNotIn(shippedIds: readonly string[], at: number): Promise<string[]> {
    const rows = this.connection.write(
      () =>
        this.connection.statement(SQL.hideTemplates).all(at, JSON.stringify(shippedIds)) as { id: string }[],
    );
    return rows.map((row) => row.id);
  }

  async recordInstall(id: string): Promise<number | null> {
    const row = this.connection.write(
      () => this.connection.statement(SQL.install).get(id) as { install_count: number } | undefined,
    );
    return row?.install_count ?? null;
  }
}
