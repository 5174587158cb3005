import { beforeEach, describe, expect, it } from 'vitest';
import { StepwiseError } from '../domain/errors.js';
import type { Org, RunRecord, WorkflowRecord } from '../domain/model.js';
import { RunAdmissionRefused, type RunAdmission, type Store } from './store.js';
import {
  byId,
  contractSetup,
  ids,
  makeApiKey,
  makeEvent,
  makeRun,
  makeSite,
  makeWorkflow,
  type StoreContractOptions,
  T0,
  uid,
} from './store-fixtures.js';

/**
 * The behaviour every `Store` backend must have for orgs, API keys, secrets, workflows and runs
 * as records, as a vitest suite. Assertions hold to the JSDoc of `Store` only, never to one
 * engine's quirks (error texts, physical row order). How runs move (claims, checkpoints,
 * cancels, waits, signals) is in `run-lifecycle.contract.ts` and `run-control.contract.ts`.
 *
 * @example
 * runStoreContract({ name: 'sqlite (:memory:)', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runStoreContract(options: StoreContractOptions): void {
  describe(`Store contract: ${options.name}`, () => {
    const setup = contractSetup(options);
    const { addRun } = setup;
    let store: Store;
    let org: Org;
    let otherOrg: Org;
    let workflow: WorkflowRecord;

    beforeEach(() => {
      ({ store, org, otherOrg, workflow } = setup);
    });

    it('migrate() can run again on a migrated store without losing data', async () => {
      await store.migrate();
      expect(await store.getWorkflow(org.id, workflow.id)).toEqual(workflow);
    });

    describe('orgs, sites and API keys', () => {
      it('reads an org back by id and by name, and null for unknown ones', async () => {
        expect(await store.getOrg(org.id)).toEqual(org);
        expect(await store.getOrgByName(org.name)).toEqual(org);
        expect(await store.getOrg('org_missing')).toBeNull();
        expect(await store.getOrgByName('nobody')).toBeNull();
      });

      it('moves an org to another plan, that org only; an unknown org is false', async () => {
        expect(await store.setOrgPlan(org.id, 'enterprise')).toBe(true);
        expect(await store.getOrg(org.id)).toEqual({ ...org, plan: 'enterprise' });
        expect(await store.getOrg(otherOrg.id)).toEqual(otherOrg);
        expect(await store.setOrgPlan('org_missing', 'pro')).toBe(false);
      });

      it('reads a site back by id and by name inside its org only', async () => {
        const site = makeSite(org.id);
        await store.createSite(site);
        expect(await store.getSite(org.id, site.id)).toEqual(site);
        expect(await store.getSiteByName(org.id, site.name)).toEqual(site);
        expect(await store.getSite(otherOrg.id, site.id)).toBeNull();
        expect(await store.getSiteByName(otherOrg.id, site.name)).toBeNull();
      });

      it('finds a key by its hash and lists keys per org or all', async () => {
        const site = makeSite(org.id);
        await store.createSite(site);
        const first = makeApiKey(org.id);
        const second = makeApiKey(org.id, { site_id: site.id, scopes: ['admin'], created_at: T0 + 1 });
        const foreign = makeApiKey(otherOrg.id);
        for (const key of [first, second, foreign]) await store.createApiKey(key);

        expect(await store.findApiKeyByHash(second.key_hash)).toEqual(second);
        expect(await store.findApiKeyByHash('unknown-hash')).toBeNull();
        expect(byId(await store.listApiKeys(org.id))).toEqual(byId([first, second]));
        expect(ids(await store.listApiKeys())).toEqual(expect.arrayContaining(ids([first, second, foreign])));
      });

      it('revokes a key once, and the revocation shows at once', async () => {
        const key = makeApiKey(org.id);
        await store.createApiKey(key);
        expect(await store.revokeApiKey(key.id, T0 + 5)).toBe(true);
        expect(await store.revokeApiKey(key.id, T0 + 6)).toBe(false);
        expect(await store.revokeApiKey('key_missing', T0 + 6)).toBe(false);
        expect(await store.findApiKeyByHash(key.key_hash)).toEqual({ ...key, revoked_at: T0 + 5 });
        expect(await store.listApiKeys(org.id)).toEqual([{ ...key, revoked_at: T0 + 5 }]);
      });
    });

    describe('secrets', () => {
      it('upserts, reads the requested names, lists and deletes, per org', async () => {
        await store.putSecret(org.id, 'API_TOKEN', 'ct-1', T0);
        await store.putSecret(org.id, 'DB_PASSWORD', 'ct-2', T0);
        await store.putSecret(otherOrg.id, 'API_TOKEN', 'ct-foreign', T0);
        await store.putSecret(org.id, 'API_TOKEN', 'ct-1-rotated', T0 + 1);

        expect(await store.getSecrets(org.id, ['API_TOKEN', 'MISSING'])).toEqual([
          { name: 'API_TOKEN', ciphertext: 'ct-1-rotated' },
        ]);
        expect(await store.getSecrets(otherOrg.id, ['API_TOKEN', 'DB_PASSWORD'])).toEqual([
          { name: 'API_TOKEN', ciphertext: 'ct-foreign' },
        ]);
        expect((await store.listSecretNames(org.id)).sort()).toEqual(['API_TOKEN', 'DB_PASSWORD']);

        expect(await store.deleteSecret(org.id, 'API_TOKEN')).toBe(true);
        expect(await store.deleteSecret(org.id, 'API_TOKEN')).toBe(false);
        expect(await store.listSecretNames(org.id)).toEqual(['DB_PASSWORD']);
        expect(await store.listSecretNames(otherOrg.id)).toEqual(['API_TOKEN']);
      });
    });

    describe('workflows', () => {
      it('reads a workflow back by id and slug, field for field', async () => {
        expect(await store.getWorkflow(org.id, workflow.id)).toEqual(workflow);
        expect(await store.getWorkflowBySlug(org.id, workflow.slug)).toEqual(workflow);
        expect(await store.getWorkflowVersion(workflow.id, 1)).toEqual(workflow.definition);
      });

      it("never shows another org's workflow", async () => {
        expect(await store.getWorkflow(otherOrg.id, workflow.id)).toBeNull();
        expect(await store.getWorkflowBySlug(otherOrg.id, workflow.slug)).toBeNull();
        expect(await store.listWorkflows(otherOrg.id, { limit: 10, offset: 0 })).toEqual([]);
        expect(await store.deleteWorkflow(otherOrg.id, workflow.id, T0)).toBe(false);
        expect(await store.getWorkflow(org.id, workflow.id)).toEqual(workflow);
      });

      it('refuses a duplicate slug in the org with SLUG_TAKEN (409), but not in another org', async () => {
        const duplicate = makeWorkflow(org.id, { slug: workflow.slug });
        const error = await store.insertWorkflow(duplicate).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StepwiseError);
        expect(error).toMatchObject({ code: 'SLUG_TAKEN', status: 409 });
        expect(await store.getWorkflow(org.id, duplicate.id)).toBeNull();

        const elsewhere = makeWorkflow(otherOrg.id, { slug: workflow.slug });
        await store.insertWorkflow(elsewhere);
        expect(await store.getWorkflowBySlug(otherOrg.id, workflow.slug)).toEqual(elsewhere);
      });

      it('updates on the expected version, stores the new version and keeps the old one', async () => {
        const definition = {
          steps: [
            { id: 'notify', tool: 'email', params: { to: 'ops@example.com' }, continue_on_error: true },
          ],
        };
        const edited = {
          ...workflow,
          title: 'Renamed',
          is_public: true,
          version: 2,
          definition,
          updated_at: T0 + 1,
        };
        expect(await store.updateWorkflow(edited, 1)).toBe(true);
        expect(await store.getWorkflow(org.id, workflow.id)).toEqual(edited);
        expect(await store.getWorkflowVersion(workflow.id, 2)).toEqual(definition);
        expect(await store.getWorkflowVersion(workflow.id, 1)).toEqual(workflow.definition);
        expect(await store.getWorkflowVersion(workflow.id, 3)).toBeNull();
      });

      it('refuses an update made against a stale version and keeps the stored one', async () => {
        const first = { ...workflow, title: 'First edit', version: 2, updated_at: T0 + 1 };
        const late = { ...workflow, title: 'Concurrent edit', version: 2, updated_at: T0 + 2 };
        expect(await store.updateWorkflow(first, 1)).toBe(true);
        expect(await store.updateWorkflow(late, 1)).toBe(false);
        expect(await store.getWorkflow(org.id, workflow.id)).toEqual(first);
      });

      it('updates fields without a new version when the version stays', async () => {
        const edited = {
          ...workflow,
          status: 'inactive' as const,
          metadata: { endCall: false },
          updated_at: T0 + 1,
        };
        expect(await store.updateWorkflow(edited, 1)).toBe(true);
        expect(await store.getWorkflow(org.id, workflow.id)).toEqual(edited);
        expect(await store.getWorkflowVersion(workflow.id, 1)).toEqual(workflow.definition);
      });

      it('lists the org workflows in pages that neither overlap nor skip', async () => {
        const more = [1, 2, 3, 4].map((i) =>
          makeWorkflow(org.id, { created_at: T0 + i, updated_at: T0 + i }),
        );
        for (const wf of more) await store.insertWorkflow(wf);
        await store.insertWorkflow(makeWorkflow(otherOrg.id));
        const pages = [];
        for (let offset = 0; offset < 6; offset += 2)
          pages.push(await store.listWorkflows(org.id, { limit: 2, offset }));
        expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
        expect(byId(pages.flat())).toEqual(byId([workflow, ...more]));
      });

      it('hides a deleted workflow, frees its slug and keeps its versions and runs', async () => {
        const run = await addRun();
        expect(await store.deleteWorkflow(org.id, workflow.id, T0 + 1)).toBe(true);
        expect(await store.deleteWorkflow(org.id, workflow.id, T0 + 2)).toBe(false);
        expect(await store.getWorkflow(org.id, workflow.id)).toBeNull();
        expect(await store.getWorkflowBySlug(org.id, workflow.slug)).toBeNull();
        expect(await store.listWorkflows(org.id, { limit: 10, offset: 0 })).toEqual([]);
        expect(await store.updateWorkflow({ ...workflow, version: 2 }, 1)).toBe(false);
        expect(await store.getWorkflowVersion(workflow.id, 1)).toEqual(workflow.definition);
        expect(await store.getRun(org.id, run.id)).toEqual(run);

        const reuse = makeWorkflow(org.id, { slug: workflow.slug });
        await store.insertWorkflow(reuse);
        expect(await store.getWorkflowBySlug(org.id, workflow.slug)).toEqual(reuse);
      });
    });

    describe('runs', () => {
      it('inserts a run with its first event and reads it back field for field', async () => {
        const run = makeRun(org.id, workflow.id, { site_id: 'site_1', deadline_at: T0 + 60_000 });
        const result = await store.insertRun({
          run,
          event: makeEvent(run.id, 'run.created', T0, { version: 1 }),
        });
        expect(result).toEqual({ run, created: true });
        expect(await store.getRun(org.id, run.id)).toEqual(run);
        expect(await store.getRun(null, run.id)).toEqual(run);
        expect(await store.getRun(otherOrg.id, run.id)).toBeNull();
        expect(await store.getRun(org.id, 'run_missing')).toBeNull();
        const events = await store.listRunEvents(run.id);
        expect(events).toMatchObject([{ run_id: run.id, type: 'run.created', at: T0, data: { version: 1 } }]);
      });

      it('returns the existing run for a reused idempotency key, inserting nothing', async () => {
        const first = await addRun({ idempotency_key: 'order-17' });
        const again = makeRun(org.id, workflow.id, { idempotency_key: 'order-17', input: { other: true } });
        const result = await store.insertRun({ run: again, event: makeEvent(again.id, 'run.created') });
        expect(result).toEqual({ run: first, created: false });
        expect(await store.getRun(org.id, again.id)).toBeNull();
        expect(await store.listRunEvents(again.id)).toEqual([]);
        expect(await store.listRunEvents(first.id)).toHaveLength(1);
      });

      it('lets different orgs, and runs without a key, reuse nothing by accident', async () => {
        await addRun({ idempotency_key: 'order-17' });
        const foreign = makeRun(otherOrg.id, workflow.id, { idempotency_key: 'order-17' });
        expect(
          (await store.insertRun({ run: foreign, event: makeEvent(foreign.id, 'run.created') })).created,
        ).toBe(true);
        const a = makeRun(org.id, workflow.id);
        const b = makeRun(org.id, workflow.id);
        expect((await store.insertRun({ run: a, event: makeEvent(a.id, 'run.created') })).created).toBe(true);
        expect((await store.insertRun({ run: b, event: makeEvent(b.id, 'run.created') })).created).toBe(true);
      });

      it('lists runs of the org by workflow and status, in pages that neither overlap nor skip', async () => {
        const other = makeWorkflow(org.id);
        await store.insertWorkflow(other);
        const runs = [
          await addRun({ created_at: T0 + 1 }),
          await addRun({ created_at: T0 + 2, status: 'completed', available_at: null, finished_at: T0 + 3 }),
          await addRun({ created_at: T0 + 3, status: 'failed', available_at: null, finished_at: T0 + 4 }),
          await addRun({ created_at: T0 + 4, workflow_id: other.id }),
          await addRun({
            created_at: T0 + 5,
            workflow_id: other.id,
            status: 'completed',
            available_at: null,
          }),
        ];
        const foreign = makeRun(otherOrg.id, workflow.id);
        await store.insertRun({ run: foreign, event: makeEvent(foreign.id, 'run.created') });

        const all = await store.listRuns({ org_id: org.id, limit: 50, offset: 0 });
        expect(byId(all)).toEqual(byId(runs));
        const ofWorkflow = await store.listRuns({
          org_id: org.id,
          workflow_id: workflow.id,
          limit: 50,
          offset: 0,
        });
        expect(ids(ofWorkflow)).toEqual(ids(runs.slice(0, 3)));
        const finished = await store.listRuns({
          org_id: org.id,
          status: ['completed', 'failed'],
          limit: 50,
          offset: 0,
        });
        expect(ids(finished)).toEqual(ids([runs[1]!, runs[2]!, runs[4]!]));
        const both = {
          org_id: org.id,
          workflow_id: other.id,
          status: ['completed' as const],
          limit: 50,
          offset: 0,
        };
        expect(ids(await store.listRuns(both))).toEqual([runs[4]!.id]);

        const pages = [];
        for (let offset = 0; offset < 6; offset += 2)
          pages.push(await store.listRuns({ org_id: org.id, limit: 2, offset }));
        expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
        expect(ids(pages.flat())).toEqual(ids(runs));
      });

      it('lists runs created in [created_after, created_before), with the other filters', async () => {
        const runs = [
          await addRun({ created_at: T0 + 10 }),
          await addRun({
            created_at: T0 + 20,
            status: 'completed',
            available_at: null,
            finished_at: T0 + 21,
          }),
          await addRun({ created_at: T0 + 30 }),
          await addRun({ created_at: T0 + 40, status: 'failed', available_at: null, finished_at: T0 + 41 }),
        ];
        const foreign = makeRun(otherOrg.id, workflow.id, { created_at: T0 + 20 });
        await store.insertRun({ run: foreign, event: makeEvent(foreign.id, 'run.created') });
        const page = { org_id: org.id, limit: 50, offset: 0 };

        const between = await store.listRuns({ ...page, created_after: T0 + 20, created_before: T0 + 40 });
        expect(between.map((run) => run.id)).toEqual([runs[2]!.id, runs[1]!.id]);
        expect(ids(await store.listRuns({ ...page, created_after: T0 + 31 }))).toEqual([runs[3]!.id]);
        expect(ids(await store.listRuns({ ...page, created_before: T0 + 11 }))).toEqual([runs[0]!.id]);
        const finishedBetween = await store.listRuns({
          ...page,
          workflow_id: workflow.id,
          status: ['completed', 'failed'],
          created_after: T0 + 15,
          created_before: T0 + 35,
        });
        expect(ids(finishedBetween)).toEqual([runs[1]!.id]);
        expect(await store.listRuns({ ...page, created_after: T0 + 41 })).toEqual([]);
      });
    });

    describe('throttled starts', () => {
      // Times are real: PostgreSQL counts throttle windows on its own clock.
      const PERIOD_MS = 3_600_000;
      const throttle = (limit: number) => ({ group: uid('throttle:wf:'), limit, period_ms: PERIOD_MS });
      const start = (
        throttled: ReturnType<typeof throttle>,
        overrides: Partial<RunRecord> = {},
        admission?: RunAdmission,
      ) => {
        const now = Date.now();
        const run = makeRun(org.id, workflow.id, {
          created_at: now,
          available_at: now,
          updated_at: now,
          credits_reserved: admission?.credits ?? 0,
          ...overrides,
        });
        const event = makeEvent(run.id, 'run.created', now, { trigger: run.trigger });
        return store.insertRun({ run, event, throttle: throttled, ...(admission ? { admission } : {}) });
      };
      const createdEvent = async (runId: string) => (await store.listRunEvents(runId))[0]!.data;
      /** The start of the window after the one holding now, read before and after the start. */
      const nextWindows = (before: number) =>
        [before, Date.now()].map((at) => Math.floor(at / PERIOD_MS) * PERIOD_MS + PERIOD_MS);

      it('puts a start past the limit into the next window, and says so in its first event', async () => {
        const group = throttle(1);
        const { run: first } = await start(group);
        expect(first.available_at).toBe(first.created_at);
        expect(await createdEvent(first.id)).toEqual({ trigger: first.trigger });

        const before = Date.now();
        const { run: second } = await start(group);
        expect(nextWindows(before)).toContain(second.available_at);
        expect(await store.getRun(org.id, second.id)).toEqual(second);
        expect(await createdEvent(second.id)).toEqual({
          trigger: second.trigger,
          throttled_until: second.available_at,
        });
        // Another group has its own windows.
        expect((await start(throttle(1))).run.available_at).toBeLessThanOrEqual(Date.now());
      });

      it('does not count an idempotent replay', async () => {
        const group = throttle(2);
        const { run: first } = await start(group, { idempotency_key: 'order-1' });
        const replay = await start(group, { idempotency_key: 'order-1' });
        expect(replay).toEqual({ run: first, created: false });
        const { run: next } = await start(group);
        expect(next.available_at).toBe(next.created_at);
        expect(await createdEvent(next.id)).not.toHaveProperty('throttled_until');
      });

      it('does not count a start refused for credits or concurrency', async () => {
        const group = throttle(1);
        await expect(start(group, {}, { max_concurrent_runs: null, credits: 5 })).rejects.toBeInstanceOf(
          RunAdmissionRefused,
        );
        await expect(start(group, {}, { max_concurrent_runs: 0, credits: 0 })).rejects.toMatchObject({
          reason: 'concurrency',
        });
        const { run } = await start(group);
        expect(run.available_at).toBe(run.created_at);
      });

      it('counts a start that passes its admission checks', async () => {
        const group = throttle(1);
        const { run: admitted } = await start(group, {}, { max_concurrent_runs: 10, credits: 0 });
        expect(admitted.available_at).toBe(admitted.created_at);
        const before = Date.now();
        const { run: later } = await start(group);
        expect(nextWindows(before)).toContain(later.available_at);
      });
    });
  });
}
