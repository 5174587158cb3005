import { beforeEach, describe, expect, it } from 'vitest';
import type { Org, RunRecord, WorkflowRecord } from '../domain/model.js';
import { RunAdmissionRefused, type Store } from './store.js';
import {
  contractSetup,
  LEASE_MS,
  makeEvent,
  makeRun,
  makeWorkflow,
  type StoreContractOptions,
  T0,
} from './store-fixtures.js';

/**
 * How every `Store` backend shares workers between orgs and bounds fan-out, as a vitest
 * suite: the fair claim (orgs served turn by turn, priority inside an org), the checks of
 * a sub-workflow start (`NewRun.child`) and the walk of a run's descendants.
 */
export function runFairClaimContract(options: StoreContractOptions): void {
  describe(`Store contract (fair claims and fan-out): ${options.name}`, () => {
    const setup = contractSetup(options);
    let store: Store;
    let org: Org;
    let otherOrg: Org;
    let workflow: WorkflowRecord;

    beforeEach(() => {
      ({ store, org, otherOrg, workflow } = setup);
    });

    const insert = async (run: RunRecord) =>
      (await store.insertRun({ run, event: makeEvent(run.id, 'run.created', run.created_at) })).run;

    /** `count` runnable runs of `orgId`, due from `from` on, one ms apart, oldest first. */
    const backlog = async (orgId: string, workflowId: string, count: number, from = T0) => {
      const runs: RunRecord[] = [];
      for (let i = 0; i < count; i += 1) {
        runs.push(await insert(makeRun(orgId, workflowId, { available_at: from + i, created_at: from + i })));
      }
      return runs;
    };

    describe('fair claims', () => {
      it("gives another org's one run a place in a small claim, however many older runs an org has", async () => {
        const otherWorkflow = makeWorkflow(otherOrg.id);
        await store.insertWorkflow(otherWorkflow);
        const older = await backlog(org.id, workflow.id, 30);
        const lone = await insert(makeRun(otherOrg.id, otherWorkflow.id, { available_at: T0 + 100 }));

        const claimed = await store.claimRunnableRuns('w1', 2, LEASE_MS, T0 + 1000);

        expect(claimed.map((run) => run.id).sort()).toEqual([older[0]!.id, lone.id].sort());
        expect(claimed.every((run) => run.status === 'running' && run.lease_owner === 'w1')).toBe(true);
      });

      it('takes the orgs turn by turn and fills the limit from whoever has runs left', async () => {
        const otherWorkflow = makeWorkflow(otherOrg.id);
        await store.insertWorkflow(otherWorkflow);
        const a = await backlog(org.id, workflow.id, 6);
        const b = await backlog(otherOrg.id, otherWorkflow.id, 2, T0 + 50);

        const claimed: RunRecord[] = [];
        for (let round = 0; round < 4 && claimed.length < 8; round += 1) {
          claimed.push(...(await store.claimRunnableRuns('w1', 8 - claimed.length, LEASE_MS, T0 + 1000)));
        }

        // Each turn serves both orgs, so B's two runs are in the first four claimed.
        expect(claimed.slice(0, 4).map((run) => run.id)).toEqual(
          expect.arrayContaining([b[0]!.id, b[1]!.id]),
        );
        expect(claimed.map((run) => run.id).sort()).toEqual([...a, ...b].map((run) => run.id).sort());
      });

      it("claims an org's higher-priority runs first, then its oldest, and never a run not yet due", async () => {
        const low = await insert(makeRun(org.id, workflow.id, { available_at: T0 }));
        const high = await insert(makeRun(org.id, workflow.id, { available_at: T0 + 10, priority: 5 }));
        await insert(makeRun(org.id, workflow.id, { available_at: T0 + 5000, priority: 9 }));

        const first = await store.claimRunnableRuns('w1', 1, LEASE_MS, T0 + 100);
        const second = await store.claimRunnableRuns('w1', 5, LEASE_MS, T0 + 100);

        expect(first.map((run) => run.id)).toEqual([high.id]);
        expect(first[0]).toMatchObject({ priority: 5 });
        expect(second.map((run) => run.id)).toEqual([low.id]);
      });
    });

    describe('sub-workflow starts', () => {
      const child = (parent: RunRecord, overrides: Partial<RunRecord> = {}) =>
        makeRun(org.id, workflow.id, { parent_run_id: parent.id, depth: parent.depth + 1, ...overrides });
      const startChild = (run: RunRecord, maxChildren = 3) =>
        store.insertRun({
          run,
          event: makeEvent(run.id, 'run.created', run.created_at),
          child: { max_children: maxChildren },
        });
      const refusal = async (attempt: Promise<unknown>) => {
        const error = await attempt.then(
          () => null,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(RunAdmissionRefused);
        return error as RunAdmissionRefused;
      };

      it('refuses the start past the runs one run may start, but answers a replay with its run', async () => {
        const parent = await insert(makeRun(org.id, workflow.id, { status: 'running' }));
        const started: RunRecord[] = [];
        for (let i = 0; i < 3; i += 1) {
          started.push((await startChild(child(parent, { idempotency_key: `k${i}` }))).run);
        }

        const refused = await refusal(startChild(child(parent, { idempotency_key: 'k3' })));
        const replay = await startChild(child(parent, { idempotency_key: 'k2' }));

        expect({ reason: refused.reason, value: refused.value }).toEqual({ reason: 'children', value: 3 });
        expect(replay).toMatchObject({ created: false, run: { id: started[2]!.id, depth: 1 } });
        expect((await store.listRuns({ org_id: org.id, limit: 10, offset: 0 })).length).toBe(4);
      });

      it('refuses a child of a deactivated or deleted workflow, and of a parent asked to cancel', async () => {
        const parent = await insert(makeRun(org.id, workflow.id, { status: 'running' }));
        await store.updateWorkflow({ ...workflow, status: 'inactive' }, workflow.version);
        expect((await refusal(startChild(child(parent)))).reason).toBe('workflow_inactive');

        await store.updateWorkflow({ ...workflow, status: 'active' }, workflow.version);
        await store.cancelRun(org.id, parent.id, T0 + 1, {
          cancelled: makeEvent(parent.id, 'run.cancelled', T0 + 1),
          requested: makeEvent(parent.id, 'run.cancel_requested', T0 + 1),
        });
        expect((await refusal(startChild(child(parent)))).reason).toBe('parent_stopping');

        const live = await insert(makeRun(org.id, workflow.id, { status: 'running' }));
        await store.deleteWorkflow(org.id, workflow.id, T0 + 2);
        expect((await refusal(startChild(child(live)))).reason).toBe('workflow_inactive');
        expect((await store.listRuns({ org_id: org.id, limit: 10, offset: 0 })).length).toBe(2);
      });

      it("lists a run's unfinished descendants, parents first, through finished ones, never another org's", async () => {
        const root = await insert(makeRun(org.id, workflow.id, { status: 'running' }));
        const done = await insert(child(root, { status: 'completed', available_at: null, finished_at: T0 }));
        const a = await insert(child(root, { created_at: T0 + 1 }));
        const grandchild = await insert(child(done, { created_at: T0 + 2 }));
        const deeper = await insert(child(a, { created_at: T0 + 3 }));
        await insert(makeRun(org.id, workflow.id));

        const descendants = await store.listActiveDescendants(org.id, root.id);

        expect(descendants.slice(0, 1)).toEqual([a.id]);
        expect(descendants.slice(1).sort()).toEqual([grandchild.id, deeper.id].sort());
        expect(await store.listActiveDescendants(otherOrg.id, root.id)).toEqual([]);
      });
    });
  });
}
