import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { CreditEntry, Org, Site } from '../domain/model.js';
import { creditPeriod, type Plan } from '../domain/plan.js';
import { grantEntry } from './credit-service.js';
import type { Store } from '../store/store.js';

export const DEFAULT_ORG_NAME = 'default';
export const DEFAULT_SITE_NAME = 'default';

/** Makes sure org `default` and its site `default` exist, for a first start on an empty database. */
export async function ensureDefaultOrg(
  store: Store,
  clock: Clock,
  plan?: Plan,
): Promise<{ org: Org; site: Site }> {
  const org = await ensureOrg(store, clock, DEFAULT_ORG_NAME, plan);
  const site = await ensureSite(store, clock, org.id, DEFAULT_SITE_NAME);
  return { org, site };
}

/**
 * A new org called `name` on `plan` (default: `free`, without a grant), and its first ledger
 * grant of the plan's `monthly_credits`, to be stored in one transaction. That grant is the
 * allowance of the creation month, so the org's credit period starts as that month.
 */
export function newOrg(clock: Clock, name: string, plan?: Plan): { org: Org; grant?: CreditEntry } {
  const now = clock.now();
  const org: Org = {
    id: newId('org'),
    name,
    plan: plan?.name ?? 'free',
    credits_period: creditPeriod(now),
    created_at: now,
  };
  if (!plan || plan.monthly_credits <= 0) return { org };
  return {
    org,
    grant: grantEntry(org.id, plan.monthly_credits, `initial grant of the '${plan.name}' plan`, now),
  };
}

/** The org called `name`, created with {@link newOrg} when missing. */
export async function ensureOrg(store: Store, clock: Clock, name: string, plan?: Plan): Promise<Org> {
  const existing = await store.getOrgByName(name);
  if (existing) return existing;
  const { org, grant } = newOrg(clock, name, plan);
  try {
    await store.createOrg(org, grant);
    return org;
  } catch (error) {
    // Another process created it between our read and write.
    const raced = await store.getOrgByName(name);
    if (raced) return raced;
    throw error;
  }
}

export async function ensureSite(store: Store, clock: Clock, orgId: string, name: string): Promise<Site> {
  const existing = await store.getSiteByName(orgId, name);
  if (existing) return existing;
  const site: Site = { id: newId('site'), org_id: orgId, name, created_at: clock.now() };
  try {
    await store.createSite(site);
    return site;
  } catch (error) {
    const raced = await store.getSiteByName(orgId, name);
    if (raced) return raced;
    throw error;
  }
}
