import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Millis } from '../domain/model.js';
import type { MarketplaceListing } from '../domain/marketplace.js';
import type { Store } from './store.js';
import type { StoreContractOptions } from './store-fixtures.js';

const T0: Millis = 1_700_000_000_000;

const makeListing = (id: string, overrides: Partial<MarketplaceListing> = {}): MarketplaceListing => ({
  id,
  kind: 'community',
  source_org_id: 'org_publisher',
  source_workflow_id: id,
  slug: id.replace(/[^A-Za-z0-9]/g, ''),
  title: `Listing ${id}`,
  description: 'Researches a lead — “quoted” 🇺🇸',
  category: 'sales',
  snapshot: {
    steps: [{ id: 'say', tool: 'log', params: { message: 'hi' }, continue_on_error: false }],
    trigger_config: { type: 'manual', enabled: true },
    inputs: { lead_id: { type: 'string', description: 'The lead', required: true } },
    credit_cost: 5,
    estimated_duration: '1-2 min',
    required_secrets: ['CRM_API_KEY'],
  },
  install_count: 0,
  published_at: T0,
  updated_at: T0,
  hidden: false,
  position: 0,
  ...overrides,
});

const ids = (page: { listings: MarketplaceListing[] }): string[] => page.listings.map((l) => l.id);

/**
 * The behaviour every `MarketplaceStore` must have.
 *
 * @example
 * runMarketplaceStoreContract({ name: 'sqlite', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runMarketplaceStoreContract(options: StoreContractOptions): void {
  describe(`MarketplaceStore contract: ${options.name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await options.createStore();
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
    });

    it('upserts and reads back a listing exactly; an unknown id is null', async () => {
      const listing = makeListing('wf_a', {
        source_org_id: null,
        source_workflow_id: null,
        kind: 'template',
      });
      await store.marketplace.upsertListings([listing]);
      expect(await store.marketplace.getListing('wf_a')).toEqual(listing);
      expect(await store.marketplace.getListing('wf_missing')).toBeNull();
    });

    it('a replace keeps install_count and published_at, and moves updated_at only on a change', async () => {
      await store.marketplace.upsertListings([makeListing('wf_a')]);
      expect(await store.marketplace.recordInstall('wf_a')).toBe(1);
      expect(await store.marketplace.recordInstall('wf_a')).toBe(2);
      await store.marketplace.upsertListings([
        makeListing('wf_a', { published_at: T0 + 5, updated_at: T0 + 5 }),
      ]);
      expect(await store.marketplace.getListing('wf_a')).toMatchObject({
        install_count: 2,
        published_at: T0,
        updated_at: T0,
      });
      await store.marketplace.upsertListings([
        makeListing('wf_a', { title: 'Renamed', published_at: T0 + 9, updated_at: T0 + 9 }),
      ]);
      expect(await store.marketplace.getListing('wf_a')).toMatchObject({
        title: 'Renamed',
        install_count: 2,
        published_at: T0,
        updated_at: T0 + 9,
      });
    });

    it('hides a listing from every read; republishing shows it again as new, counts kept', async () => {
      await store.marketplace.upsertListings([makeListing('wf_a'), makeListing('wf_b')]);
      await store.marketplace.recordInstall('wf_a');
      expect(await store.marketplace.hideListing('wf_a', T0 + 1)).toBe(true);
      expect(await store.marketplace.hideListing('wf_a', T0 + 2)).toBe(false);
      expect(await store.marketplace.getListing('wf_a')).toBeNull();
      expect(await store.marketplace.getListing('wf_a', true)).toMatchObject({
        hidden: true,
        updated_at: T0 + 1,
      });
      expect(await store.marketplace.recordInstall('wf_a')).toBeNull();
      const page = { limit: 10, offset: 0 };
      for (const order of ['featured', 'newest'] as const) {
        expect(await store.marketplace.listListings(page, order)).toEqual({
          listings: [expect.objectContaining({ id: 'wf_b' })],
          total: 1,
        });
      }
      await store.marketplace.upsertListings([
        makeListing('wf_a', { published_at: T0 + 7, updated_at: T0 + 7 }),
      ]);
      expect(await store.marketplace.getListing('wf_a')).toMatchObject({
        hidden: false,
        install_count: 1,
        published_at: T0 + 7,
      });
    });

    it('hides the template listings no longer shipped, counts kept; shipping one again shows it', async () => {
      const template = (id: string) =>
        makeListing(id, { kind: 'template', source_org_id: null, source_workflow_id: null });
      await store.marketplace.upsertListings([
        template('tpl_kept'),
        template('tpl_gone'),
        makeListing('wf_a'),
      ]);
      await store.marketplace.recordInstall('tpl_gone');
      expect(await store.marketplace.hideTemplatesNotIn(['tpl_kept', 'tpl_new'], T0 + 1)).toEqual([
        'tpl_gone',
      ]);
      expect(await store.marketplace.hideTemplatesNotIn(['tpl_kept'], T0 + 2)).toEqual([]);
      const page = { limit: 10, offset: 0 };
      // A community listing is its publisher's to hide, never the catalogue's.
      expect(ids(await store.marketplace.listListings(page, 'newest')).sort()).toEqual(['tpl_kept', 'wf_a']);
      expect(await store.marketplace.getListing('tpl_gone', true)).toMatchObject({
        hidden: true,
        install_count: 1,
        updated_at: T0 + 1,
      });
      expect(await store.marketplace.hideTemplatesNotIn([], T0 + 3)).toEqual(['tpl_kept']);
      await store.marketplace.upsertListings([{ ...template('tpl_gone'), published_at: T0 + 4 }]);
      expect(await store.marketplace.getListing('tpl_gone')).toMatchObject({
        hidden: false,
        install_count: 1,
        published_at: T0 + 4,
      });
    });

    it('featured: most installed first, then newest, then position; newest: by publication', async () => {
      await store.marketplace.upsertListings([
        makeListing('wf_old', { published_at: T0 }),
        makeListing('wf_new', { published_at: T0 + 100 }),
        makeListing('tpl_b', { kind: 'template', published_at: T0 + 50, position: 1 }),
        makeListing('tpl_a', { kind: 'template', published_at: T0 + 50, position: 0 }),
      ]);
      const page = { limit: 10, offset: 0 };
      expect(ids(await store.marketplace.listListings(page, 'featured'))).toEqual([
        'wf_new',
        'tpl_a',
        'tpl_b',
        'wf_old',
      ]);
      await Promise.all([1, 2, 3].map(() => store.marketplace.recordInstall('wf_old')));
      await store.marketplace.recordInstall('tpl_b');
      expect((await store.marketplace.getListing('wf_old'))?.install_count).toBe(3);
      expect(ids(await store.marketplace.listListings(page, 'featured'))).toEqual([
        'wf_old',
        'tpl_b',
        'wf_new',
        'tpl_a',
      ]);
      expect(ids(await store.marketplace.listListings(page, 'newest'))).toEqual([
        'wf_new',
        'tpl_a',
        'tpl_b',
        'wf_old',
      ]);
      const second = await store.marketplace.listListings({ limit: 2, offset: 1 }, 'newest');
      expect(ids(second)).toEqual(['tpl_a', 'tpl_b']);
      expect(second.total).toBe(4);
    });

    it('filters by kind, category and text (case-insensitive, wildcards literal)', async () => {
      await store.marketplace.upsertListings([
        makeListing('tpl_shop', { kind: 'template', category: 'shop', title: 'AI Shop Checkup' }),
        makeListing('wf_lead', { title: 'Lead research 100%', description: 'plain' }),
        makeListing('wf_other', { title: 'Other', description: 'nothing here' }),
      ]);
      const page = { limit: 10, offset: 0 };
      const find = (filter: object) => store.marketplace.listListings({ ...page, ...filter }, 'newest');
      expect(ids(await find({ kind: 'template' }))).toEqual(['tpl_shop']);
      expect(ids(await find({ category: 'sales' })).sort()).toEqual(['wf_lead', 'wf_other']);
      expect(ids(await find({ q: 'shop CHECKUP' }))).toEqual(['tpl_shop']);
      expect(ids(await find({ q: '100%' }))).toEqual(['wf_lead']);
      expect(ids(await find({ q: '%' }))).toEqual(['wf_lead']);
      expect(await find({ q: 'nothing', category: 'shop' })).toEqual({ listings: [], total: 0 });
    });
  });
}
