import { beforeEach, describe, expect, it } from 'vitest';
import type { Millis, Org, RunRecord, WorkflowRecord } from '../domain/model.js';
import type { Store } from './store.js';
import {
  contractSetup,
  ids,
  checkpoint,
  LEASE_MS,
  makeEvent,
  makeRun,
  progressOf,
  recordSignals,
  type StoreContractOptions,
  T0,
  uid,
} from './store-fixtures.js';

/**
 * How every `Store` backend lets runs be controlled from outside their worker, as a vitest
 * suite: cancelling, waiting for and resuming on events, and the signals it delivers to
 * listeners. Assertions hold to the JSDoc of `Store` only, never to one engine's quirks.
 *
 * @example
 * runRunControlContract({ name: 'sqlite (:memory:)', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runRunControlContract(options: StoreContractOptions): void {
  describe(`Store contract (run control): ${options.name}`, () => {
    const setup = contractSetup(options);
    const { addRun, claimOnly, waitingParent } = setup;
    let store: Store;
    let org: Org;
    let otherOrg: Org;
    let workflow: WorkflowRecord;

    beforeEach(() => {
      ({ store, org, otherOrg, workflow } = setup);
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

      it('makes a run parked after its cancel was requested claimable at once, with the request', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        await cancel(run.id, T0 + 5);
        const parked = progressOf(run, {
          lease_owner: null,
          lease_expires_at: null,
          available_at: T0 + 3_600_000,
          step_state: { wake_at: T0 + 3_600_000 },
          updated_at: T0 + 6,
        });
        expect(await store.checkpointRuns([checkpoint(run, { progress: parked })])).toEqual([true]);
        expect(await store.getRun(org.id, run.id)).toMatchObject({
          status: 'running',
          available_at: T0 + 6,
          cancel_requested: true,
        });
        const [claimed] = await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + 6);
        expect(claimed).toMatchObject({ id: run.id, cancel_requested: true });
      });

      it('keeps the parking time of a run nobody asked to cancel', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const parked = progressOf(run, {
          lease_owner: null,
          lease_expires_at: null,
          available_at: T0 + 3_600_000,
          updated_at: T0 + 6,
        });
        expect(await store.checkpointRuns([checkpoint(run, { progress: parked })])).toEqual([true]);
        expect(await store.getRun(org.id, run.id)).toMatchObject({ available_at: T0 + 3_600_000 });
        expect(await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + 6)).toEqual([]);
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
