import { beforeEach, describe, expect, it } from 'vitest';
import type { Millis, Org, RunRecord, WorkflowRecord } from '../domain/model.js';
import type { RunStatusCounts } from './report-store.js';
import type { Store } from './store.js';
import {
  makeEvent,
  contractSetup,
  makeRun,
  makeWorkflow,
  progressOf,
  type StoreContractOptions,
} from './store-fixtures.js';

/** 2024-01-01T00:00:00Z, a Monday: hour, day and week boundaries all fall on it. */
const H0: Millis = Date.UTC(2024, 0, 1);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** 1970-01-05T00:00:00Z, the first Monday after the epoch. */
const MONDAY_ORIGIN: Millis = 4 * DAY;

const counts = (partial: Partial<RunStatusCounts> = {}): RunStatusCounts => ({
  pending: 0,
  running: 0,
  completed: 0,
  partial_complete: 0,
  failed: 0,
  cancelled: 0,
  ...partial,
});

/** A finished run that ran `durationMs`, created at `createdAt` and started a second later. */
const finished = (
  status: RunRecord['status'],
  createdAt: Millis,
  durationMs: number,
  overrides: Partial<RunRecord> = {},
): Partial<RunRecord> => ({
  status,
  available_at: null,
  created_at: createdAt,
  started_at: createdAt + 1000,
  finished_at: createdAt + 1000 + durationMs,
  updated_at: createdAt + 1000 + durationMs,
  ...overrides,
});

/**
 * The behaviour every `ReportStore` must have, with runs written through `Store` so the
 * figures are known. Both backends must give the same numbers, percentiles included.
 *
 * @example
 * runReportStoreContract({ name: 'sqlite', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runReportStoreContract(options: StoreContractOptions): void {
  describe(`ReportStore contract: ${options.name}`, () => {
    const setup = contractSetup(options);
    let store: Store;
    let org: Org;
    let otherOrg: Org;
    let workflow: WorkflowRecord;
    let sibling: WorkflowRecord;

    beforeEach(async () => {
      ({ store, org, otherOrg, workflow } = setup);
      sibling = makeWorkflow(org.id);
      await store.insertWorkflow(sibling);
    });

    const addRun = async (
      overrides: Partial<RunRecord> = {},
      owner: { orgId: string; workflowId: string } = { orgId: org.id, workflowId: workflow.id },
    ): Promise<RunRecord> => {
      const run = makeRun(owner.orgId, owner.workflowId, overrides);
      return (await store.insertRun({ run, event: makeEvent(run.id, 'run.created', run.created_at) })).run;
    };

    /** Runs that must never be counted: another workflow's, and another org's under the same workflow id. */
    const addForeignRuns = async (): Promise<void> => {
      for (const owner of [
        { orgId: org.id, workflowId: sibling.id },
        { orgId: otherOrg.id, workflowId: workflow.id },
      ]) {
        await addRun(finished('failed', H0 + 5 * MINUTE, 7, { credits_consumed: 1000 }), owner);
        await addRun(finished('completed', H0 + 6 * MINUTE, 100_000, { credits_consumed: 1000 }), owner);
      }
    };

    describe('summarizeRuns', () => {
      it('gives zeros, no durations and no last run for a workflow without runs', async () => {
        await addForeignRuns();
        expect(await store.reports.summarizeRuns(org.id, workflow.id)).toEqual({
          total: 0,
          counts: counts(),
          duration_ms: null,
          credits_consumed: 0,
          last_run: null,
        });
      });

      it('counts runs per status, sums credits and finds the last run', async () => {
        await addForeignRuns();
        await addRun({ status: 'pending', created_at: H0 + 1 });
        await addRun({ status: 'running', available_at: H0 + 2, started_at: H0 + 2, created_at: H0 + 2 });
        await addRun(finished('completed', H0 + 3, 10, { credits_consumed: 3 }));
        await addRun(finished('partial_complete', H0 + 4, 20, { credits_consumed: 4 }));
        await addRun(finished('failed', H0 + 5, 30));
        // Cancelled before it started: counted, but it has no duration.
        const last = await addRun({
          status: 'cancelled',
          available_at: null,
          created_at: H0 + 6,
          finished_at: H0 + 9,
        });

        const summary = await store.reports.summarizeRuns(org.id, workflow.id);
        expect(summary).toEqual({
          total: 6,
          counts: counts({
            pending: 1,
            running: 1,
            completed: 1,
            partial_complete: 1,
            failed: 1,
            cancelled: 1,
          }),
          duration_ms: { p50: 20, p95: 29 },
          credits_consumed: 7,
          last_run: { id: last.id, status: 'cancelled', created_at: H0 + 6, finished_at: H0 + 9 },
        });
      });

      it('interpolates percentiles as percentile_cont: durations 1..100 give p50 50.5 and p95 95.05', async () => {
        // Inserted out of order, so only the database's sort can put them in order.
        const durations = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
        for (const [i, ms] of durations.entries()) await addRun(finished('completed', H0 + i * MINUTE, ms));
        const { duration_ms } = await store.reports.summarizeRuns(org.id, workflow.id);
        expect(duration_ms?.p50).toBe(50.5);
        expect(duration_ms?.p95).toBeCloseTo(95.05, 9);
      });

      it('gives the single duration as both percentiles, and interpolates between two', async () => {
        await addRun(finished('completed', H0, 40));
        expect((await store.reports.summarizeRuns(org.id, workflow.id)).duration_ms).toEqual({
          p50: 40,
          p95: 40,
        });
        await addRun(finished('failed', H0 + 1, 10));
        expect((await store.reports.summarizeRuns(org.id, workflow.id)).duration_ms).toEqual({
          p50: 25,
          p95: 38.5,
        });
      });

      it('counts only runs created in [from, to) when given a range', async () => {
        await addRun(finished('completed', H0 - 1, 5));
        await addRun(finished('completed', H0, 10));
        const second = await addRun(finished('failed', H0 + HOUR - 1, 20));
        await addRun(finished('completed', H0 + HOUR, 30));

        const summary = await store.reports.summarizeRuns(org.id, workflow.id, { from: H0, to: H0 + HOUR });
        expect(summary.total).toBe(2);
        expect(summary.counts).toEqual(counts({ completed: 1, failed: 1 }));
        expect(summary.duration_ms).toEqual({ p50: 15, p95: 19.5 });
        expect(summary.last_run?.id).toBe(second.id);
        expect((await store.reports.summarizeRuns(org.id, workflow.id, { to: H0 + 1 })).total).toBe(2);
        expect((await store.reports.summarizeRuns(org.id, workflow.id, { from: H0 + HOUR })).total).toBe(1);
      });

      it('counts a run the engine finished through a checkpoint', async () => {
        const run = await addRun({ created_at: H0, available_at: H0 });
        const [claimed] = await store.claimRunnableRuns('w1', 10, 30_000, H0 + 100);
        const progress = progressOf(claimed!, {
          status: 'completed',
          started_at: H0 + 100,
          finished_at: H0 + 350,
          lease_owner: null,
          lease_expires_at: null,
          available_at: null,
          updated_at: H0 + 350,
        });
        expect(
          await store.checkpointRuns([
            {
              run_id: run.id,
              org_id: run.org_id,
              lease_epoch: claimed!.lease_epoch,
              progress,
              steps: [],
              events: [],
            },
          ]),
        ).toEqual([true]);

        const summary = await store.reports.summarizeRuns(org.id, workflow.id);
        expect(summary.counts).toEqual(counts({ completed: 1 }));
        expect(summary.duration_ms).toEqual({ p50: 250, p95: 250 });
        expect(summary.last_run).toEqual({
          id: run.id,
          status: 'completed',
          created_at: H0,
          finished_at: H0 + 350,
        });
      });
    });

    describe('runTimeline', () => {
      it('counts runs per status in epoch-aligned buckets, returning only buckets with runs', async () => {
        await addForeignRuns();
        await addRun(finished('completed', H0 - 1, 1)); // before the range
        await addRun(finished('completed', H0, 1));
        await addRun(finished('failed', H0 + 59 * MINUTE, 1));
        await addRun({ status: 'pending', created_at: H0 + 30 * MINUTE });
        await addRun(finished('cancelled', H0 + 2 * HOUR + 1, 1));
        await addRun(finished('partial_complete', H0 + 3 * HOUR - 1, 1));
        await addRun(finished('completed', H0 + 3 * HOUR, 1)); // at `to`: excluded

        const buckets = await store.reports.runTimeline(org.id, workflow.id, {
          from: H0,
          to: H0 + 3 * HOUR,
          bucketMs: HOUR,
        });
        expect(buckets).toEqual([
          { bucket_start: H0, total: 3, counts: counts({ completed: 1, failed: 1, pending: 1 }) },
          { bucket_start: H0 + 2 * HOUR, total: 2, counts: counts({ cancelled: 1, partial_complete: 1 }) },
        ]);
      });

      it('labels a bucket by its aligned start even when the range starts inside it', async () => {
        await addRun(finished('completed', H0 + 20 * MINUTE, 1));
        await addRun(finished('completed', H0 + 40 * MINUTE, 1));
        const buckets = await store.reports.runTimeline(org.id, workflow.id, {
          from: H0 + 30 * MINUTE,
          to: H0 + HOUR,
          bucketMs: 15 * MINUTE,
        });
        expect(buckets).toEqual([
          { bucket_start: H0 + 30 * MINUTE, total: 1, counts: counts({ completed: 1 }) },
        ]);
      });

      it('aligns buckets on the origin when one is given (weeks from Monday)', async () => {
        // Wednesday 2024-01-03 and Sunday 2024-01-07 share the week of Monday 2024-01-01.
        await addRun(finished('completed', H0 + 2 * DAY, 1));
        await addRun(finished('failed', H0 + 6 * DAY + 23 * HOUR, 1));
        await addRun(finished('failed', H0 + 7 * DAY, 1));
        const query = { from: H0 - 7 * DAY, to: H0 + 14 * DAY, bucketMs: 7 * DAY };

        expect(
          await store.reports.runTimeline(org.id, workflow.id, { ...query, originMs: MONDAY_ORIGIN }),
        ).toEqual([
          { bucket_start: H0, total: 2, counts: counts({ completed: 1, failed: 1 }) },
          { bucket_start: H0 + 7 * DAY, total: 1, counts: counts({ failed: 1 }) },
        ]);
        // From the epoch (a Thursday), the same runs fall into Thursday-to-Wednesday weeks.
        const fromEpoch = await store.reports.runTimeline(org.id, workflow.id, query);
        expect(fromEpoch.map((bucket) => [new Date(bucket.bucket_start).getUTCDay(), bucket.total])).toEqual([
          [4, 1],
          [4, 2],
        ]);
      });
    });

    describe('org-wide (workflowId null)', () => {
      /**
       * Runs of both of the org's workflows, and later, longer, costlier runs of another org
       * (one under the same workflow id), which a wrong filter would count or pick as the last.
       */
      const addOrgRuns = async (): Promise<RunRecord> => {
        const theirs = makeWorkflow(otherOrg.id);
        await store.insertWorkflow(theirs);
        for (const workflowId of [theirs.id, workflow.id]) {
          const owner = { orgId: otherOrg.id, workflowId };
          await addRun(finished('completed', H0 + 3, 100_000, { credits_consumed: 1000 }), owner);
          await addRun(finished('failed', H0 + HOUR + 3, 7, { credits_consumed: 1000 }), owner);
        }
        await addRun(finished('completed', H0 + 1, 10, { credits_consumed: 3 }));
        await addRun(finished('failed', H0 + 2, 30));
        const inSibling = { orgId: org.id, workflowId: sibling.id };
        await addRun(finished('partial_complete', H0 + HOUR + 1, 20, { credits_consumed: 4 }), inSibling);
        return addRun({ status: 'pending', created_at: H0 + HOUR + 2 }, inSibling);
      };

      it("gives zeros for an org whose only runs are another org's", async () => {
        await addRun(finished('completed', H0, 5), { orgId: otherOrg.id, workflowId: workflow.id });
        expect(await store.reports.summarizeRuns(org.id, null)).toEqual({
          total: 0,
          counts: counts(),
          duration_ms: null,
          credits_consumed: 0,
          last_run: null,
        });
        expect(
          await store.reports.runTimeline(org.id, null, { from: H0, to: H0 + HOUR, bucketMs: HOUR }),
        ).toEqual([]);
      });

      it("summarizes the runs of every workflow of the org, and none of another org's", async () => {
        const last = await addOrgRuns();
        expect(await store.reports.summarizeRuns(org.id, null)).toEqual({
          total: 4,
          counts: counts({ pending: 1, completed: 1, partial_complete: 1, failed: 1 }),
          duration_ms: { p50: 20, p95: 29 },
          credits_consumed: 7,
          last_run: { id: last.id, status: 'pending', created_at: H0 + HOUR + 2, finished_at: null },
        });
        const theirs = await store.reports.summarizeRuns(otherOrg.id, null);
        expect(theirs).toMatchObject({ total: 4, credits_consumed: 4000 });
        expect(theirs.counts).toEqual(counts({ completed: 2, failed: 2 }));
      });

      it('counts only runs created in [from, to) when given a range', async () => {
        const last = await addOrgRuns();
        const later = await store.reports.summarizeRuns(org.id, null, { from: H0 + HOUR });
        expect(later).toMatchObject({
          total: 2,
          counts: counts({ pending: 1, partial_complete: 1 }),
          duration_ms: { p50: 20, p95: 20 },
          credits_consumed: 4,
        });
        expect(later.last_run?.id).toBe(last.id);
        const earlier = await store.reports.summarizeRuns(org.id, null, { from: H0, to: H0 + HOUR });
        expect(earlier).toMatchObject({
          total: 2,
          counts: counts({ completed: 1, failed: 1 }),
          duration_ms: { p50: 20, p95: 29 },
          credits_consumed: 3,
        });
        expect(earlier.last_run).toMatchObject({ status: 'failed', created_at: H0 + 2 });
      });

      it("buckets the runs of every workflow of the org, and none of another org's", async () => {
        await addOrgRuns();
        expect(
          await store.reports.runTimeline(org.id, null, { from: H0, to: H0 + 2 * HOUR, bucketMs: HOUR }),
        ).toEqual([
          { bucket_start: H0, total: 2, counts: counts({ completed: 1, failed: 1 }) },
          { bucket_start: H0 + HOUR, total: 2, counts: counts({ partial_complete: 1, pending: 1 }) },
        ]);
        // The per-workflow timeline still sees only its own workflow's runs.
        expect(
          await store.reports.runTimeline(org.id, sibling.id, {
            from: H0,
            to: H0 + 2 * HOUR,
            bucketMs: HOUR,
          }),
        ).toEqual([
          { bucket_start: H0 + HOUR, total: 2, counts: counts({ partial_complete: 1, pending: 1 }) },
        ]);
      });
    });

    describe('recentFailures', () => {
      it('lists failed runs only, newest first, up to the limit, with their error', async () => {
        await addForeignRuns();
        const error = { code: 'HTTP_500', message: 'upstream <b>failed</b>', details: { attempt: 3 } };
        const old = await addRun(finished('failed', H0, 5, { error }));
        await addRun(finished('cancelled', H0 + 1, 5));
        await addRun(finished('partial_complete', H0 + 2, 5));
        const newer = await addRun(finished('failed', H0 + 3, 5, { error: null }));
        const newest = await addRun(finished('failed', H0 + 4, 5, { error }));

        expect(await store.reports.recentFailures(org.id, workflow.id, 2)).toEqual([
          { id: newest.id, status: 'failed', error, created_at: H0 + 4, finished_at: H0 + 1009 },
          { id: newer.id, status: 'failed', error: null, created_at: H0 + 3, finished_at: H0 + 1008 },
        ]);
        expect((await store.reports.recentFailures(org.id, workflow.id, 10)).map((run) => run.id)).toEqual([
          newest.id,
          newer.id,
          old.id,
        ]);
        expect(await store.reports.recentFailures(org.id, 'wf_missing', 10)).toEqual([]);
      });
    });

    describe('tenant isolation', () => {
      it("never counts another org's runs, even under the same workflow id", async () => {
        await addForeignRuns();
        const mine = await addRun(finished('completed', H0 + MINUTE, 50, { credits_consumed: 2 }));

        const summary = await store.reports.summarizeRuns(org.id, workflow.id);
        expect(summary).toMatchObject({ total: 1, credits_consumed: 2, duration_ms: { p50: 50, p95: 50 } });
        expect(summary.last_run?.id).toBe(mine.id);
        const foreign = await store.reports.summarizeRuns(otherOrg.id, workflow.id);
        expect(foreign).toMatchObject({ total: 2, credits_consumed: 2000 });
        expect(foreign.counts).toEqual(counts({ completed: 1, failed: 1 }));
        expect(
          await store.reports.runTimeline(org.id, workflow.id, { from: H0, to: H0 + HOUR, bucketMs: HOUR }),
        ).toEqual([{ bucket_start: H0, total: 1, counts: counts({ completed: 1 }) }]);
        expect(await store.reports.recentFailures(org.id, workflow.id, 10)).toEqual([]);
      });
    });
  });
}
