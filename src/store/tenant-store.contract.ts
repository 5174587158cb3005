import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CreditEntry, Millis, Org } from '../domain/model.js';
import type { Store } from './store.js';
import { makeApiKey, makeOrg, makeSite, type StoreContractOptions } from './store-fixtures.js';

const T0: Millis = 1_700_000_000_000;

const grantOf = (org: Org, amount = 500): CreditEntry => ({
  id: `cr_${org.id}`,
  org_id: org.id,
  run_id: null,
  kind: 'grant',
  amount,
  reason: 'initial grant',
  created_at: T0,
});

/**
 * `createApiKey` with the org and site the key brings along: all of them stored, or none.
 *
 * @example
 * runTenantStoreContract({ name: 'sqlite', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runTenantStoreContract(options: StoreContractOptions): void {
  describe(`Store contract, a key with its new org and site: ${options.name}`, () => {
    let store: Store;
    let existingOrg: Org;

    beforeEach(async () => {
      store = await options.createStore();
      await store.migrate();
      existingOrg = makeOrg();
      await store.createOrg(existingOrg);
    });

    afterEach(async () => {
      await store.close();
    });

    /** A refused write leaves nothing of the new `org`: no row, no grant, no site. */
    const expectNoTraceOf = async (org: Org, siteName: string): Promise<void> => {
      expect(await store.getOrg(org.id)).toBeNull();
      expect(await store.limits.listCreditLedger(org.id, { limit: 10, offset: 0 })).toEqual([]);
      expect(await store.getSiteByName(org.id, siteName)).toBeNull();
    };

    it('stores the key with its new org, the org’s grant and its new site', async () => {
      const org = makeOrg();
      const site = makeSite(org.id);
      const grant = grantOf(org);
      const key = makeApiKey(org.id, { site_id: site.id });
      await store.createApiKey(key, { org, grant, site });
      expect(await store.getOrgByName(org.name)).toEqual(org);
      expect(await store.getSiteByName(org.id, site.name)).toEqual(site);
      expect(await store.limits.creditBalance(org.id)).toBe(500);
      expect(await store.findApiKeyByHash(key.key_hash)).toEqual(key);
    });

    it('stores the key with a new site of an org that exists', async () => {
      const site = makeSite(existingOrg.id);
      const key = makeApiKey(existingOrg.id, { site_id: site.id });
      await store.createApiKey(key, { site });
      expect(await store.getSite(existingOrg.id, site.id)).toEqual(site);
      expect(await store.listApiKeys(existingOrg.id)).toEqual([key]);
    });

    it('stores neither the new org, its grant nor its site when the key is refused (a duplicate hash)', async () => {
      const taken = makeApiKey(existingOrg.id);
      await store.createApiKey(taken);
      const org = makeOrg();
      const site = makeSite(org.id);
      const key = makeApiKey(org.id, { site_id: site.id, key_hash: taken.key_hash });
      await expect(store.createApiKey(key, { org, grant: grantOf(org), site })).rejects.toThrow();
      await expectNoTraceOf(org, site.name);
      expect(await store.getOrgByName(org.name)).toBeNull();
      expect(await store.findApiKeyByHash(taken.key_hash)).toEqual(taken);
    });

    it('stores neither the key nor the site when the new org is refused (its name was taken)', async () => {
      const org = makeOrg({ name: existingOrg.name });
      const site = makeSite(org.id);
      const key = makeApiKey(org.id, { site_id: site.id });
      await expect(store.createApiKey(key, { org, grant: grantOf(org), site })).rejects.toThrow();
      await expectNoTraceOf(org, site.name);
      expect(await store.getOrgByName(org.name)).toEqual(existingOrg);
      expect(await store.findApiKeyByHash(key.key_hash)).toBeNull();
    });

    it('stores no new site of an existing org when the key is refused', async () => {
      const taken = makeApiKey(existingOrg.id);
      await store.createApiKey(taken);
      const site = makeSite(existingOrg.id);
      const key = makeApiKey(existingOrg.id, { site_id: site.id, key_hash: taken.key_hash });
      await expect(store.createApiKey(key, { site })).rejects.toThrow();
      expect(await store.getSite(existingOrg.id, site.id)).toBeNull();
      expect(await store.listApiKeys(existingOrg.id)).toEqual([taken]);
    });
  });
}
