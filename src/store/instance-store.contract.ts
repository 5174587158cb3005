import { beforeEach, describe, expect, it } from 'vitest';
import type { Millis, Org, Site } from '../domain/model.js';
import type { InstanceRecord } from './instance-store.js';
import type { Store } from './store.js';
import { contractSetup, makeSite, type StoreContractOptions } from './store-fixtures.js';

const T0: Millis = 1_700_000_000_000;

let counter = 0;
const makeInstance = (
  orgId: string,
  siteId: string,
  overrides: Partial<InstanceRecord> = {},
): InstanceRecord => ({
  id: `inst_${++counter}_${Math.random().toString(36).slice(2, 10)}`,
  org_id: orgId,
  site_id: siteId,
  name: 'Assistant Session',
  activity: 'Marketing Campaign Setup',
  status: 'running',
  context: null,
  created_at: T0,
  updated_at: T0,
  ...overrides,
});

/**
 * The behaviour every `InstanceStore` must have.
 *
 * @example
 * runInstanceStoreContract({ name: 'sqlite', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runInstanceStoreContract(options: StoreContractOptions): void {
  describe(`InstanceStore contract: ${options.name}`, () => {
    const setup = contractSetup(options);
    let store: Store;
    let org: Org;
    let otherOrg: Org;
    let site: Site;
    let otherSite: Site;

    beforeEach(async () => {
      ({ store, org, otherOrg } = setup);
      site = makeSite(org.id);
      otherSite = makeSite(org.id);
      await store.createSite(site);
      await store.createSite(otherSite);
    });

    it('inserts and reads back an instance exactly, context null or text', async () => {
      const plain = makeInstance(org.id, site.id);
      const withContext = makeInstance(org.id, site.id, { context: 'We want “leads” — in the US 🇺🇸' });
      await store.instances.insertInstance(plain);
      await store.instances.insertInstance(withContext);
      expect(await store.instances.getInstance(org.id, plain.id)).toEqual(plain);
      expect(await store.instances.getInstance(org.id, withContext.id)).toEqual(withContext);
      expect(await store.instances.getInstance(org.id, 'inst_missing')).toBeNull();
    });

    it('refuses a duplicate id with INSTANCE_EXISTS', async () => {
      const instance = makeInstance(org.id, site.id);
      await store.instances.insertInstance(instance);
      await expect(store.instances.insertInstance({ ...instance, name: 'Other' })).rejects.toMatchObject({
        code: 'INSTANCE_EXISTS',
        status: 409,
      });
      expect((await store.instances.getInstance(org.id, instance.id))?.name).toBe('Assistant Session');
    });

    it("lists a site's instances newest first, paged, and nothing of other sites", async () => {
      const created = [];
      for (let i = 0; i < 5; i++) {
        const instance = makeInstance(org.id, site.id, { created_at: T0 + i, updated_at: T0 + i });
        await store.instances.insertInstance(instance);
        created.push(instance);
      }
      await store.instances.insertInstance(makeInstance(org.id, otherSite.id, { created_at: T0 + 10 }));
      const newestFirst = created.reverse().map((instance) => instance.id);

      const all = await store.instances.listInstances(org.id, site.id, { limit: 10, offset: 0 });
      expect(all.map((instance) => instance.id)).toEqual(newestFirst);
      const page = await store.instances.listInstances(org.id, site.id, { limit: 2, offset: 1 });
      expect(page.map((instance) => instance.id)).toEqual(newestFirst.slice(1, 3));
      expect(await store.instances.listInstances(org.id, site.id, { limit: 2, offset: 5 })).toEqual([]);
    });

    it('updates name, status and context, and answers null for a missing instance', async () => {
      const instance = makeInstance(org.id, site.id);
      await store.instances.insertInstance(instance);
      const changes = {
        name: 'SaaS Lead Gen Campaign US',
        status: 'paused',
        context: 'SaaS lead gen for the US',
        updated_at: T0 + 5,
      };
      const updated = await store.instances.updateInstance(org.id, instance.id, changes);
      expect(updated).toEqual({ ...instance, ...changes });
      expect(await store.instances.getInstance(org.id, instance.id)).toEqual({ ...instance, ...changes });
      expect(await store.instances.updateInstance(org.id, 'inst_missing', changes)).toBeNull();
    });

    it('finds the most recently created or updated instance of a site', async () => {
      expect(await store.instances.latestInstance(org.id, site.id)).toBeNull();
      const older = makeInstance(org.id, site.id, { created_at: T0, updated_at: T0 });
      const newer = makeInstance(org.id, site.id, { created_at: T0 + 1, updated_at: T0 + 1 });
      await store.instances.insertInstance(older);
      await store.instances.insertInstance(newer);
      await store.instances.insertInstance(makeInstance(org.id, otherSite.id, { updated_at: T0 + 100 }));
      expect((await store.instances.latestInstance(org.id, site.id))?.id).toBe(newer.id);

      await store.instances.updateInstance(org.id, older.id, {
        name: older.name,
        status: older.status,
        context: 'touched',
        updated_at: T0 + 2,
      });
      expect((await store.instances.latestInstance(org.id, site.id))?.id).toBe(older.id);
    });

    it("never reads, lists or updates another org's instance", async () => {
      const foreign = makeInstance(otherOrg.id, site.id);
      await store.instances.insertInstance(foreign);
      expect(await store.instances.getInstance(org.id, foreign.id)).toBeNull();
      expect(await store.instances.listInstances(org.id, site.id, { limit: 10, offset: 0 })).toEqual([]);
      expect(await store.instances.latestInstance(org.id, site.id)).toBeNull();
      expect(
        await store.instances.updateInstance(org.id, foreign.id, {
          name: 'Hijacked',
          status: 'stopped',
          context: null,
          updated_at: T0 + 1,
        }),
      ).toBeNull();
      expect(await store.instances.getInstance(otherOrg.id, foreign.id)).toEqual(foreign);
    });
  });
}
