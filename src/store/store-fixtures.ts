import { afterEach, beforeEach, expect } from 'vitest';
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

/** How a backend's test file plugs into the shared suites. */
export interface StoreContractOptions {
  /** Shown in the suite title, e.g. `sqlite (:memory:)`. */
  name: string;
  /** A store no other test uses; the suite migrates it and closes it after each test. */
  createStore: () => Promise<Store>;
}

/** The clock the fixtures start from. */
export const T0: Millis = 1_700_000_000_000;
/** The lease the suites claim runs for. */
export const LEASE_MS = 30_000;

let counter = 0;
/** Unique across tests, so backends that share one database between tests stay isolated. */
export const uid = (prefix: string): string =>
  `${prefix}_${++counter}_${Math.random().toString(36).slice(2, 10)}`;

/** An org with a unique id and name. */
export const makeOrg = (overrides: Partial<Org> = {}): Org => ({
  id: uid('org'),
  name: uid('acme'),
  plan: 'free',
  credits_period: null,
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
  iteration: 1,
  step_passes: {},
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
  lease_epoch: 0,
  priority: 0,
  depth: 0,
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
  iteration: 1,
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
  const { started_at, finished_at, deadline_at, updated_at, iteration, step_passes } = run;
  return {
    ...{ iteration, step_passes },
    ...{ status, step_index, current_step, attempt, step_state, resume_payload, available_at, lease_owner },
    ...{ lease_expires_at, wait_event_type, wait_match, wait_run_id, has_failed_steps, output, error },
    ...{ started_at, finished_at, deadline_at, updated_at },
    ...changes,
  };
}

/** Counts the signals a store delivers and waits for them. */
export async function recordSignals(store: Store) {
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

/** `rows` sorted by id, to compare without relying on physical row order. */
export const byId = <T extends { id: string }>(rows: T[]): T[] =>
  [...rows].sort((a, b) => a.id.localeCompare(b.id));
/** The sorted ids of `rows`. */
export const ids = (rows: { id: string }[]): string[] => rows.map((row) => row.id).sort();

/** A checkpoint of `run` under the lease it was claimed with that changes nothing but updated_at, with changes. */
export const checkpoint = (run: RunRecord, changes: Partial<RunCheckpoint> = {}): RunCheckpoint => ({
  run_id: run.id,
  org_id: run.org_id,
  lease_epoch: run.lease_epoch,
  progress: progressOf(run, { updated_at: T0 + 10 }),
  steps: [],
  events: [],
  ...changes,
});

/** What each test of a contract suite starts from; read the fields inside hooks and tests only. */
export interface ContractSetup {
  /** A migrated store, closed after the test. */
  readonly store: Store;
  /** The org the tests work in. */
  readonly org: Org;
  /** A second org, to check that nothing leaks between orgs. */
  readonly otherOrg: Org;
  /** A workflow of `org`. */
  readonly workflow: WorkflowRecord;
  /** Inserts a run of `workflow` in `org` with its `run.created` event; returns it as stored. */
  addRun: (overrides?: Partial<RunRecord>) => Promise<RunRecord>;
  /** Claims exactly `run` for `owner` (it must be the only runnable run at `now`). */
  claimOnly: (run: RunRecord, owner: string, now?: Millis) => Promise<RunRecord>;
  /** Inserts a running run of `org` waiting on the child run `childId`. */
  waitingParent: (childId?: string | null) => Promise<RunRecord>;
}

/**
 * Registers, in the calling `describe`, the hooks that give each test a fresh migrated store
 * holding two orgs and one workflow, and closes the store after the test.
 */
export function contractSetup(options: StoreContractOptions): ContractSetup {
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

  const claimOnly = async (run: RunRecord, owner: string, now: Millis = T0): Promise<RunRecord> => {
    const claimed = await store.claimRunnableRuns(owner, 10, LEASE_MS, now);
    expect(ids(claimed)).toEqual([run.id]);
    return claimed[0]!;
  };

  const waitingParent = (childId: string | null = null): Promise<RunRecord> =>
    addRun({ status: 'running', available_at: null, wait_run_id: childId, started_at: T0 });

  return {
    get store() {
      return store;
    },
    get org() {
      return org;
    },
    get otherOrg() {
      return otherOrg;
    },
    get workflow() {
      return workflow;
    },
    addRun,
    claimOnly,
    waitingParent,
  };
}
