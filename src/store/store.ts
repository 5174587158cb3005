import type {
  ApiKeyRecord,
  CreditEntry,
  EventRecord,
  Millis,
  Org,
  RunEventInput,
  RunEventRecord,
  RunProgress,
  RunRecord,
  RunStepRecord,
  Site,
  WorkflowDefinition,
  WorkflowRecord,
} from '../domain/model.js';
import type { RunStatus } from '../domain/run-state.js';
import type { DeliveryStore } from './delivery-store.js';
import type { GenerationStore } from './generation-store.js';
import type { LimitStore } from './limit-store.js';
import type { MarketplaceStore } from './marketplace-store.js';
import type { InstanceStore } from './instance-store.js';
import type { ReportStore } from './report-store.js';
import type { ScheduleStore } from './schedule-store.js';

/**
 * One engine commit for one run: its new progress, the step attempts it finished, its timeline.
 *
 * A checkpoint never writes lease columns except to clear them: `progress.lease_owner`
 * null releases the lease (the run parks until `progress.available_at`, or ends); any other
 * value leaves the lease and `available_at` as the claim and renewals set them.
 */
export interface RunCheckpoint {
  run_id: string;
  org_id: string;
  /**
   * The fencing token of the claim this execution holds: the write lands (returns true)
   * only while the run's `lease_epoch` still equals it and its lease was not cleared.
   */
  lease_epoch: number;
  progress: RunProgress;
  steps: RunStepRecord[];
  events: RunEventInput[];
  /** A parent waiting on this run (sub-workflow) is made claimable at `progress.updated_at`. */
  wake_parent_run_id?: string | null;
  /**
   * For a checkpoint that parks on `wait_event_type`: when the wait began. Events of the
   * org stored since then are matched in the same transaction, so one published while the
   * run was on its way to being parked resumes it instead of being lost.
   */
  wait_began_at?: Millis | null;
}

/** A lease an execution holds: the run and the epoch its claim issued. */
export interface HeldLease {
  id: string;
  lease_epoch: number;
}

export interface NewRun {
  run: RunRecord;
  event: RunEventInput;
  /**
   * Checks made in the transaction that inserts the run, so concurrent starts cannot
   * overshoot them. Absent: none (the fast path). A refusal throws `RunAdmissionRefused`.
   */
  admission?: RunAdmission;
  /**
   * A throttled workflow's start, counted in the insert's transaction once the idempotency
   * and admission checks have passed (a replay or a refused start uses no window). When the
   * window that takes it starts after `run.created_at`, the run is stored available at that
   * start and the first event's data gets `throttled_until` = that start. The window is
   * found from now on the database's clock on PostgreSQL, from `run.created_at` on SQLite.
   * Absent: not throttled.
   */
  throttle?: ThrottleRequest;
  /**
   * A sub-workflow start (`run.parent_run_id` set), checked in the insert's transaction
   * after the idempotency check (a replay finds its run whatever changed since): refused
   * when the workflow is no longer active (deactivated or deleted), when the parent was
   * asked to cancel or has ended, or when the parent already started `max_children` runs.
   */
  child?: ChildRunCheck;
}

/** What `insertRun` checks of a sub-workflow start; see `NewRun.child`. */
export interface ChildRunCheck {
  /** Most runs one run may start. */
  max_children: number;
}

/** One run start to count in the throttle windows of `group`. */
export interface ThrottleRequest {
  /** The counters' key (see `throttleGroup`). */
  group: string;
  /** Most starts per window. */
  limit: number;
  /** The windows' length; they are fixed, aligned to the epoch. */
  period_ms: number;
}

/** What `insertRun` checks and reserves atomically with the insert. */
export interface RunAdmission {
  /** Refuse when the org already has this many pending + running runs; null = no cap. */
  max_concurrent_runs: number | null;
  /**
   * Credits to reserve (`run.credits_reserved` must equal it): refused when the org's
   * balance is lower, else a `reserve` ledger entry of −credits is written. 0 = no ledger.
   */
  credits: number;
}

/** Thrown by `insertRun` when its admission checks fail; nothing was written. */
export class RunAdmissionRefused extends Error {
  constructor(
    readonly reason: 'concurrency' | 'credits' | 'children' | 'workflow_inactive' | 'parent_stopping',
    /**
     * The org's pending + running runs (concurrency), its credit balance (credits), the
     * runs the parent already started (children); 0 otherwise.
     */
    readonly value: number,
  ) {
    super(`run refused: ${reason} (${value})`);
    this.name = 'RunAdmissionRefused';
  }
}

/** The org and site an API key names that do not exist yet: stored with the key or not at all. */
export interface NewTenant {
  org?: Org;
  /** The new org's first credit grant. */
  grant?: CreditEntry;
  /** A new site of the key's org (the new `org`, or one that exists). */
  site?: Site;
}

export interface RunListFilter {
  org_id: string;
  workflow_id?: string;
  status?: RunStatus[];
  /** Runs created at or after this instant. */
  created_after?: Millis;
  /** Runs created before this instant. */
  created_before?: Millis;
  limit: number;
  offset: number;
}

export interface LeaseRenewal {
  id: string;
  cancel_requested: boolean;
}

/**
 * Whose clock decides lease expiry, claims, cancels, wake-ups, throttle windows and
 * schedule slots. `database`: PostgreSQL's `clock_timestamp()`, so processes with skewed
 * clocks still agree (the `now` callers pass is ignored for those decisions). `caller`:
 * the `now` each call passes, for SQLite (one process owns the file) and for tests that
 * move a clock by hand.
 */
export type TimeSource = 'database' | 'caller';

/** Wake-up signals between processes: NOTIFY on PostgreSQL, an in-process emitter on SQLite. */
export interface StoreSignals {
  /** New or newly woken runs may be claimable. */
  runsAvailable(): void;
  /** Somebody asked to cancel this run; the worker holding it should abort it. */
  cancelRequested(runId: string): void;
  /** An API key was revoked; caches of authenticated keys must forget what they hold. */
  keysRevoked?(): void;
  /** A workflow awaits generation (created generating, regenerated, handed back): a runner may claim it. */
  generationsAvailable?(): void;
  /** A run ended with callback URLs: deliveries due now were queued for a dispatcher to send. */
  deliveriesAvailable?(): void;
}

/**
 * Everything Stepwise keeps. SQL lives behind this interface only; `SqliteStore` and
 * `PostgresStore` implement it, and `runStoreContract` holds both to the same behaviour.
 * Methods taking `org_id` never return another org's rows.
 */
export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  readonly timeSource: TimeSource;
  /** The database server's clock now, in epoch ms (the process clock on SQLite). */
  readDatabaseClock(): Promise<Millis>;
  /** Cron and one-off schedules. */
  readonly schedules: ScheduleStore;
  /** Callback deliveries. */
  readonly deliveries: DeliveryStore;
  /** Run aggregates for summaries and reports. */
  readonly reports: ReportStore;
  /** Credit ledger and rate-limit counters. */
  readonly limits: LimitStore;
  /** Assistant instances (document 001). */
  readonly instances: InstanceStore;
  /** Workflows awaiting AI-generated steps, leased to generation runners. */
  readonly generations: GenerationStore;
  /** Marketplace listings: shipped templates and published workflows. */
  readonly marketplace: MarketplaceStore;
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Subscribes to wake-ups; the returned function unsubscribes. */
  listen(signals: StoreSignals): Promise<() => Promise<void>>;

  /** Inserts the org and, in the same transaction, its first credit `grant` when given. */
  createOrg(org: Org, grant?: CreditEntry): Promise<void>;
  getOrg(id: string): Promise<Org | null>;
  getOrgByName(name: string): Promise<Org | null>;
  /** Moves the org to the plan called `plan`. @returns false when there is no such org. */
  setOrgPlan(orgId: string, plan: string): Promise<boolean>;
  createSite(site: Site): Promise<void>;
  getSite(orgId: string, id: string): Promise<Site | null>;
  getSiteByName(orgId: string, name: string): Promise<Site | null>;
  /**
   * Inserts the key and, in the same transaction, the new org (with its grant) and site of
   * `tenant`: when any insert fails (a duplicate key, a name another process took, text the
   * database refuses), none of them is stored.
   */
  createApiKey(key: ApiKeyRecord, tenant?: NewTenant): Promise<void>;
  findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(orgId?: string): Promise<ApiKeyRecord[]>;
  /** @returns false when no such unrevoked key exists. */
  revokeApiKey(id: string, at: Millis): Promise<boolean>;

  /** Inserts or replaces an encrypted secret. */
  putSecret(orgId: string, name: string, ciphertext: string, at: Millis): Promise<void>;
  getSecrets(orgId: string, names: string[]): Promise<{ name: string; ciphertext: string }[]>;
  listSecretNames(orgId: string): Promise<string[]>;
  deleteSecret(orgId: string, name: string): Promise<boolean>;

  /**
   * Inserts the workflow and its version `workflow.version`. Throws `SLUG_TAKEN` (409) on a
   * duplicate slug in the org. A workflow inserted `generating` with `maxGenerating` is
   * counted against it as `generations.requestGeneration` counts (GenerationCapReached).
   */
  insertWorkflow(workflow: WorkflowRecord, maxGenerating?: number | null): Promise<void>;
  /**
   * Replaces the workflow row when its stored version is `expectedVersion`; when
   * `workflow.version` is new, the definition is also stored as that version.
   * @returns false when the stored version differs (a concurrent edit), the workflow is gone,
   *   or it is `generating` (only `generations.finishGeneration` may write it then).
   */
  updateWorkflow(workflow: WorkflowRecord, expectedVersion: number): Promise<boolean>;
  getWorkflow(orgId: string, id: string): Promise<WorkflowRecord | null>;
  getWorkflowBySlug(orgId: string, slug: string): Promise<WorkflowRecord | null>;
  listWorkflows(orgId: string, page: { limit: number; offset: number }): Promise<WorkflowRecord[]>;
  /** The org's active workflows whose trigger is `{ type: 'event', event_type: eventType }`, oldest first. */
  listEventTriggeredWorkflows(orgId: string, eventType: string): Promise<WorkflowRecord[]>;
  getWorkflowVersion(workflowId: string, version: number): Promise<WorkflowDefinition | null>;
  /** Deleted workflows vanish from reads; their runs and versions stay for history. */
  deleteWorkflow(orgId: string, id: string, at: Millis): Promise<boolean>;

  /**
   * Inserts a run and its first event. With an `idempotency_key` already used in the
   * org, nothing is inserted and the existing run is returned with `created: false`.
   * Signals `runsAvailable` when the run is claimable. With `admission`, the concurrency
   * cap and the credit balance are checked and the credits reserved in the same
   * transaction (refusals throw `RunAdmissionRefused`); with `throttle`, the start is then
   * counted in its window, in that transaction too.
   */
  insertRun(newRun: NewRun): Promise<{ run: RunRecord; created: boolean }>;
  getRun(orgId: string | null, id: string): Promise<RunRecord | null>;
  /**
   * The ids of the run's pending and running descendants (children, their children, …,
   * through finished ones too), parents before their children; none of another org.
   */
  listActiveDescendants(orgId: string, runId: string): Promise<string[]>;
  listRuns(filter: RunListFilter): Promise<RunRecord[]>;
  listRunSteps(runId: string): Promise<RunStepRecord[]>;
  listRunEvents(runId: string): Promise<RunEventRecord[]>;
  /** The run's newest event (one index probe, however long the timeline); null for an unknown run. */
  lastRunEvent(runId: string): Promise<RunEventRecord | null>;

  /**
   * Leases up to `limit` runs that are pending or running with `available_at <= now`
   * (never-claimed, woken, or whose lease expired), fairly between orgs: the orgs whose
   * oldest due run waited longest are served, each gives its runs by `priority` (higher
   * first) then oldest `available_at` first, and they are taken turn by turn, one run of
   * each org per turn; so another org's backlog delays a run by one turn, not by its size. A
   * pending run becomes running. Sets `lease_owner`, `lease_expires_at = available_at = now + leaseMs`
   * and bumps `lease_epoch`, which fences every later write of the claim.
   */
  claimRunnableRuns(owner: string, limit: number, leaseMs: number, now: Millis): Promise<RunRecord[]>;
  /** The output of the latest completed attempt (latest iteration) of each step, per run. */
  loadStepOutputs(runIds: string[]): Promise<Map<string, Record<string, unknown>>>;
  /** Extends the leases still held under their epoch; runs missing from the answer were lost. */
  renewLeases(owner: string, leases: HeldLease[], leaseMs: number, now: Millis): Promise<LeaseRenewal[]>;
  /**
   * Applies many checkpoints in one transaction (group commit). `result[i]` is false when
   * checkpoint i lost its lease (another claim bumped the epoch, or the lease was cleared).
   * A checkpoint that parks on an event wait first matches events stored since
   * `wait_began_at`; one that parks on a child run that already ended is made claimable at
   * once; either resumes the run instead of parking it (with a `run.woke` event).
   * A run that becomes final with `credits_reserved > 0` gets its `consume` (completed,
   * partial_complete: amount 0, `credits_consumed` set) or `release` (+reserved) entry here.
   * A checkpoint that parks a run (no lease, not final) whose `cancel_requested` is set
   * makes it available at `updated_at` whatever `available_at` it carries, so a cancel that
   * arrived while the worker was parking it is carried out by the next claim.
   */
  checkpointRuns(checkpoints: RunCheckpoint[]): Promise<boolean[]>;
  /** Hands runs back unchanged but claimable at `now` (graceful shutdown), if still held under their epoch. */
  releaseLeases(leases: HeldLease[], now: Millis): Promise<void>;
  /** The earliest `available_at` after `now` of any runnable run, for a precise wake-up timer. */
  nextAvailableAt(now: Millis): Promise<Millis | null>;

  /**
   * Cancels the run at once when no live lease holds it (pending, waiting, or its worker
   * died): status cancelled, finished, lease cleared, `events` written, a waiting parent woken,
   * reserved credits released.
   * Otherwise sets `cancel_requested` and signals `cancelRequested`.
   * @returns the run after the change, or null when it does not exist or already finished.
   */
  cancelRun(
    orgId: string,
    runId: string,
    now: Millis,
    events: { cancelled: RunEventInput; requested: RunEventInput },
  ): Promise<{ run: RunRecord; immediate: boolean } | null>;

  /**
   * Records an incoming event. Ordered against parking checkpoints of the same org and type
   * (on PostgreSQL by a transaction-scoped advisory lock): a run parking concurrently either
   * sees this event, or is parked before `listRunsWaitingForEvent` is asked.
   */
  insertEvent(event: EventRecord): Promise<void>;
  /** Runs of the org suspended in `wait_for_event` on this event type. */
  listRunsWaitingForEvent(orgId: string, eventType: string): Promise<RunRecord[]>;
  /**
   * Wakes one parked run waiting on `eventType` with `payload`, if it is still waiting on it
   * and no live lease holds it: clears the wait (and an expired lease, fencing its holder),
   * sets `resume_payload` and `available_at = now`, writes `event`. A run a worker holds is
   * left alone: if it parks on the same wait again, its park matches the stored event.
   * @returns false when the run no longer waits (another delivery or its timeout won) or is held.
   */
  resumeWaitingRun(
    runId: string,
    eventType: string,
    payload: unknown,
    now: Millis,
    event: RunEventInput,
  ): Promise<boolean>;
}
