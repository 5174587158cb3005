import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CreditEntry, Org } from '../domain/model.js';
import type { Store } from './store.js';
import { makeOrg, T0, uid, type StoreContractOptions } from './store-fixtures.js';

const REASON = "monthly allowance of the 'free' plan for 2023-12";

/**
 * `LimitStore`'s credits: the monthly renewal, at most once per org and period.
 *
 * @example
 * runLimitStoreContract({ name: 'sqlite', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runLimitStoreContract(options: StoreContractOptions): void {
  describe(`Store contract, credits renewal: ${options.name}`, () => {
    let store: Store;
    let org: Org;

    beforeEach(async () => {
      store = await options.createStore();
      await store.migrate();
      org = makeOrg({ credits_period: '2023-11' });
      await store.createOrg(org);
    });

    afterEach(async () => {
      await store.close();
    });

    const grant = (amount: number): Promise<number> =>
      store.limits.grantCredits({
        id: uid('cr'),
        org_id: org.id,
        run_id: null,
        kind: 'grant',
        amount,
        reason: 'by hand',
        created_at: T0,
      });
    const renew = (period = '2023-12', allowance = 100) =>
      store.limits.renewCredits(org.id, period, allowance, REASON, T0 + 1);
    const renewals = async (): Promise<CreditEntry[]> =>
      (await store.limits.listCreditLedger(org.id, { limit: 100, offset: 0 })).filter(
        (entry) => entry.reason === REASON,
      );

    it('tops the balance up to the allowance, once per period', async () => {
      await grant(30);
      expect(await renew()).toEqual({ renewed: true, balance: 100 });
      expect(await renewals()).toEqual([
        {
          id: expect.any(String),
          org_id: org.id,
          run_id: null,
          kind: 'grant',
          amount: 70,
          reason: REASON,
          created_at: T0 + 1,
        },
      ]);
      expect((await store.getOrg(org.id))?.credits_period).toBe('2023-12');
      // Spent again within the period: a second call renews nothing.
      await grant(-90); // stands in for spending
      expect(await renew()).toEqual({ renewed: false, balance: 10 });
      expect(await renewals()).toHaveLength(1);
      expect(await store.limits.creditBalance(org.id)).toBe(10);
    });

    it('writes no entry when the balance covers the allowance, and carries the surplus over', async () => {
      await grant(250);
      expect(await renew()).toEqual({ renewed: true, balance: 250 });
      expect(await renewals()).toEqual([]);
      expect((await store.getOrg(org.id))?.credits_period).toBe('2023-12');
      expect(await renew('2024-01')).toEqual({ renewed: true, balance: 250 });
    });

    it('renews an org without a period, and renews each new period', async () => {
      const fresh = makeOrg();
      await store.createOrg(fresh);
      const first = await store.limits.renewCredits(fresh.id, '2023-12', 40, REASON, T0);
      expect(first).toEqual({ renewed: true, balance: 40 });
      const next = await store.limits.renewCredits(fresh.id, '2024-01', 40, REASON, T0);
      expect(next).toEqual({ renewed: true, balance: 40 });
      expect(await store.limits.listCreditLedger(fresh.id, { limit: 10, offset: 0 })).toHaveLength(1);
    });

    it('never renews a period older than the one the org last renewed', async () => {
      expect(await renew('2024-01')).toEqual({ renewed: true, balance: 100 });
      await grant(-100); // stands in for spending
      // A process whose clock still says December, just after another renewed January.
      expect(await renew('2023-12')).toEqual({ renewed: false, balance: 0 });
      expect((await store.getOrg(org.id))?.credits_period).toBe('2024-01');
      expect(await renewals()).toHaveLength(1);
    });

    it('gives an unknown org nothing', async () => {
      expect(await store.limits.renewCredits('org_missing', '2023-12', 100, REASON, T0)).toEqual({
        renewed: false,
        balance: 0,
      });
      expect(await store.limits.listCreditLedger('org_missing', { limit: 10, offset: 0 })).toEqual([]);
    });

    it('writes exactly one entry for 20 concurrent renewals of one org and period', async () => {
      // Open a pool's connections first, so the renewals start together instead of one by one.
      await Promise.all(Array.from({ length: 20 }, () => store.limits.creditBalance(org.id)));
      const results = await Promise.all(Array.from({ length: 20 }, () => renew()));
      expect(results.filter((result) => result.renewed)).toHaveLength(1);
      expect(results.every((result) => result.balance === 100)).toBe(true);
      expect(await renewals()).toHaveLength(1);
      expect(await store.limits.creditBalance(org.id)).toBe(100);
    });
  });
}
