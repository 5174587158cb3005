import { beforeEach, describe, expect, it } from 'vitest';
import type { EventRecord, Millis, Org, RunRecord } from '../domain/model.js';
import type { RunCheckpoint, Store } from './store.js';
import {
  checkpoint,
  contractSetup,
  LEASE_MS,
  makeEvent,
  progressOf,
  type StoreContractOptions,
  T0,
  uid,
} from './store-fixtures.js';

/**
 * How every `Store` backend keeps the engine's promises when timing is unlucky: writes
 * fenced by the claim that made them, parking decided with its wake condition, signals to
 * a leased run left to its holder. Each test is a race that once lost a step, an event or
 * a wake-up; written against the JSDoc of `Store`, on every backend.
 */
export function runRunRacesContract(options: StoreContractOptions): void {
  describe(`Store contract (races): ${options.name}`, () => {
    const setup = contractSetup(options);
    const { addRun, claimOnly } = setup;
    let store: Store;
    let org: Org;

    beforeEach(() => {
      ({ store, org } = setup);
    });

    const storeEvent = async (type: string, data: unknown, at: Millis): Promise<EventRecord> => {
      const event: EventRecord = { id: uid('evt'), org_id: org.id, type, data, created_at: at };
      await store.insertEvent(event);
      return event;
    };

    /** A checkpoint of `run` that parks it on a wait for `type` begun at `since`, until `until`. */
    const parkOnEvent = (
      run: RunRecord,
      type: string,
      since: Millis,
      match: Record<string, unknown> = {},
      until: Millis | null = T0 + 60_000,
    ): RunCheckpoint =>
      checkpoint(run, {
        progress: progressOf(run, {
          step_state: { deadline: until, began_at: since },
          wait_event_type: type,
          wait_match: match,
          lease_owner: null,
          lease_expires_at: null,
          available_at: until,
          updated_at: T0 + 20,
        }),
        events: [makeEvent(run.id, 'run.waiting', T0 + 20)],
        wait_began_at: since,
      });

    /** Progress that parks `parent` on its child run `childId`, with the 30 s re-check. */
    const parkedOnChild = (parent: RunRecord, childId: string) =>
      progressOf(parent, {
        step_state: { run_id: childId },
        wait_run_id: childId,
        lease_owner: null,
        lease_expires_at: null,
        available_at: T0 + 30_000,
        updated_at: T0 + 9,
      });

    /** Progress that ends `child` completed at `at`. */
    const completedAt = (child: RunRecord, at: Millis) =>
      progressOf(child, {
        status: 'completed',
        lease_owner: null,
        lease_expires_at: null,
        available_at: null,
        finished_at: at,
        updated_at: at,
      });

    describe('fencing', () => {
      it('refuses the old execution of a run its own worker claimed again after the lease lapsed', async () => {
        const run = await addRun();
        const first = await claimOnly(run, 'w1', T0);
        const again = await claimOnly(run, 'w1', T0 + LEASE_MS + 1);
        expect(again.lease_epoch).toBe(first.lease_epoch + 1);

        const behind = checkpoint(first, {
          progress: progressOf(first, { step_index: 0, updated_at: T0 + 5 }),
        });
        const ahead = checkpoint(again, {
          progress: progressOf(again, { step_index: 2, updated_at: T0 + 6 }),
        });
        expect(await store.checkpointRuns([ahead])).toEqual([true]);
        expect(await store.checkpointRuns([behind])).toEqual([false]);
        expect(await store.getRun(org.id, run.id)).toMatchObject({
          step_index: 2,
          lease_epoch: again.lease_epoch,
        });
        expect(await store.renewLeases('w1', [first], LEASE_MS, T0 + LEASE_MS + 2)).toEqual([]);
      });

      it('never writes the lease back from a checkpoint: a renewal made after it was prepared stands', async () => {
        const run = await claimOnly(await addRun(), 'w1', T0);
        await store.renewLeases('w1', [run], LEASE_MS, T0 + 10_000);
        const stale = progressOf(run, { step_index: 1, updated_at: T0 + 10_001 });
        expect(await store.checkpointRuns([checkpoint(run, { progress: stale })])).toEqual([true]);
        expect(await store.getRun(org.id, run.id)).toMatchObject({
          step_index: 1,
          lease_owner: 'w1',
          lease_expires_at: T0 + 10_000 + LEASE_MS,
          available_at: T0 + 10_000 + LEASE_MS,
        });
        expect(await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + LEASE_MS + 1)).toEqual([]);
      });

      it('refuses any write of an execution after it parked the run, even under the same epoch', async () => {
        const run = await claimOnly(await addRun(), 'w1', T0);
        const parked = progressOf(run, {
          lease_owner: null,
          lease_expires_at: null,
          available_at: T0 + 5000,
          updated_at: T0 + 5,
        });
        expect(await store.checkpointRuns([checkpoint(run, { progress: parked })])).toEqual([true]);
        const late = checkpoint(run, { progress: progressOf(run, { step_index: 1, updated_at: T0 + 6 }) });
        expect(await store.checkpointRuns([late])).toEqual([false]);
        expect(await store.getRun(org.id, run.id)).toMatchObject({ step_index: 0, available_at: T0 + 5000 });
      });
    });

    describe('parking on an event', () => {
      it('resumes at once, with the event, a run whose event was stored after the wait began but before the park', async () => {
        const run = await claimOnly(await addRun(), 'w1', T0);
        const event = await storeEvent('order.paid', { order: 7, total: 12 }, T0 + 15);
        expect(await store.checkpointRuns([parkOnEvent(run, 'order.paid', T0 + 10, { order: 7 })])).toEqual([
          true,
        ]);

        expect(await store.getRun(org.id, run.id)).toMatchObject({
          wait_event_type: null,
          wait_match: null,
          resume_payload: { order: 7, total: 12 },
          lease_owner: null,
          available_at: T0 + 20,
        });
        expect((await store.listRunEvents(run.id)).at(-1)).toMatchObject({
          type: 'run.woke',
          data: { reason: 'event', event_id: event.id, event_type: 'order.paid' },
        });
        expect(await store.listRunsWaitingForEvent(org.id, 'order.paid')).toEqual([]);
        expect((await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + 20)).map((r) => r.id)).toEqual([
          run.id,
        ]);
      });

      it('parks when the stored events are older than the wait, of another type or org, or do not match', async () => {
        const run = await claimOnly(await addRun(), 'w1', T0);
        await storeEvent('order.paid', { order: 7 }, T0 + 5);
        await storeEvent('order.paid', { order: 8 }, T0 + 15);
        await storeEvent('order.shipped', { order: 7 }, T0 + 15);
        await store.insertEvent({
          id: uid('evt'),
          org_id: setup.otherOrg.id,
          type: 'order.paid',
          data: { order: 7 },
          created_at: T0 + 15,
        });
        expect(await store.checkpointRuns([parkOnEvent(run, 'order.paid', T0 + 10, { order: 7 })])).toEqual([
          true,
        ]);

        expect(await store.getRun(org.id, run.id)).toMatchObject({
          wait_event_type: 'order.paid',
          resume_payload: null,
          available_at: T0 + 60_000,
        });
        expect((await store.listRunsWaitingForEvent(org.id, 'order.paid')).map((r) => r.id)).toEqual([
          run.id,
        ]);
      });

      it('delivers each event exactly once when events and parks race, however they interleave', async () => {
        const runs = await Promise.all(Array.from({ length: 12 }, () => addRun()));
        const claimed = await store.claimRunnableRuns('w1', 20, LEASE_MS, T0);
        expect(claimed).toHaveLength(runs.length);
        // What EventService.publish does: store the event, then resume the parked runs it matches.
        const publish = async (run: RunRecord) => {
          const event = await storeEvent('reply', { to: run.id }, T0 + 15);
          for (const waiting of await store.listRunsWaitingForEvent(org.id, 'reply')) {
            if ((waiting.wait_match as { to?: string } | null)?.to !== run.id) continue;
            await store.resumeWaitingRun(waiting.id, 'reply', event.data, T0 + 16, {
              run_id: waiting.id,
              type: 'run.woke',
              data: { reason: 'event', event_id: event.id },
              at: T0 + 16,
            });
          }
        };
        await Promise.all(
          claimed.flatMap((run) => [
            publish(run),
            store.checkpointRuns([parkOnEvent(run, 'reply', T0 + 10, { to: run.id })]),
          ]),
        );

        for (const run of claimed) {
          const stored = (await store.getRun(org.id, run.id))!;
          expect(stored).toMatchObject({ wait_event_type: null, resume_payload: { to: run.id } });
          const woke = (await store.listRunEvents(run.id)).filter((event) => event.type === 'run.woke');
          expect(woke).toHaveLength(1);
        }
      });
    });

    describe('parking on a child run', () => {
      it('makes a parent claimable at once when its child ended before the parent parked', async () => {
        const parent = await claimOnly(await addRun(), 'w1', T0);
        const child = await addRun({ parent_run_id: parent.id });
        const [claimedChild] = await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + 1);
        expect(claimedChild?.id).toBe(child.id);
        const ended = completedAt(claimedChild!, T0 + 5);
        expect(
          await store.checkpointRuns([
            checkpoint(claimedChild!, { progress: ended, wake_parent_run_id: parent.id }),
          ]),
        ).toEqual([true]);

        const parking = parkedOnChild(parent, child.id);
        expect(await store.checkpointRuns([checkpoint(parent, { progress: parking })])).toEqual([true]);
        expect(await store.getRun(org.id, parent.id)).toMatchObject({
          wait_run_id: null,
          available_at: T0 + 9,
        });
      });
    });

    it('resumes a parent that parks in the same group commit as its child ends', async () => {
      const parent = await claimOnly(await addRun(), 'w1', T0);
      const child = await addRun({ parent_run_id: parent.id, available_at: T0 + 1 });
      const [claimedChild] = await store.claimRunnableRuns('w1', 10, LEASE_MS, T0 + 1);
      expect(claimedChild?.id).toBe(child.id);
      const parking = parkedOnChild(parent, child.id);
      const ended = completedAt(claimedChild!, T0 + 9);
      expect(
        await store.checkpointRuns([
          checkpoint(parent, { progress: parking }),
          checkpoint(claimedChild!, { progress: ended, wake_parent_run_id: parent.id }),
        ]),
      ).toEqual([true, true]);
      expect(await store.getRun(org.id, parent.id)).toMatchObject({
        wait_run_id: null,
        available_at: T0 + 9,
      });
    });

    describe('signals to a run a worker holds', () => {
      const wakeEvent = (runId: string) => ({
        run_id: runId,
        type: 'run.woke' as const,
        data: { reason: 'event' },
        at: T0 + 50,
      });

      it('leaves a run whose wait timed out, under a live lease, to its holder', async () => {
        const run = await addRun({ status: 'running', wait_event_type: 'reply', available_at: T0 + 10 });
        const held = await claimOnly(run, 'w1', T0 + 10);
        expect(
          await store.resumeWaitingRun(run.id, 'reply', { late: true }, T0 + 50, wakeEvent(run.id)),
        ).toBe(false);
        expect(await store.getRun(org.id, run.id)).toMatchObject({
          lease_owner: 'w1',
          resume_payload: null,
          available_at: held.available_at,
        });
        expect(await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + 51)).toEqual([]);
      });

      it('clears an expired lease when it resumes the run, so the late holder cannot overwrite it', async () => {
        const run = await addRun({ status: 'running', wait_event_type: 'reply', available_at: T0 + 10 });
        const held = await claimOnly(run, 'w1', T0 + 10);
        const later = T0 + 10 + LEASE_MS + 1;
        expect(await store.resumeWaitingRun(run.id, 'reply', { on: 'time' }, later, wakeEvent(run.id))).toBe(
          true,
        );
        const timedOut = progressOf(held, {
          status: 'completed',
          lease_owner: null,
          available_at: null,
          finished_at: later + 1,
          updated_at: later + 1,
        });
        expect(await store.checkpointRuns([checkpoint(held, { progress: timedOut })])).toEqual([false]);
        expect(await store.getRun(org.id, run.id)).toMatchObject({
          status: 'running',
          resume_payload: { on: 'time' },
          available_at: later,
        });
      });
    });

    it('records one cancel request however many times a held run is cancelled', async () => {
      const run = await claimOnly(await addRun(), 'w1', T0);
      const events = {
        cancelled: makeEvent(run.id, 'run.cancelled', T0 + 1),
        requested: makeEvent(run.id, 'run.cancel_requested', T0 + 1),
      };
      expect(await store.cancelRun(org.id, run.id, T0 + 1, events)).toMatchObject({ immediate: false });
      expect(await store.cancelRun(org.id, run.id, T0 + 2, events)).toMatchObject({ immediate: false });
      const types = (await store.listRunEvents(run.id)).map((event) => event.type);
      expect(types.filter((type) => type === 'run.cancel_requested')).toHaveLength(1);
    });
  });
}
