import { beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryOutcome } from '../domain/delivery.js';
import type { Millis, Org, RunEventType, RunRecord, WorkflowRecord } from '../domain/model.js';
import { isFinalStatus, type RunStatus } from '../domain/run-state.js';
import type { DeliveryAttemptResult } from './delivery-store.js';
import { contractSetup, makeEvent, makeRun, makeWorkflow, progressOf } from './store-fixtures.js';
import type { Store } from './store.js';

/** How a backend's test file plugs into the delivery suite. */
export interface DeliveryStoreContractOptions {
  /** Shown in the suite title. */
  name: string;
  /** A store no other test uses; the suite migrates it and closes it after each test. */
  createStore: () => Promise<Store>;
  /** Set to the reason when the backend's immediate cancel does not queue callbacks yet. */
  skipImmediateCancel?: string;
}

const T0: Millis = 1_700_000_000_000;
const LEASE_MS = 60_000;
const HOOK = 'https://hooks.example.com/stepwise';
const OTHER_HOOK = 'https://other.example.com/done';

/** Polls `condition` until it holds, for signals that arrive on a later turn. */
async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The behaviour every `DeliveryStore` must have, including the outbox rule of the run
 * writes: a run's end and its pending deliveries commit together.
 *
 * @example
 * runDeliveryStoreContract({ name: 'sqlite', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runDeliveryStoreContract(options: DeliveryStoreContractOptions): void {
  describe(`DeliveryStore contract: ${options.name}`, () => {
    const setup = contractSetup(options);
    let store: Store;
    let org: Org;
    let otherOrg: Org;

    beforeEach(() => {
      ({ store, org, otherOrg } = setup);
    });

    const addWorkflow = async (overrides: Partial<WorkflowRecord>): Promise<WorkflowRecord> => {
      const workflow = makeWorkflow(org.id, overrides);
      await store.insertWorkflow(workflow);
      return workflow;
    };

    /** A run of `workflow` taken to `status` by a checkpoint of its lease holder (or of a stale claim); returns whether it applied. */
    const finishRun = async (
      workflow: WorkflowRecord,
      status: RunStatus,
      finishedAt: Millis = T0 + 50,
      leaseHeld = true,
    ): Promise<{ run: RunRecord; applied: boolean }> => {
      const fresh = makeRun(workflow.org_id, workflow.id);
      await store.insertRun({ run: fresh, event: makeEvent(fresh.id, 'run.created') });
      const [claimed] = await store.claimRunnableRuns('worker-a', 1, LEASE_MS, T0);
      const run = claimed!;
      const [applied] = await store.checkpointRuns([
        {
          run_id: run.id,
          org_id: run.org_id,
          lease_epoch: leaseHeld ? run.lease_epoch : run.lease_epoch - 1,
          progress: progressOf(run, {
            status,
            output: status === 'completed' ? { total: 42 } : null,
            error: status === 'failed' ? { code: 'STEP_ERROR', message: 'boom' } : null,
            lease_owner: null,
            lease_expires_at: null,
            available_at: null,
            started_at: T0 + 1,
            finished_at: finishedAt,
            updated_at: finishedAt,
          }),
          steps: [],
          events: isFinalStatus(status)
            ? [makeEvent(run.id, `run.${status}` as RunEventType, finishedAt)]
            : [],
        },
      ]);
      return { run, applied: applied! };
    };

    const attempt = (
      id: string,
      number: number,
      outcome: DeliveryOutcome,
      extra: Partial<DeliveryAttemptResult> = {},
    ): DeliveryAttemptResult => ({
      delivery_id: id,
      owner: 'dispatcher-a',
      attempt: number,
      status_code: 500,
      error: 'the receiver answered HTTP 500',
      duration_ms: 12,
      at: T0 + 100,
      outcome,
      event: null,
      ...extra,
    });

    describe('queued with the run’s end', () => {
      it('queues one pending delivery per distinct callback URL, due when the run finished', async () => {
        const workflow = await addWorkflow({
          callback_url: HOOK,
          metadata: { webhook: { url: OTHER_HOOK } },
        });
        const { run } = await finishRun(workflow, 'completed');
        const deliveries = await store.deliveries.listRunDeliveries(org.id, run.id);
        expect(deliveries.map((d) => d.url).sort()).toEqual([HOOK, OTHER_HOOK].sort());
        for (const delivery of deliveries) {
          expect(delivery).toMatchObject({
            org_id: org.id,
            run_id: run.id,
            event_type: 'run.completed',
            status: 'pending',
            attempts: 0,
            next_attempt_at: T0 + 50,
            last_status_code: null,
            last_error: null,
            created_at: T0 + 50,
            attempt_log: [],
          });
          expect(delivery.id).toMatch(/^dlv_/);
        }
      });

      it('queues one delivery when both fields name the same URL, and none without a URL', async () => {
        const same = await addWorkflow({ callback_url: HOOK, metadata: { webhook: { url: HOOK } } });
        const none = await addWorkflow({ callback_url: null, metadata: { webhook: { url: 42 } } });
        const { run: sameRun } = await finishRun(same, 'failed');
        const { run: noneRun } = await finishRun(none, 'completed');
        const deliveries = await store.deliveries.listRunDeliveries(org.id, sameRun.id);
        expect(deliveries.map((d) => [d.url, d.event_type])).toEqual([[HOOK, 'run.failed']]);
        expect(await store.deliveries.listRunDeliveries(org.id, noneRun.id)).toEqual([]);
      });

      it('queues nothing for a checkpoint that does not end the run or whose lease was lost', async () => {
        const workflow = await addWorkflow({ callback_url: HOOK });
        const { run: lost, applied } = await finishRun(workflow, 'completed', T0 + 50, false);
        expect(applied).toBe(false);
        expect(await store.deliveries.listRunDeliveries(org.id, lost.id)).toEqual([]);

        const { run: ongoing } = await finishRun(workflow, 'running');
        expect(await store.deliveries.listRunDeliveries(org.id, ongoing.id)).toEqual([]);
      });

      it.skipIf(options.skipImmediateCancel !== undefined)(
        `queues run.cancelled when a run no worker holds is cancelled at once${
          options.skipImmediateCancel ? ` (skipped: ${options.skipImmediateCancel})` : ''
        }`,
        async () => {
          const workflow = await addWorkflow({ callback_url: HOOK });
          const run = makeRun(org.id, workflow.id);
          await store.insertRun({ run, event: makeEvent(run.id, 'run.created') });
          const result = await store.cancelRun(org.id, run.id, T0 + 7, {
            cancelled: makeEvent(run.id, 'run.cancelled', T0 + 7),
            requested: makeEvent(run.id, 'run.cancel_requested', T0 + 7),
          });
          expect(result?.immediate).toBe(true);
          const deliveries = await store.deliveries.listRunDeliveries(org.id, run.id);
          expect(deliveries).toMatchObject([{ event_type: 'run.cancelled', next_attempt_at: T0 + 7 }]);
        },
      );

      it('signals deliveriesAvailable after a run’s end queues deliveries, and not without a URL', async () => {
        const none = await addWorkflow({ callback_url: null });
        const hooked = await addWorkflow({ callback_url: HOOK });
        let seen = 0;
        const unsubscribe = await store.listen({
          runsAvailable: () => undefined,
          cancelRequested: () => undefined,
          deliveriesAvailable: () => (seen += 1),
        });
        try {
          await finishRun(none, 'completed');
          // Signals arrive after the commit, on a later turn (NOTIFY on PostgreSQL).
          await new Promise((resolve) => setTimeout(resolve, 100));
          expect(seen).toBe(0);
          await finishRun(hooked, 'failed');
          await waitUntil(() => seen > 0, 'deliveriesAvailable after the checkpoint');

          const before = seen;
          const run = makeRun(org.id, hooked.id);
          await store.insertRun({ run, event: makeEvent(run.id, 'run.created') });
          await store.cancelRun(org.id, run.id, T0 + 7, {
            cancelled: makeEvent(run.id, 'run.cancelled', T0 + 7),
            requested: makeEvent(run.id, 'run.cancel_requested', T0 + 7),
          });
          await waitUntil(() => seen > before, 'deliveriesAvailable after an immediate cancel');
        } finally {
          await unsubscribe();
        }
      });

      it('lists a run’s deliveries to its own org only', async () => {
        const workflow = await addWorkflow({ callback_url: HOOK });
        const { run } = await finishRun(workflow, 'completed');
        expect(await store.deliveries.listRunDeliveries(otherOrg.id, run.id)).toEqual([]);
      });
    });

    describe('claims', () => {
      it('leases due deliveries, oldest first, with the run result, and never twice at once', async () => {
        const workflow = await addWorkflow({ callback_url: HOOK });
        const { run: later } = await finishRun(workflow, 'completed', T0 + 60);
        const { run: earlier } = await finishRun(workflow, 'failed', T0 + 40);
        await finishRun(workflow, 'completed', T0 + 500);

        const claimed = await store.deliveries.claimDueDeliveries('dispatcher-a', 10, LEASE_MS, T0 + 100);
        expect(claimed.map((d) => d.run_id)).toEqual([earlier.id, later.id]);
        expect(claimed[0]).toMatchObject({
          status: 'pending',
          attempts: 0,
          next_attempt_at: T0 + 100 + LEASE_MS,
          run: {
            id: earlier.id,
            workflow_id: workflow.id,
            status: 'failed',
            output: null,
            error: { code: 'STEP_ERROR', message: 'boom' },
            started_at: T0 + 1,
            finished_at: T0 + 40,
          },
        });
        expect(claimed[1]!.run.output).toEqual({ total: 42 });
        expect(await store.deliveries.claimDueDeliveries('dispatcher-b', 10, LEASE_MS, T0 + 100)).toEqual([]);
      });

      it('takes turns between orgs: a backlog, or sends in flight, never keep another org waiting', async () => {
        const flooding = await addWorkflow({ callback_url: HOOK });
        const quiet = makeWorkflow(otherOrg.id, { callback_url: OTHER_HOOK });
        await store.insertWorkflow(quiet);
        const backlog: string[] = [];
        for (let i = 0; i < 5; i++)
          backlog.push((await finishRun(flooding, 'completed', T0 + 10 + i)).run.id);
        const { run: first } = await finishRun(quiet, 'completed', T0 + 60);
        const { run: second } = await finishRun(quiet, 'completed', T0 + 61);
        // Which runs' deliveries a claim leased, in no particular order.
        const claim = async (limit: number) =>
          (await store.deliveries.claimDueDeliveries('dispatcher-a', limit, LEASE_MS, T0 + 100))
            .map((d) => d.run_id)
            .sort();

        // Each org's oldest first, although the whole backlog is older than the other org's.
        expect(await claim(2)).toEqual([backlog[0]!, first.id].sort());
        // Both have one in flight: turns are equal again, and the older goes first.
        expect(await claim(1)).toEqual([backlog[1]]);
        // The backlog has two in flight, the other org one: the other org's turn.
        expect(await claim(1)).toEqual([second.id]);
        expect(await claim(10)).toEqual(backlog.slice(2).sort());
      });

      it('gives concurrent claimers disjoint deliveries', async () => {
        const workflow = await addWorkflow({ callback_url: HOOK });
        for (let i = 0; i < 6; i++) await finishRun(workflow, 'completed', T0 + 10 + i);
        const [a, b] = await Promise.all([
          store.deliveries.claimDueDeliveries('dispatcher-a', 4, LEASE_MS, T0 + 100),
          store.deliveries.claimDueDeliveries('dispatcher-b', 4, LEASE_MS, T0 + 100),
        ]);
        const all = [...a!, ...b!].map((d) => d.id);
        expect(all).toHaveLength(6);
        expect(new Set(all).size).toBe(6);
      });

      it('hands a delivery to another sender once the lease expires, and refuses the old holder’s record', async () => {
        const workflow = await addWorkflow({ callback_url: HOOK });
        await finishRun(workflow, 'completed');
        const [first] = await store.deliveries.claimDueDeliveries('dispatcher-a', 1, LEASE_MS, T0 + 100);
        const [again] = await store.deliveries.claimDueDeliveries(
          'dispatcher-b',
          1,
          LEASE_MS,
          T0 + 100 + LEASE_MS,
        );
        expect(again?.id).toBe(first!.id);
        const delivered: DeliveryOutcome = { status: 'delivered', next_attempt_at: null };
        expect(await store.deliveries.recordDeliveryAttempt(attempt(first!.id, 1, delivered))).toBe(false);
        expect(
          await store.deliveries.recordDeliveryAttempt(
            attempt(first!.id, 1, delivered, { owner: 'dispatcher-b', status_code: 200, error: null }),
          ),
        ).toBe(true);
      });
    });

    describe('next due', () => {
      it('answers the earliest pending next_attempt_at after now: a scheduled retry or a lease expiry', async () => {
        const workflow = await addWorkflow({ callback_url: HOOK });
        expect(await store.deliveries.nextDueAt(T0)).toBeNull();
        await finishRun(workflow, 'completed', T0 + 50);
        await finishRun(workflow, 'completed', T0 + 60);
        expect(await store.deliveries.nextDueAt(T0)).toBe(T0 + 50);
        // Due already is not ahead.
        expect(await store.deliveries.nextDueAt(T0 + 100)).toBeNull();

        const [first, second] = await store.deliveries.claimDueDeliveries(
          'dispatcher-a',
          2,
          LEASE_MS,
          T0 + 100,
        );
        expect(await store.deliveries.nextDueAt(T0 + 100)).toBe(T0 + 100 + LEASE_MS);
        const retry: DeliveryOutcome = { status: 'pending', next_attempt_at: T0 + 5_000 };
        expect(await store.deliveries.recordDeliveryAttempt(attempt(first!.id, 1, retry))).toBe(true);
        expect(await store.deliveries.nextDueAt(T0 + 100)).toBe(T0 + 5_000);
        const delivered: DeliveryOutcome = { status: 'delivered', next_attempt_at: null };
        await store.deliveries.recordDeliveryAttempt(
          attempt(second!.id, 1, delivered, { status_code: 200, error: null }),
        );
        expect(await store.deliveries.nextDueAt(T0 + 5_000)).toBeNull();
      });
    });

    describe('attempts', () => {
      it('records a failed attempt and schedules the next, then closes the delivery with its event', async () => {
        const workflow = await addWorkflow({ callback_url: HOOK });
        const { run } = await finishRun(workflow, 'completed');
        const [claimed] = await store.deliveries.claimDueDeliveries('dispatcher-a', 1, LEASE_MS, T0 + 100);
        const id = claimed!.id;
        const retry: DeliveryOutcome = { status: 'pending', next_attempt_at: T0 + 10_100 };
        expect(await store.deliveries.recordDeliveryAttempt(attempt(id, 1, retry))).toBe(true);
        // The same attempt cannot be recorded twice.
        expect(await store.deliveries.recordDeliveryAttempt(attempt(id, 1, retry))).toBe(false);
        expect(await store.deliveries.claimDueDeliveries('dispatcher-a', 1, LEASE_MS, T0 + 10_099)).toEqual(
          [],
        );

        const [second] = await store.deliveries.claimDueDeliveries('dispatcher-a', 1, LEASE_MS, T0 + 10_100);
        expect(second).toMatchObject({ id, attempts: 1, last_status_code: 500 });
        const event = makeEvent(run.id, 'callback.delivered', T0 + 10_200, {
          delivery_id: id,
          status_code: 204,
        });
        const done = attempt(
          id,
          2,
          { status: 'delivered', next_attempt_at: null },
          { status_code: 204, error: null, at: T0 + 10_200, event },
        );
        expect(await store.deliveries.recordDeliveryAttempt(done)).toBe(true);

        const [delivery] = await store.deliveries.listRunDeliveries(org.id, run.id);
        expect(delivery).toMatchObject({
          status: 'delivered',
          attempts: 2,
          next_attempt_at: null,
          last_status_code: 204,
          last_error: null,
          updated_at: T0 + 10_200,
        });
        expect(delivery!.attempt_log.map((a) => [a.attempt, a.status_code, a.error, a.duration_ms])).toEqual([
          [1, 500, 'the receiver answered HTTP 500', 12],
          [2, 204, null, 12],
        ]);
        expect(
          await store.deliveries.claimDueDeliveries('dispatcher-a', 1, LEASE_MS, T0 + 99_999_999),
        ).toEqual([]);
        const timeline = await store.listRunEvents(run.id);
        expect(timeline.at(-1)).toMatchObject({ type: 'callback.delivered', data: { delivery_id: id } });
      });

      it('closes a delivery as failed, keeping the error', async () => {
        const workflow = await addWorkflow({ callback_url: HOOK });
        const { run } = await finishRun(workflow, 'completed');
        const [claimed] = await store.deliveries.claimDueDeliveries('dispatcher-a', 1, LEASE_MS, T0 + 100);
        const event = makeEvent(run.id, 'callback.failed', T0 + 100, { delivery_id: claimed!.id });
        const refused = attempt(
          claimed!.id,
          1,
          { status: 'failed', next_attempt_at: null },
          { status_code: null, error: 'NETWORK_BLOCKED: refused', event },
        );
        expect(await store.deliveries.recordDeliveryAttempt(refused)).toBe(true);
        const [delivery] = await store.deliveries.listRunDeliveries(org.id, run.id);
        expect(delivery).toMatchObject({ status: 'failed', last_error: 'NETWORK_BLOCKED: refused' });
        expect((await store.listRunEvents(run.id)).at(-1)?.type).toBe('callback.failed');
      });
    });

    describe('signing secrets', () => {
      it('creates once per org, keeps the first of concurrent creations, and replaces on rotation', async () => {
        expect(await store.deliveries.getSigningSecret(org.id)).toBeNull();
        const created = await Promise.all([
          store.deliveries.createSigningSecret(org.id, 'sealed-1', T0),
          store.deliveries.createSigningSecret(org.id, 'sealed-2', T0),
        ]);
        expect(created[0]).toBe(created[1]);
        expect(await store.deliveries.getSigningSecret(org.id)).toBe(created[0]);
        expect(await store.deliveries.createSigningSecret(org.id, 'sealed-3', T0)).toBe(created[0]);
        await store.deliveries.replaceSigningSecret(org.id, 'sealed-4', T0 + 1);
        expect(await store.deliveries.getSigningSecret(org.id)).toBe('sealed-4');
        expect(await store.deliveries.getSigningSecret(otherOrg.id)).toBeNull();
        expect(await store.listSecretNames(otherOrg.id)).toEqual([]);
      });
    });
  });
}
