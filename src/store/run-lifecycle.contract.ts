import { beforeEach, describe, expect, it } from 'vitest';
import type { Org, RunEventType } from '../domain/model.js';
import type { Store } from './store.js';
import {
  byId,
  checkpoint,
  contractSetup,
  ids,
  LEASE_MS,
  makeEvent,
  makeStep,
  progressOf,
  type StoreContractOptions,
  T0,
} from './store-fixtures.js';

/**
 * How every `Store` backend moves runs through their lives, as a vitest suite: claiming under a
 * lease, checkpoints, step outputs, lease renewal and release, and wake-up times. Assertions hold
 * to the JSDoc of `Store` only, never to one engine's quirks (error texts, physical row order).
 *
 * @example
 * runRunLifecycleContract({ name: 'sqlite (:memory:)', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runRunLifecycleContract(options: StoreContractOptions): void {
  describe(`Store contract (run lifecycle): ${options.name}`, () => {
    const setup = contractSetup(options);
    const { addRun, claimOnly, waitingParent } = setup;
    let store: Store;
    let org: Org;

    beforeEach(() => {
      ({ store, org } = setup);
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
        const first = await claimOnly(run, 'w1', T0);
        expect(await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + LEASE_MS - 1)).toEqual([]);
        const taken = await claimOnly(run, 'w2', T0 + LEASE_MS + 1);
        expect(taken).toMatchObject({
          lease_owner: 'w2',
          status: 'running',
          lease_epoch: first.lease_epoch + 1,
        });
        expect(await store.checkpointRuns([checkpoint(first)])).toEqual([false]);
        expect(await store.checkpointRuns([checkpoint(taken)])).toEqual([true]);
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
          await store.checkpointRuns([
            {
              run_id: run.id,
              org_id: run.org_id,
              lease_epoch: run.lease_epoch,
              progress,
              steps: [step],
              events,
            },
          ]),
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
        expect(await store.checkpointRuns([checkpoint(run, { progress })])).toEqual([true]);
        expect(await store.getRun(org.id, run.id)).toEqual({ ...run, ...progress });
        expect(await store.claimRunnableRuns('w2', 10, LEASE_MS, T0 + LEASE_MS * 10)).toEqual([]);
      });

      it('refuses a checkpoint from an earlier claim of the run, writing nothing', async () => {
        const run = await claimOnly(await addRun(), 'w1');
        const refused = checkpoint(
          { ...run, lease_epoch: run.lease_epoch - 1 },
          {
            progress: progressOf(run, { step_index: 1, updated_at: T0 + 3 }),
            steps: [makeStep(run.id)],
            events: [makeEvent(run.id, 'step.completed')],
          },
        );
        expect(await store.checkpointRuns([refused])).toEqual([false]);
        expect(await store.getRun(org.id, run.id)).toEqual(run);
        expect(await store.listRunSteps(run.id)).toEqual([]);
        expect(await store.listRunEvents(run.id)).toHaveLength(1);
      });

      it('applies each checkpoint of a batch on its own lease', async () => {
        const mine = await claimOnly(await addRun(), 'w1');
        const claimedAgain = await claimOnly(await addRun(), 'w1');
        const lost = { ...claimedAgain, lease_epoch: claimedAgain.lease_epoch - 1 };
        const alsoMine = await claimOnly(await addRun(), 'w1');
        const batch = [mine, lost, alsoMine].map((run) =>
          checkpoint(run, {
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

      it('stores lone surrogates and NUL, which JSONB refuses, as U+FFFD, with the rest of the batch', async () => {
        const hostile = { body: '\ud800', text: 'a\u0000b', '\udfff': [{ deep: 'x\udc00\u0000' }] };
        const stored = { body: '\ufffd', text: 'a\ufffdb', '\ufffd': [{ deep: 'x\ufffd\ufffd' }] };
        const healthy = await claimOnly(await addRun(), 'w1', T0);
        const run = await claimOnly(await addRun({ input: hostile, available_at: T0 + 1 }), 'w1', T0 + 1);
        const progress = progressOf(run, {
          output: hostile,
          error: { code: 'HTTP_500', message: 'a\u0000', details: hostile },
          step_state: hostile,
          updated_at: T0 + 5,
        });
        const step = makeStep(run.id, {
          input: hostile,
          output: hostile,
          error: { code: 'X', message: '\ud800' },
        });
        const events = [makeEvent(run.id, 'step.completed', T0 + 5, { output: hostile })];
        expect(
          await store.checkpointRuns([
            checkpoint(healthy, { steps: [makeStep(healthy.id)] }),
            checkpoint(run, { progress, steps: [step], events }),
          ]),
        ).toEqual([true, true]);

        expect(await store.getRun(org.id, run.id)).toEqual({
          ...run,
          ...progress,
          input: stored,
          output: stored,
          error: { code: 'HTTP_500', message: 'a\ufffd', details: stored },
          step_state: stored,
        });
        expect(await store.listRunSteps(run.id)).toEqual([
          { ...step, input: stored, output: stored, error: { code: 'X', message: '\ufffd' } },
        ]);
        expect((await store.listRunEvents(run.id)).at(-1)?.data).toEqual({ output: stored });
        expect((await store.loadStepOutputs([run.id])).get(run.id)).toEqual({ fetch: stored });
        expect(await store.listRunSteps(healthy.id)).toHaveLength(1);
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
          await store.checkpointRuns([checkpoint(child, { progress, wake_parent_run_id: parent.id })]),
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
        expect(await store.checkpointRuns([checkpoint(child, { wake_parent_run_id: parent.id })])).toEqual([
          true,
        ]);
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
        expect(await store.checkpointRuns([checkpoint(run, { events: events.slice(0, 2) })])).toEqual([true]);
        expect(await store.checkpointRuns([checkpoint(run, { events: events.slice(2) })])).toEqual([true]);
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
        expect(await store.checkpointRuns([checkpoint(run, { steps })])).toEqual([true]);
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
        const renewed = await store.renewLeases('w1', [kept, cancelling, lost], LEASE_MS, now);
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
        await store.checkpointRuns([checkpoint(run, { progress: moved })]);
        await store.releaseLeases([{ id: run.id, lease_epoch: run.lease_epoch - 1 }], T0 + 3);
        expect(await store.getRun(org.id, run.id)).toMatchObject({ lease_owner: 'w1' });

        await store.releaseLeases([run], T0 + 3);
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
  });
}
