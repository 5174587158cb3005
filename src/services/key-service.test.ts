import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { KeyService } from './key-service.js';

let store: Store;
let keys: KeyService;
let unlisten: () => Promise<void>;
const clock = { now: () => Date.now() };

beforeEach(async () => {
  store = SqliteStore.open({ path: ':memory:' });
  await store.migrate();
  keys = new KeyService(store, clock);
  unlisten = await store.listen({
    runsAvailable: () => undefined,
    cancelRequested: () => undefined,
    keysRevoked: () => keys.forgetAuthenticated(),
  });
});
afterEach(async () => {
  await unlisten();
  await store.close();
});

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyService', () => {
  it('creates a key shown once, stores only its hash, and authenticates it', async () => {
    const created = await keys.create({ orgName: 'acme', scopes: ['workflows:read'] });
    expect(created.key).toMatch(/^sk_live_[A-Za-z0-9_-]{43}$/);
    const [stored] = await store.listApiKeys();
    expect(JSON.stringify(stored)).not.toContain(created.key);
    expect(await keys.authenticate(created.key)).toMatchObject({
      org_id: created.org_id,
      scopes: ['workflows:read'],
    });
    await expect(keys.authenticate(`${created.key}x`)).rejects.toMatchObject({ status: 401 });
  });

  it('refuses a revoked key at once, even right after it was authenticated', async () => {
    const created = await keys.create({ orgName: 'acme', scopes: ['admin'] });
    await keys.authenticate(created.key);
    await keys.revoke(created.id);
    await expect(keys.authenticate(created.key)).rejects.toMatchObject({
      status: 401,
      message: 'the API key was revoked',
    });
  });

  it('forgets cached keys when the store reports a revocation made elsewhere', async () => {
    const created = await keys.create({ orgName: 'acme', scopes: ['admin'] });
    await keys.authenticate(created.key);
    await store.revokeApiKey(created.id, clock.now());
    await tick();
    await expect(keys.authenticate(created.key)).rejects.toMatchObject({ status: 401 });
  });

  it('creates the org and site a key names when they are new, and reuses them after', async () => {
    const first = await keys.create({ orgName: 'acme', siteName: 'shop', scopes: ['admin'] });
    const second = await keys.create({ orgName: 'acme', siteName: 'shop', scopes: ['workflows:read'] });
    expect(second).toMatchObject({ org_id: first.org_id, site_id: first.site_id });
    expect(await store.getSiteByName(first.org_id, 'shop')).toMatchObject({ id: first.site_id });
  });

  it('leaves no new org or site behind when the key is refused', async () => {
    const presetKey = 'sk_live_chosen_by_the_operator_0001';
    await keys.create({ orgName: 'acme', scopes: ['admin'], presetKey });
    // Refused before any write: a bad scope.
    await expect(keys.create({ orgName: 'newco', scopes: ['root'] })).rejects.toMatchObject({ status: 400 });
    expect(await store.getOrgByName('newco')).toBeNull();
    // Refused by the store: the same key again, for a new org and for a new site of an org.
    await expect(keys.create({ orgName: 'newco', scopes: ['admin'], presetKey })).rejects.toThrow();
    expect(await store.getOrgByName('newco')).toBeNull();
    await expect(
      keys.create({ orgName: 'acme', siteName: 'shop', scopes: ['admin'], presetKey }),
    ).rejects.toThrow();
    const acme = (await store.getOrgByName('acme'))!;
    expect(await store.getSiteByName(acme.id, 'shop')).toBeNull();
    expect(await store.listApiKeys()).toHaveLength(1);
  });

  it('joins the org another process created between its read and its write', async () => {
    const theirs = await keys.create({ orgName: 'acme', scopes: ['admin'] });
    // The first lookup misses the org, as if it were created right after it.
    let lookups = 0;
    const racing: Store = Object.create(store, {
      getOrgByName: {
        value: async (name: string) => ((lookups += 1) === 1 ? null : store.getOrgByName(name)),
      },
    });
    const ours = await new KeyService(racing, clock).create({ orgName: 'acme', scopes: ['workflows:read'] });
    expect(ours).toMatchObject({ org_id: theirs.org_id, site_id: theirs.site_id });
    expect(await store.listApiKeys(theirs.org_id)).toHaveLength(2);
  });

  it('names a bad scope', async () => {
    await expect(keys.create({ orgName: 'acme', scopes: ['workflows:delete'] })).rejects.toMatchObject({
      status: 400,
      field: 'scopes',
      message: expect.stringContaining("'workflows:delete'"),
    });
  });
});
