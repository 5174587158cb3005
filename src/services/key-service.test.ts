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

  it('names a bad scope', async () => {
    await expect(keys.create({ orgName: 'acme', scopes: ['workflows:delete'] })).rejects.toMatchObject({
      status: 400,
      field: 'scopes',
      message: expect.stringContaining("'workflows:delete'"),
    });
  });
});
