import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StepwiseError } from '../domain/errors.js';
import type {
  ApiKeyRecord,
  Millis,
  Org,
  RunEventInput,
  RunEventType,
  RunProgress,
  RunRecord,
  RunStepRecord,
  Site,
  WorkflowRecord,
} from '../domain/model.js';
import type { RunCheckpoint, Store } from './store.js';

/** How a backend's test file plugs into the shared suite. */
export interface StoreContractOptions {
  /** Shown in the suite title, e.g. `sqlite (:memory:)`. */
  name: string;
  /** A store no other test uses; the suite migrates it and closes it after each test. */
  createStore: () => Promise<Store>;
}

const T0: Millis = 1_700_000_000_000;
const LEASE_MS = 30_000;

let counter = 0;
/** Unique across tests, so backends that share one database between tests stay isolated. */
const uid = (prefix: string): string => `${prefix}_${++counter}_${Math.random().toString(36).slice(2, 10)}`;

/** An org with a unique id and name. */
export const makeOrg = (overrides: Partial<Org> = {}): Org => ({
  id: uid('org'),
  name: uid('acme'),
  plan: 'free',
  created_at: T0,
  ...overrides,
});

/** A site of `orgId` with a unique name. */
export const makeSite = (orgId: string, overrides: Partial<Site> = {}): Site => ({
  id: uid('site'),
  org_id: orgId,
  name: uid('main'),
  created_at: T0,
  ...overrides,
});

/** An unrevoked key of `orgId` with a unique hash. */
export const makeApiKey = (orgId: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  id: uid('key'),
  org_id: orgId,
  site_id: null,
  name: 'ci',
  prefix: 'sw_live_ab',
  key_hash: uid('sha256'),
  scopes: ['workflows:read', 'instances:write'],
  created_at: T0,
  revoked_at: null,
  ...overrides,
});

/** A version-1 workflow of `orgId` with a unique slug and one step. */
export const makeWorkflow = (orgId: string, overrides: Partial<WorkflowRecord> = {}): WorkflowRecord => ({
  id: uid('wf'),
  org_id: orgId,
  slug: uid('send-report'),
  title: 'Send the weekly report',
  description: 'Fetches numbers and mails them',
  status: 'active',
  trigger_config: { type: 'scheduled', enabled: true, schedule: '0 9 * * 1', timezone: 'Europe/Paris' },
  is_public: false,
  credit_cost: 3,
  callback_url: null,
  metadata: { endCall: true, tags: ['weekly'] },
  version: 1,
  definition: {
    steps: [
      { id: 'fetch', tool: 'http', params: { url: 'https://example.com/stats' }, continue_on_error: false },
    ],
  },
  generation: null,
  created_at: T0,
  updated_at: T0,
  ...overrides,
});

/** A pending run, claimable from T0. */
export const makeRun = (
  orgId: string,
  workflowId: string,
  overrides: Partial<RunRecord> = {},
): RunRecord => ({
  id: uid('run'),
  org_id: orgId,
  site_id: null,
  workflow_id: workflowId,
  workflow_version: 1,
  status: 'pending',
  input: { customer: 'c_42', amounts: [1, 2.5] },
  output: null,
  error: null,
  step_index: 0,
  current_step: 0,
  total_steps: 2,
  attempt: 1,
  step_state: null,
  resume_payload: null,
  available_at: T0,
  lease_owner: null,
  lease_expires_at: null,
  wait_event_type: null,
  wait_match: null,
  wait_run_id: null,
  cancel_requested: false,
  has_failed_steps: false,
  idempotency_key: null,
  parent_run_id: null,
  trigger: { type: 'api', key_id: 'key_1' },
  credits_reserved: 3,
  credits_consumed: 0,
  deadline_at: null,
  created_at: T0,
  started_at: null,
  finished_at: null,
  updated_at: T0,
  ...overrides,
});

/** A completed first attempt of step `fetch`. */
export const makeStep = (runId: string, overrides: Partial<RunStepRecord> = {}): RunStepRecord => ({
  id: uid('step'),
  run_id: runId,
  step_id: 'fetch',
  step_index: 0,
  attempt: 1,
  tool: 'http',
  status: 'completed',
  input: { url: 'https://example.com/stats' },
  output: { status: 200, body: { visits: 12 } },
  error: null,
  started_at: T0 + 1,
  finished_at: T0 + 2,
  ...overrides,
});

/** A timeline event of `runId`. */
export const makeEvent = (
  runId: string,
  type: RunEventType,
  at: Millis = T0,
  data: Record<string, unknown> = {},
): RunEventInput => ({
  run_id: runId,
  type,
  data,
  at,
});

/** The progress part of a run, with changes: what the engine hands to a checkpoint. */
export function progressOf(run: RunRecord, changes: Partial<RunProgress> = {}): RunProgress {
  const { status, step_index, current_step, attempt, step_state, resume_payload, available_at, lease_owner } =
    run;
  const { lease_expires_at, wait_event_type, wait_match, wait_run_id, has_failed_steps, output, error } = run;
  const { started_at, finished_at, deadline_at, updated_at } = run;
  return {
    ...{ status, step_index, current_step, attempt, step_state, resume_payload, available_at, lease_owner },
    ...{ lease_expires_at, wait_event_type, wait_match, wait_run_id, has_failed_steps, output, error },
    ...{ started_at, finished_at, deadline_at, updated_at },
    ...changes,
  };
}

/** Counts the signals a store delivers and waits for them. */
async function recordSignals(store: Store) {
  const seen = { runsAvailable: 0, cancelRequested: [] as string[] };
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((check) => check());
  const unsubscribe = await store.listen({
    runsAvailable: () => {
      seen.runsAvailable += 1;
      notify();
    },
    cancelRequested: (runId) => {
      seen.cancelRequested.push(runId);
      notify();
    },
  });
  const until = (condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${what} signal within ${timeoutMs} ms`));
      }, timeoutMs);
      function check() {
        if (!condition()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      }
      waiters.add(check);
      check();
    });
  return { seen, until, unsubscribe };
}

const byId = <T extends { id: string }>(rows: T[]): T[] => [...rows].sort((a, b) => a.id.localeCompare(b.id));
const ids = (rows: { id: string }[]): string[] => rows.map((row) => row.id).sort();

/**
 * The behaviour every `Store` backend must have, as a vitest suite. Assertions hold to the
 * JSDoc of `Store` only, never to one engine's quirks (error texts, physical row order).
 *
 * @example
 * runStoreContract({ name: 'sqlite (:memory:)', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runStoreContract(options: StoreContractOptions): void {
  describe(`Store contract: ${options.name}`, () => {
    let store: Store;
    let org: Org;
    let otherOrg: Org;
    let workflow: WorkflowRecord;

    beforeEach(async () => {
      store = await options.createStore();
      await store.migrate();
      org = makeOrg();
      otherOrg = makeOrg();
      await store.createOrg(org);
      await store.createOrg(otherOrg);
      workflow = makeWorkflow(org.id);
      await store.insertWorkflow(workflow);
    });

    afterEach(async () => {
      await store.close();
    });

    const addRun = async (overrides: Partial<RunRecord> = {}): Promise<RunRecord> => {
      const run = makeRun(org.id, workflow.id, overrides);
      const { run: stored } = await store.insertRun({
        run,
        event: makeEvent(run.id, 'run.created', run.created_at),
      });
      return stored;
    };

    /** Claims exactly `run` for `owner` (it must be the only runnable run at `now`). */
    const claimOnly = async (run: RunRecord, owner: string, now: Millis = T0): Promise<RunRecord> => {
      const claimed = await store.claimRunnableRuns(owner, 10, LEASE_MS, now);
      expect(ids(claimed)).toEqual([run.id]);
      return claimed[0]!;
    };

    const checkpoint = (
      run: RunRecord,
      owner: string,
      changes: Partial<RunCheckpoint> = {},
    ): RunCheckpoint => ({
      run_id: run.id,
      owner,
      progress: progressOf(run, { updated_at: T0 + 10 }),
      steps: [],
      events: [],
      ...changes,
    });

    const waitingParent = (childId: string | null = null) =>
      addRun({ status: 'running', available_at: null, wait_run_id: childId, started_at: T0 });

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

    describe('claiming', () => {
      it('claims only runs available by now, oldest available_at first, up to the limit', async () => {
        const late = await addRun({ available_at: T0 + 30 });
        const early = await addRun({ available_at: T0 + 10 });
        const middle = await addRun({ available_at: T0 + 20 });
        await addRun({ available_at: T0 + 1_000 });
        await addRun({ available_at: null });

        expect(ids(await store.claimRunnableRuns('w1', 2, LEASE_MS, T0 + 100))).toEqual(ids([early, middle]));
        expect(ids(await store.claimRunnableRuns('w1', 10, LEASE_MS, T0 + 100))).toEqual([late.id]);
        expect(await store.claimRunnableRuns('w1', 10, LEASE_MS, T0 + 100)).toEqual([]);
      });

      it('leases a pending run: running, owned, available again when the lease expires', async () => {
        const run = await addRun();
        const claimed = await claimOnly(run, 'w1', T0 + 5);
        const leased = {
          status: 'running',
          lease_owner: 'w1',
          lease_expires_at: T0 + 5 + LEASE_MS,
          available_at: T0 + 5 + LEASE_MS,
        };
        expect(claimed).toMatchObject({ ...leased, id: run.id, input: run.input, step_index: 0 });
        expect(await store.getRun(org.id, run.id)).toMatchObject(leased);
      });

      it('does not claim a leased run again until its lease expires, then lets another owner take it', async () => {
        const run = await addRun();
        await claimOnly(run, 'w1', T0);
        expect(await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + LEASE_MS - 1)).toEqual([]);
        const taken = await claimOnly(run, 'w2', T0 + LEASE_MS + 1);
        expect(taken).toMatchObject({ lease_owner: 'w2', status: 'running' });
        expect(await store.checkpointRuns([checkpoint(taken, 'w1')])).toEqual([false]);
      });

      it('resumes a running run whose worker died', async () => {
        const run = await addRun({
          status: 'running',
          lease_owner: 'dead',
          lease_expires_at: T0 - 1,
          available_at: T0 - 1,
          step_index: 1,
        });
        expect(await claimOnly(run, 'w2')).toMatchObject({
          status: 'running',
          lease_owner: 'w2',
          step_index: 1,
        });
      });

      it('never claims a finished run', async () => {
        for (const status of ['completed', 'partial_complete', 'failed', 'cancelled'] as const) {
          await addRun({ status, available_at: T0 - 100, finished_at: T0 - 50 });
        }
        expect(await store.claimRunnableRuns('w1', 10, LEASE_MS, T0)).toEqual([]);
      });

      it('never gives the same run to two concurrent claimers', async () => {
        const runs = [];
        for (let i = 0; i < 12; i += 1) runs.push(await addRun({ available_at: T0 + i }));
        const batches = await Promise.all(
          ['w1', 'w2', 'w3', 'w4'].map((owner) => store.claimRunnableRuns(owner, 5, LEASE_MS, T0 + 100)),
        );
        const claimed = batches.flat();
        expect(new Set(ids(claimed)).size).toBe(claimed.length);
        batches.forEach((batch, i) => batch.forEach((run) => expect(run.lease_owner).toBe(`w${i + 1}`)));
        const rest = await store.claimRunnableRuns('w5', 20, LEASE_MS, T0 + 100);
        expect(ids([...claimed, ...rest])).toEqual(ids(runs));
      });
    });

    describe('checkpoints', () => {
      it('writes the progress, the step attempts and the events of a run', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const step = makeStep(run.id);
        const progress = progressOf(run, {
          step_index: 1,
          current_step: 1,
          step_state: { polls: 2 },
          has_failed_steps: true,
          started_at: T0 + 1,
          deadline_at: T0 + 99_000,
          updated_at: T0 + 2,
        });
        const events = [
          makeEvent(run.id, 'run.started', T0 + 1),
          makeEvent(run.id, 'step.completed', T0 + 2, { step_id: 'fetch' }),
        ];
        expect(
          await store.checkpointRuns([{ run_id: run.id, owner: 'w1', progress, steps: [step], events }]),
        ).toEqual([true]);

        expect(await store.getRun(org.id, run.id)).toEqual({ ...run, ...progress });
        expect(await store.listRunSteps(run.id)).toEqual([step]);
        expect((await store.listRunEvents(run.id)).map((e) => e.type)).toEqual([
          'run.created',
          'run.started',
          'step.completed',
        ]);
      });

      it('stores a finished run with its output and error', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const progress = progressOf(run, {
          status: 'failed',
          error: { code: 'HTTP_500', message: 'upstream failed', details: { attempt: 3 } },
          output: { partial: [1, 2] },
          lease_owner: null,
          lease_expires_at: null,
          available_at: null,
          finished_at: T0 + 9,
          updated_at: T0 + 9,
        });
        expect(await store.checkpointRuns([checkpoint(run, 'w1', { progress })])).toEqual([true]);
        expect(await store.getRun(org.id, run.id)).toEqual({ ...run, ...progress });
        expect(await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + LEASE_MS * 10)).toEqual([]);
      });

      it('refuses a checkpoint from a worker that does not hold the lease, writing nothing', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const refused = checkpoint(run, 'w2', {
          progress: progressOf(run, { step_index: 1, updated_at: T0 + 3 }),
          steps: [makeStep(run.id)],
          events: [makeEvent(run.id, 'step.completed')],
        });
        expect(await store.checkpointRuns([refused])).toEqual([false]);
        expect(await store.getRun(org.id, run.id)).toEqual(run);
        expect(await store.listRunSteps(run.id)).toEqual([]);
        expect(await store.listRunEvents(run.id)).toHaveLength(1);
      });

      it('applies each checkpoint of a batch on its own lease', async () => {
        const mine = await claimOnly(await addRun(), 'w1');
        const lost = await claimOnly(await addRun(), 'w2');
        const alsoMine = await claimOnly(await addRun(), 'w1');
        const batch = [mine, lost, alsoMine].map((run) =>
          checkpoint(run, 'w1', {
            progress: progressOf(run, { step_index: 1, updated_at: T0 + 4 }),
            steps: [makeStep(run.id)],
          }),
        );
        expect(await store.checkpointRuns(batch)).toEqual([true, false, true]);
        expect((await store.getRun(org.id, mine.id))?.step_index).toBe(1);
        expect((await store.getRun(org.id, lost.id))?.step_index).toBe(0);
        expect(await store.listRunSteps(lost.id)).toEqual([]);
        expect(await store.listRunSteps(alsoMine.id)).toHaveLength(1);
      });

      it('wakes the parent waiting on the run at progress.updated_at', async () => {
        const child = await claimOnly(await addRun(), 'w1');
        const parent = await waitingParent(child.id);
        const progress = progressOf(child, {
          status: 'completed',
          lease_owner: null,
          lease_expires_at: null,
          available_at: null,
          updated_at: T0 + 7,
        });
        expect(
          await store.checkpointRuns([checkpoint(child, 'w1', { progress, wake_parent_run_id: parent.id })]),
        ).toEqual([true]);
        expect(await store.getRun(org.id, parent.id)).toMatchObject({
          available_at: T0 + 7,
          wait_run_id: null,
        });
        expect(ids(await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + 7))).toEqual([parent.id]);
      });

      it('does not wake a parent waiting on another run', async () => {
        const child = await claimOnly(await addRun(), 'w1');
        const parent = await waitingParent('run_other_child');
        expect(
          await store.checkpointRuns([checkpoint(child, 'w1', { wake_parent_run_id: parent.id })]),
        ).toEqual([true]);
        expect(await store.getRun(org.id, parent.id)).toEqual(parent);
      });

      it('orders the timeline by seq, the order events were written', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const written: RunEventType[] = [
          'run.started',
          'step.started',
          'step.failed',
          'step.retry_scheduled',
        ];
        const events = written.map((type, i) => makeEvent(run.id, type, T0 + 100 - i));
        expect(await store.checkpointRuns([checkpoint(run, 'w1', { events: events.slice(0, 2) })])).toEqual([
          true,
        ]);
        expect(await store.checkpointRuns([checkpoint(run, 'w1', { events: events.slice(2) })])).toEqual([
          true,
        ]);
        const timeline = await store.listRunEvents(run.id);
        expect(timeline.map((e) => e.type)).toEqual(['run.created', ...written]);
        timeline.slice(1).forEach((event, i) => expect(event.seq).toBeGreaterThan(timeline[i]!.seq));
        // The newest by seq, though it carries the earliest `at`.
        expect(await store.lastRunEvent(run.id)).toEqual(timeline.at(-1));
        expect(await store.lastRunEvent('run_missing')).toBeNull();
      });
    });

    describe('step outputs, leases and wake-up times', () => {
      it('loads the output of the latest completed attempt of each step, per run', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const steps = [
          makeStep(run.id, { step_id: 'sum', attempt: 2, output: { v: 2 } }),
          makeStep(run.id, { step_id: 'sum', attempt: 1, output: { v: 1 } }),
          makeStep(run.id, {
            step_id: 'fetch',
            attempt: 1,
            status: 'failed',
            output: null,
            error: { code: 'E', message: 'x' },
          }),
          makeStep(run.id, { step_id: 'fetch', attempt: 2, output: 'ok' }),
          makeStep(run.id, { step_id: 'fetch', attempt: 3, status: 'failed', output: { ignored: true } }),
          makeStep(run.id, { step_id: 'maybe', status: 'skipped', output: null }),
        ];
        expect(await store.checkpointRuns([checkpoint(run, 'w1', { steps })])).toEqual([true]);
        const fresh = await addRun({ available_at: null });

        const outputs = await store.loadStepOutputs([run.id, fresh.id]);
        expect(outputs.get(run.id)).toEqual({ sum: { v: 2 }, fetch: 'ok' });
        expect(outputs.get(fresh.id) ?? {}).toEqual({});
      });

      it('renews only the leases the owner still holds and reports cancel requests', async () => {
        const kept = await claimOnly(await addRun(), 'w1');
        const cancelling = await claimOnly(await addRun(), 'w1');
        const lost = await claimOnly(await addRun(), 'w2');
        await store.cancelRun(org.id, cancelling.id, T0 + 1, {
          cancelled: makeEvent(cancelling.id, 'run.cancelled'),
          requested: makeEvent(cancelling.id, 'run.cancel_requested'),
        });

        const now = T0 + LEASE_MS / 2;
        const renewed = await store.renewLeases('w1', [kept.id, cancelling.id, lost.id], LEASE_MS, now);
        expect(byId(renewed)).toEqual(
          byId([
            { id: kept.id, cancel_requested: false },
            { id: cancelling.id, cancel_requested: true },
          ]),
        );
        expect(await store.getRun(org.id, kept.id)).toMatchObject({
          lease_owner: 'w1',
          lease_expires_at: now + LEASE_MS,
        });
        expect(await store.claimRunnableRuns('w3', 10, LEASE_MS, T0 + LEASE_MS + 1)).toMatchObject([
          { id: lost.id },
        ]);
      });

      it('releases leases so another worker can claim the runs at once, progress unchanged', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const moved = progressOf(run, { step_index: 1, current_step: 1, updated_at: T0 + 2 });
        await store.checkpointRuns([checkpoint(run, 'w1', { progress: moved })]);
        await store.releaseLeases('w2', [run.id], T0 + 3);
        expect(await store.getRun(org.id, run.id)).toMatchObject({ lease_owner: 'w1' });

        await store.releaseLeases('w1', [run.id], T0 + 3);
        expect(await store.getRun(org.id, run.id)).toMatchObject({
          status: 'running',
          step_index: 1,
          lease_owner: null,
          available_at: T0 + 3,
        });
        expect(await claimOnly(run, 'w2', T0 + 3)).toMatchObject({ lease_owner: 'w2', step_index: 1 });
      });

      it('tells the earliest future available_at of a runnable run', async () => {
        expect(await store.nextAvailableAt(T0)).toBeNull();
        await addRun({ available_at: T0 - 10 });
        await addRun({ available_at: T0 + 100 });
        await addRun({ available_at: T0 + 50, status: 'running' });
        await addRun({ available_at: T0 + 20, status: 'completed' });
        await addRun({ available_at: null });
        expect(await store.nextAvailableAt(T0)).toBe(T0 + 50);
        expect(await store.nextAvailableAt(T0 + 100)).toBeNull();
      });
    });

    describe('cancelling', () => {
      const cancel = (runId: string, now: Millis, orgId = org.id) =>
        store.cancelRun(orgId, runId, now, {
          cancelled: makeEvent(runId, 'run.cancelled', now, { reason: 'test' }),
          requested: makeEvent(runId, 'run.cancel_requested', now, { reason: 'test' }),
        });

      it('cancels a run no worker holds at once', async () => {
        const run = await addRun();
        const result = await cancel(run.id, T0 + 5);
        const cancelled = {
          status: 'cancelled',
          finished_at: T0 + 5,
          lease_owner: null,
          lease_expires_at: null,
          available_at: null,
        };
        expect(result).toMatchObject({ immediate: true, run: { id: run.id, ...cancelled } });
        expect(await store.getRun(org.id, run.id)).toEqual(result?.run);
        expect((await store.listRunEvents(run.id)).map((e) => e.type)).toEqual([
          'run.created',
          'run.cancelled',
        ]);
        expect(await store.claimRunnableRuns('w1', 10, LEASE_MS, T0 + 10)).toEqual([]);
      });

      it('only requests the cancel of a run under a live lease', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const result = await cancel(run.id, T0 + 5);
        expect(result).toMatchObject({
          immediate: false,
          run: { id: run.id, status: 'running', cancel_requested: true, lease_owner: 'w1' },
        });
        expect(await store.getRun(org.id, run.id)).toMatchObject({
          status: 'running',
          cancel_requested: true,
        });
        expect((await store.listRunEvents(run.id)).map((e) => e.type)).toEqual([
          'run.created',
          'run.cancel_requested',
        ]);
      });

      it('cancels at once a run whose lease expired', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        expect(await cancel(run.id, T0 + LEASE_MS + 1)).toMatchObject({
          immediate: true,
          run: { status: 'cancelled', lease_owner: null },
        });
      });

      it('cancels a run waiting for an event and clears its wait', async () => {
        const run = await addRun({
          status: 'running',
          available_at: null,
          wait_event_type: 'order.paid',
          wait_match: { order: 7 },
        });
        expect(await cancel(run.id, T0 + 5)).toMatchObject({
          immediate: true,
          run: { status: 'cancelled', wait_event_type: null, wait_match: null },
        });
        expect(await store.listRunsWaitingForEvent(org.id, 'order.paid')).toEqual([]);
      });

      it('wakes the parent waiting on the cancelled run', async () => {
        const childId = uid('run');
        const parent = await waitingParent(childId);
        await addRun({ id: childId, parent_run_id: parent.id });
        expect(await cancel(childId, T0 + 8)).toMatchObject({ immediate: true });
        expect(await store.getRun(org.id, parent.id)).toMatchObject({
          available_at: T0 + 8,
          wait_run_id: null,
        });
        expect(ids(await store.claimRunnableRuns('w1', 10, LEASE_MS, T0 + 8))).toEqual([parent.id]);
      });

      it('returns null for a finished, unknown or foreign run', async () => {
        const done = await addRun({ status: 'completed', available_at: null, finished_at: T0 });
        const run = await addRun();
        expect(await cancel(done.id, T0 + 5)).toBeNull();
        expect(await cancel('run_missing', T0 + 5)).toBeNull();
        expect(await cancel(run.id, T0 + 5, otherOrg.id)).toBeNull();
        expect(await store.getRun(org.id, run.id)).toEqual(run);
        expect(await cancel(run.id, T0 + 5)).toMatchObject({ immediate: true });
        expect(await cancel(run.id, T0 + 6)).toBeNull();
      });
    });

    describe('events and waiting runs', () => {
      const waitFor = (eventType: string, overrides: Partial<RunRecord> = {}) =>
        addRun({
          status: 'running',
          available_at: null,
          wait_event_type: eventType,
          wait_match: { order: 7 },
          ...overrides,
        });

      it('stores posted events', async () => {
        const event = {
          id: uid('evt'),
          org_id: org.id,
          type: 'order.paid',
          data: { order: 7 },
          created_at: T0,
        };
        await expect(store.insertEvent(event)).resolves.toBeUndefined();
      });

      it('lists the runs of the org waiting on an event type', async () => {
        const waiting = await waitFor('order.paid');
        await waitFor('order.shipped');
        await addRun();
        const foreign = makeRun(otherOrg.id, workflow.id, {
          status: 'running',
          available_at: null,
          wait_event_type: 'order.paid',
        });
        await store.insertRun({ run: foreign, event: makeEvent(foreign.id, 'run.created') });
        expect(await store.listRunsWaitingForEvent(org.id, 'order.paid')).toEqual([waiting]);
      });

      it('resumes a waiting run once, with the payload, claimable at now', async () => {
        const run = await waitFor('order.paid');
        const woke = makeEvent(run.id, 'run.woke', T0 + 20, { event_type: 'order.paid' });
        expect(await store.resumeWaitingRun(run.id, 'order.shipped', { order: 7 }, T0 + 20, woke)).toBe(
          false,
        );
        expect(
          await store.resumeWaitingRun(run.id, 'order.paid', { order: 7, total: 12.5 }, T0 + 20, woke),
        ).toBe(true);
        expect(await store.resumeWaitingRun(run.id, 'order.paid', { order: 8 }, T0 + 21, woke)).toBe(false);

        const resumed = {
          wait_event_type: null,
          wait_match: null,
          resume_payload: { order: 7, total: 12.5 },
          available_at: T0 + 20,
        };
        expect(await store.getRun(org.id, run.id)).toMatchObject(resumed);
        expect((await store.listRunEvents(run.id)).map((e) => e.type)).toEqual(['run.created', 'run.woke']);
        expect(await store.listRunsWaitingForEvent(org.id, 'order.paid')).toEqual([]);
        expect(ids(await store.claimRunnableRuns('w1', 10, LEASE_MS, T0 + 20))).toEqual([run.id]);
      });
    });

    describe('signals', () => {
      it('signals runsAvailable when a claimable run is inserted', async () => {
        const signals = await recordSignals(store);
        await addRun();
        await signals.until(() => signals.seen.runsAvailable > 0, 'runsAvailable');
        await signals.unsubscribe();
      });

      it('signals cancelRequested with the run id when a held run is asked to cancel', async () => {
        const run = await claimOnly(await addRun({ available_at: T0 }), 'w1');
        const signals = await recordSignals(store);
        await store.cancelRun(org.id, run.id, T0 + 1, {
          cancelled: makeEvent(run.id, 'run.cancelled'),
          requested: makeEvent(run.id, 'run.cancel_requested'),
        });
        await signals.until(() => signals.seen.cancelRequested.includes(run.id), 'cancelRequested');
        await signals.unsubscribe();
      });

      it('signals runsAvailable when a waiting run is resumed', async () => {
        const run = await addRun({ status: 'running', available_at: null, wait_event_type: 'order.paid' });
        const signals = await recordSignals(store);
        await store.resumeWaitingRun(run.id, 'order.paid', {}, T0 + 1, makeEvent(run.id, 'run.woke'));
        await signals.until(() => signals.seen.runsAvailable > 0, 'runsAvailable');
        await signals.unsubscribe();
      });

      it('stops signalling a listener that unsubscribed', async () => {
        const gone = await recordSignals(store);
        const staying = await recordSignals(store);
        await gone.unsubscribe();
        await addRun();
        await staying.until(() => staying.seen.runsAvailable > 0, 'runsAvailable');
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(gone.seen.runsAvailable).toBe(0);
        await staying.unsubscribe();
      });
    });
  });
}
