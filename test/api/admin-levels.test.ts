import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';

// Two admin levels: an `org_admin` key manages its own org only; the `operator` scope (and
// `admin`, its older name) manages every org, plans and credits. Each hostile call below is
// one an org admin key really made before the split.

let h: ApiHarness;
/** Org `acme`'s admin key, and a workflow reader there. */
let acmeAdmin: string;
let acmeReader: { id: string; key: string };
/** Org `globex`: a reader key and a workflow whose title must never reach acme. */
let globexReader: { id: string; key: string; orgId: string };
let globexWorkflowId: string;
let operatorKey: string;

beforeAll(async () => {
  h = await startApiHarness({ worker: false });
  acmeAdmin = await h.key(['org_admin'], 'acme');
  acmeReader = await h.stepwise.keys.create({ orgName: 'acme', scopes: ['workflows:read'] });
  const globex = await h.stepwise.keys.create({ orgName: 'globex', scopes: ['workflows:read'] });
  globexReader = { id: globex.id, key: globex.key, orgId: globex.org_id };
  globexWorkflowId = (
    await h.stepwise.workflows.create(globex.org_id, {
      title: 'Globex secret plan',
      steps: [{ id: 'say', tool: 'log', params: { message: 'hi' } }],
    })
  ).id;
  operatorKey = await h.key(['operator'], 'default');
});
afterAll(async () => {
  await h?.close();
});

function call(key: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) {
  return h.app.inject({
    method,
    url,
    headers: {
      authorization: `Bearer ${key}`,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
}

function expectMissingScope(response: LightMyRequestResponse, scope: string): void {
  expect(response.statusCode, response.body).toBe(403);
  const { error } = json<{ error: { code: string; message: string } }>(response);
  expect(error.code).toBe('MISSING_SCOPE');
  expect(error.message).toContain(`'${scope}'`);
}

const keysOf = async (org: string) => {
  const orgRecord = await h.stepwise.store.getOrgByName(org);
  return orgRecord ? h.stepwise.store.listApiKeys(orgRecord.id) : [];
};
const balanceOf = (orgId: string) => h.stepwise.credits.balance(orgId);

describe('an org_admin key manages its own org only', () => {
  it("lists its own org's keys, none of another org's", async () => {
    const response = await call(acmeAdmin, 'GET', '/v1/admin/keys');
    expect(response.statusCode).toBe(200);
    const listed = json<{ data: { id: string; org_id: string }[] }>(response).data;
    expect(listed.map((key) => key.id)).toContain(acmeReader.id);
    expect(listed.map((key) => key.id)).not.toContain(globexReader.id);
    expect(new Set(listed.map((key) => key.org_id)).size).toBe(1);
  });

  it("revoking another org's key is a 404 and the key keeps working", async () => {
    const response = await call(acmeAdmin, 'DELETE', `/v1/admin/keys/${globexReader.id}`);
    expect(response.statusCode).toBe(404);
    expect(response.body).not.toContain('globex');
    expect((await call(globexReader.key, 'GET', '/v1/workflows')).statusCode).toBe(200);
  });

  it('creating a key for another org (by name or id), or a new org, is a 403 naming operator; nothing is made', async () => {
    const before = await keysOf('globex');
    for (const org of ['globex', globexReader.orgId, 'brand-new-org']) {
      const response = await call(acmeAdmin, 'POST', '/v1/admin/keys', { org, scopes: ['org_admin'] });
      expectMissingScope(response, 'operator');
    }
    expect(await keysOf('globex')).toEqual(before);
    expect(await h.stepwise.store.getOrgByName('brand-new-org')).toBeNull();
  });

  it('cannot mint an operator or admin key, even for its own org', async () => {
    const before = await keysOf('acme');
    expectMissingScope(await call(acmeAdmin, 'POST', '/v1/admin/keys', { scopes: ['operator'] }), 'operator');
    expectMissingScope(
      await call(acmeAdmin, 'POST', '/v1/admin/keys', { scopes: ['workflows:read', 'admin'] }),
      'admin',
    );
    expect(await keysOf('acme')).toEqual(before);
  });

  it('a key cannot hand on a scope it lacks', async () => {
    // org_admin implies every data scope, so what a narrower key lacks is the admin levels.
    const reader = await call(acmeReader.key, 'POST', '/v1/admin/keys', { scopes: ['workflows:read'] });
    expectMissingScope(reader, 'org_admin');
  });

  it('mints keys for its own org, which work there and only there', async () => {
    const response = await call(acmeAdmin, 'POST', '/v1/admin/keys', {
      scopes: ['workflows:read', 'workflows:write'],
      site: 'shop',
      name: 'ci',
    });
    expect(response.statusCode, response.body).toBe(201);
    const created = json<{ key: string; org_id: string }>(response);
    expect(created.org_id).toBe((await h.stepwise.store.getOrgByName('acme'))!.id);
    expect((await call(created.key, 'GET', `/v1/workflows/${globexWorkflowId}`)).statusCode).toBe(404);
    const own = await call(created.key, 'POST', '/v1/workflows', { title: 'Acme own' });
    expect(own.statusCode).toBe(201);
  });

  it("cannot revoke an operator key of its own org (403 naming operator), but revokes its org's other keys", async () => {
    const defaultAdmin = await h.key(['org_admin'], 'default');
    const operator = (await keysOf('default')).find((key) => key.scopes.includes('operator'))!;
    expectMissingScope(await call(defaultAdmin, 'DELETE', `/v1/admin/keys/${operator.id}`), 'operator');
    expect((await call(operatorKey, 'GET', '/v1/admin/keys')).statusCode).toBe(200);

    const doomed = await h.stepwise.keys.create({ orgName: 'acme', scopes: ['workflows:read'] });
    expect((await call(acmeAdmin, 'DELETE', `/v1/admin/keys/${doomed.id}`)).statusCode).toBe(200);
    expect((await call(doomed.key, 'GET', '/v1/workflows')).statusCode).toBe(401);
  });

  it('cannot read or grant credits of any org, its own included (403 naming operator); reads its own plan', async () => {
    const acmeId = (await h.stepwise.store.getOrgByName('acme'))!.id;
    const before = { acme: await balanceOf(acmeId), globex: await balanceOf(globexReader.orgId) };
    for (const orgId of [acmeId, globexReader.orgId]) {
      expectMissingScope(
        await call(acmeAdmin, 'POST', `/v1/admin/orgs/${orgId}/credits`, { amount: 1_000_000 }),
        'operator',
      );
      expectMissingScope(await call(acmeAdmin, 'GET', `/v1/admin/orgs/${orgId}/credits`), 'operator');
    }
    expect({ acme: await balanceOf(acmeId), globex: await balanceOf(globexReader.orgId) }).toEqual(before);
    const own = await call(acmeAdmin, 'GET', '/v1/credits');
    expect(own.statusCode).toBe(200);
    expect(json(own)).toMatchObject({ org_id: acmeId, plan: { name: 'unlimited' } });
  });

  it("cannot change any org's plan, its own included (403 naming operator)", async () => {
    const acmeId = (await h.stepwise.store.getOrgByName('acme'))!.id;
    for (const orgId of [acmeId, globexReader.orgId]) {
      expectMissingScope(
        await call(acmeAdmin, 'PUT', `/v1/admin/orgs/${orgId}/plan`, { plan: 'free' }),
        'operator',
      );
    }
    expect((await h.stepwise.store.getOrg(acmeId))?.plan).toBe('unlimited');
    expect((await h.stepwise.store.getOrg(globexReader.orgId))?.plan).toBe('unlimited');
  });
});

describe('the operator scope manages every org', () => {
  // The org is named by name for one, by id for the other: both address the same org.
  for (const [what, key, globex] of [
    ['operator', () => operatorKey, () => 'globex'],
    ["'admin' (keys made before the split)", () => h.adminKey, () => globexReader.orgId],
  ] as const) {
    it(`${what}: lists every org's keys, mints any key in any org, revokes there, grants credits`, async () => {
      const listed = json<{ data: { org_id: string }[] }>(await call(key(), 'GET', '/v1/admin/keys')).data;
      expect(new Set(listed.map((k) => k.org_id)).size).toBeGreaterThanOrEqual(3);

      const minted = await call(key(), 'POST', '/v1/admin/keys', { org: globex(), scopes: ['org_admin'] });
      expect(minted.statusCode, minted.body).toBe(201);
      const globexAdmin = json<{ id: string; key: string; org_id: string }>(minted);
      expect(globexAdmin.org_id).toBe(globexReader.orgId);
      expect((await call(globexAdmin.key, 'GET', `/v1/workflows/${globexWorkflowId}`)).statusCode).toBe(200);

      const operatorMinted = await call(key(), 'POST', '/v1/admin/keys', { scopes: ['operator'] });
      expect(operatorMinted.statusCode, operatorMinted.body).toBe(201);

      expect((await call(key(), 'DELETE', `/v1/admin/keys/${globexAdmin.id}`)).statusCode).toBe(200);
      expect((await call(globexAdmin.key, 'GET', '/v1/workflows')).statusCode).toBe(401);

      const before = await balanceOf(globexReader.orgId);
      const granted = await call(key(), 'POST', `/v1/admin/orgs/${globexReader.orgId}/credits`, {
        amount: 7,
      });
      expect(granted.statusCode, granted.body).toBe(201);
      expect(await balanceOf(globexReader.orgId)).toBe(before + 7);
    });
  }

  it("moves an org to another plan, which its own keys see at once; an unknown plan is a 400 naming 'plan'", async () => {
    const unknown = await call(operatorKey, 'PUT', `/v1/admin/orgs/${globexReader.orgId}/plan`, {
      plan: 'gold',
    });
    expect(unknown.statusCode).toBe(400);
    expect(json<{ error: { message: string } }>(unknown).error.message).toMatch(
      /^plan: 'gold' is not one of/,
    );
    const moved = await call(operatorKey, 'PUT', '/v1/admin/orgs/globex/plan', { plan: 'pro' });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(json(moved)).toMatchObject({
      org_id: globexReader.orgId,
      plan: { name: 'pro', max_concurrent_runs: 10 },
    });
    const seen = await call(globexReader.key, 'GET', '/v1/credits');
    expect(json(seen)).toMatchObject({
      plan: { name: 'pro', max_mcp_sessions: 50, max_generating_workflows: 5 },
    });
  });
});
