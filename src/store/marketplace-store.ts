import type { Millis } from '../domain/model.js';
import type { ListingKind, MarketplaceListing } from '../domain/marketplace.js';

export interface ListingFilter {
  kind?: ListingKind;
  category?: string;
  /** Case-insensitive text to find in the title, description or slug. */
  q?: string;
  limit: number;
  offset: number;
}

/**
 * `featured`: most installed first, then newest (document 004's explore);
 * `newest`: newest first (the community listing).
 */
export type ListingOrder = 'featured' | 'newest';

/** The marketplace: listings and their install counts, shared by every org. */
export interface MarketplaceStore {
  /**
   * Inserts the listings or replaces them by id, in one transaction. A listing already
   * there keeps its `install_count`, and its `published_at` unless it was hidden (a
   * republish after an unpublish is new again); `updated_at` moves only when something changed.
   */
  upsertListings(listings: MarketplaceListing[]): Promise<void>;
  /** A visible listing, or null; `includeHidden` also finds an unpublished one. */
  getListing(id: string, includeHidden?: boolean): Promise<MarketplaceListing | null>;
  /** A page of visible listings in `order`, and how many match in all. */
  listListings(
    filter: ListingFilter,
    order: ListingOrder,
  ): Promise<{ listings: MarketplaceListing[]; total: number }>;
  /** @returns false when there was no visible listing with that id. */
  hideListing(id: string, at: Millis): Promise<boolean>;
  /**
   * Hides every visible template listing whose id is not in `shippedIds` (templates dropped
   * from the catalogue), keeping their install counts; upserting one again shows it again.
   * @returns the ids it hid.
   */
  hideTemplatesNotIn(shippedIds: readonly string[], at: Millis): Promise<string[]>;
  /**
   * Adds one to a visible listing's install count, atomically.
   * @returns the new count, or null when the listing is gone or hidden.
   */
  recordInstall(id: string): Promise<number | null>;
}
