import type pg from 'pg';
import type { MarketplaceListing } from '../../domain/marketplace.js';
import type { ListingFilter, ListingOrder, MarketplaceStore } from '../marketplace-store.js';
import { columnList, placeholders, toJson, withTransaction } from './postgres-rows.js';

// An object rather than an array so the compiler fails when a record field has no column.
const LISTING_COLUMN_SET = {
  id: true,
  kind: true,
  source_org_id: true,
  source_workflow_id: true,
  slug: true,
  title: true,
  description: true,
  category: true,
  snapshot: true,
  install_count: true,
  published_at: true,
  updated_at: true,
  hidden: true,
  position: true,
} as const satisfies Record<keyof MarketplaceListing, true>;
const LISTING_COLUMNS = Object.keys(LISTING_COLUMN_SET) as (keyof MarketplaceListing)[];
const SELECT = columnList(LISTING_COLUMNS);
const CHANGED = (['snapshot', 'title', 'description', 'slug', 'category'] as const)
  .map((column) => `l.${column} IS DISTINCT FROM excluded.${column}`)
  .join(' OR ');

// Unset filters are bound as NULL, so one statement per order serves every combination.
const FILTER = `NOT hidden AND ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR category = $2)
  AND ($3::text IS NULL OR title ILIKE $3 OR description ILIKE $3 OR slug ILIKE $3)`;

const ORDER_BY: Record<ListingOrder, string> = {
  // Both walk their partial index (marketplace_featured_idx, marketplace_newest_idx).
  featured: 'install_count DESC, published_at DESC, position, id',
  newest: 'published_at DESC, position, id',
};

const SQL = {
  // A changed listing moves updated_at; a republished hidden one starts a new published_at.
  upsert: `INSERT INTO marketplace_listings AS l (${SELECT}) VALUES (${placeholders(LISTING_COLUMNS.length)})
    ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, source_org_id = excluded.source_org_id,
      source_workflow_id = excluded.source_workflow_id, slug = excluded.slug, title = excluded.title,
      description = excluded.description, category = excluded.category, snapshot = excluded.snapshot,
      position = excluded.position,
      published_at = CASE WHEN l.hidden THEN excluded.published_at ELSE l.published_at END,
      updated_at = CASE WHEN l.hidden OR ${CHANGED} THEN excluded.updated_at ELSE l.updated_at END,
      hidden = false`,
  visible: `SELECT ${SELECT} FROM marketplace_listings WHERE id = $1 AND NOT hidden`,
  any: `SELECT ${SELECT} FROM marketplace_listings WHERE id = $1`,
  page: (order: ListingOrder) =>
    `SELECT ${SELECT} FROM marketplace_listings WHERE ${FILTER} ORDER BY ${ORDER_BY[order]} LIMIT $4 OFFSET $5`,
  count: `SELECT COUNT(*)::int AS total FROM marketplace_listings WHERE ${FILTER}`,
  hide: 'UPDATE marketplace_listings SET hidden = true, updated_at = $2 WHERE id = $1 AND NOT hidden',
  hideTemplates: `UPDATE marketplace_listings SET hidden = true, updated_at = $2
    WHERE kind = 'template' AND NOT hidden AND NOT (id = ANY($1::text[])) RETURNING id`,
  install: `UPDATE marketplace_listings SET install_count = install_count + 1
    WHERE id = $1 AND NOT hidden RETURNING install_count`,
} as const;

// The pool parses BIGINT to numbers and JSONB to values, so rows are records as they are.
const toListing = (row: Record<string, unknown>): MarketplaceListing => row as unknown as MarketplaceListing;

/** `%text%` for ILIKE, with the wildcards of the text itself escaped (backslash is the default escape). */
const likePattern = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The MarketplaceStore of the PostgreSQL backend. */
export class PostgresMarketplaceQueries implements MarketplaceStore {
  constructor(private readonly pool: pg.Pool) {}

  async upsertListings(listings: MarketplaceListing[]): Promise<void> {
    if (listings.length === 0) return;
    await withTransaction(this.pool, async (client) => {
      for (const listing of listings) {
        await client.query(
          SQL.upsert,
          LISTING_COLUMNS.map((column) =>
            column === 'snapshot' ? toJson(listing.snapshot) : listing[column],
          ),
        );
      }
    });
  }

  async getListing(id: string, includeHidden = false): Promise<MarketplaceListing | null> {
    const { rows } = await this.pool.query(includeHidden ? SQL.any : SQL.visible, [id]);
    return rows[0] ? toListing(rows[0]) : null;
  }

  async listListings(
    filter: ListingFilter,
    order: ListingOrder,
  ): Promise<{ listings: MarketplaceListing[]; total: number }> {
    const params = [
      filter.kind ?? null,
      filter.category ?? null,
      filter.q === undefined ? null : likePattern(filter.q),
    ];
    const [page, count] = await Promise.all([
      this.pool.query(SQL.page(order), [...params, filter.limit, filter.offset]),
      this.pool.query<{ total: number }>(SQL.count, params),
    ]);
    return { listings: page.rows.map(toListing), total: count.rows[0]?.total ?? 0 };
  }

  async hideListing(id: string, at: number): Promise<boolean> {
    const result = await this.pool.query(SQL.hide, [id, at]);
    return (result.rowCount ?? 0) > 0;
  }

  async hideTemplatesNotIn(shippedIds: readonly string[], at: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(SQL.hideTemplates, [shippedIds, at]);
    return rows.map((row) => row.id);
  }

  async recordInstall(id: string): Promise<number | null> {
    const { rows } = await this.pool.query<{ install_count: number }>(SQL.install, [id]);
    return rows[0]?.install_count ?? null;
  }
}
