import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pendingGeneration, type WorkflowGeneration } from '../domain/generation.js';
import type { Millis, Org, WorkflowRecord } from '../domain/model.js';
import { GenerationCapReached } from './generation-store.js';
import type { Store } from './store.js';
import { makeOrg, makeWorkflow, type StoreContractOptions } from './store-fixtures.js';

const T0: Millis = 1_700_000_000_000;
const LEASE = 30_000;

const pending = (): WorkflowGeneration =>
  pendingGeneration('llm', { reason: 'Need “different” approach 🚀', force_different_tools: true }, T0);

/**
 * The behaviour every `GenerationStore` must have: the generating workflows are a leased
 * queue, and nothing but the lease holder writes them.
 *
 * @example
 * runGenerationStoreContract({ name: 'sqlite', createStore: async () => SqliteStore.open({ path: ':memory:' }) });
 */
export function runGenerationStoreContract(options: StoreContractOptions): void {
  describe(`GenerationStore contract: ${options.name}`, () => {
    let store: Store;
    let org: Org;

    beforeEach(async () => {
      store = await options.createStore();
      await store.migrate();
      org = makeOrg();
      await store.createOrg(org);
    });

    afterEach(async () => {
      await store.close();
    });

    const insertGenerating = async (overrides: Partial<WorkflowRecord> = {}): Promise<WorkflowRecord> => {
      const workflow = makeWorkflow(org.id, {
        status: 'generating',
        generation: pending(),
        definition: { steps: [] },
        ...overrides,
      });
      await store.insertWorkflow(workflow);
      return workflow;
    };

    it('stores the generation field exactly, null or not', async () => {
      const plain = makeWorkflow(org.id);
      const generating = await insertGenerating();
      await store.insertWorkflow(plain);
      expect(await store.getWorkflow(org.id, plain.id)).toEqual(plain);
      expect(await store.getWorkflow(org.id, generating.id)).toEqual(generating);
    });

    it('requestGeneration marks a workflow generating once; a second request or another org gets null', async () => {
      const workflow = makeWorkflow(org.id);
      await store.insertWorkflow(workflow);
      const other = makeOrg();
      await store.createOrg(other);
      expect(await store.generations.requestGeneration(other.id, workflow.id, pending(), T0 + 1)).toBeNull();
      const marked = await store.generations.requestGeneration(org.id, workflow.id, pending(), T0 + 1);
      expect(marked).toEqual({
        ...workflow,
        status: 'generating',
        generation: pending(),
        updated_at: T0 + 1,
      });
      expect(await store.generations.requestGeneration(org.id, workflow.id, pending(), T0 + 2)).toBeNull();
      expect(await store.generations.requestGeneration(org.id, 'wf_missing', pending(), T0 + 2)).toBeNull();
    });

    it('claims each generating workflow once, oldest first, and again only after its lease expired', async () => {
      const first = await insertGenerating({ updated_at: T0 });
      const second = await insertGenerating({ updated_at: T0 + 5 });
      await store.insertWorkflow(makeWorkflow(org.id));
      const claimed = await store.generations.claimGenerations('a', 10, LEASE, T0 + 10);
      expect(claimed.map((c) => [c.workflow.id, c.claims])).toEqual([
        [first.id, 1],
        [second.id, 1],
      ]);
      expect(claimed[0]!.workflow).toEqual(first);
      expect(await store.generations.claimGenerations('b', 10, LEASE, T0 + 10 + LEASE - 1)).toEqual([]);
      // The holder died: after its lease, another runner gets it, and the claim is counted.
      const again = await store.generations.claimGenerations('b', 1, LEASE, T0 + 10 + LEASE);
      expect(again.map((c) => [c.workflow.id, c.claims])).toEqual([[first.id, 2]]);
      expect(await store.generations.renewGenerationLease('a', first.id, LEASE, T0 + 10 + LEASE)).toBe(false);
      expect(await store.generations.saveGenerationProgress('a', first.id, pending())).toBe(false);
    });

    it("takes turns between orgs: one org's queue never keeps another org's generation waiting", async () => {
      const elsewhere = makeOrg();
      await store.createOrg(elsewhere);
      const queue = [
        await insertGenerating({ updated_at: T0 }),
        await insertGenerating({ updated_at: T0 + 1 }),
        await insertGenerating({ updated_at: T0 + 2 }),
      ];
      const theirs = [
        await insertGenerating({ org_id: elsewhere.id, updated_at: T0 + 10 }),
        await insertGenerating({ org_id: elsewhere.id, updated_at: T0 + 11 }),
      ];
      const claim = async (limit: number) =>
        (await store.generations.claimGenerations('a', limit, LEASE, T0 + 20))
          .map((c) => c.workflow.id)
          .sort();

      // Equal turns: the older request first.
      expect(await claim(1)).toEqual([queue[0]!.id]);
      // The first org has one running: the other org's turn, though its request is newer.
      expect(await claim(1)).toEqual([theirs[0]!.id]);
      expect(await claim(1)).toEqual([queue[1]!.id]);
      expect(await claim(5)).toEqual([queue[2]!.id, theirs[1]!.id].sort());
    });

    it('renewing keeps a lease; progress is saved only by the holder', async () => {
      const workflow = await insertGenerating();
      await store.generations.claimGenerations('a', 1, LEASE, T0);
      expect(await store.generations.renewGenerationLease('a', workflow.id, LEASE, T0 + LEASE - 1)).toBe(
        true,
      );
      expect(await store.generations.claimGenerations('b', 1, LEASE, T0 + LEASE + 1)).toEqual([]);
      const running: WorkflowGeneration = { ...pending(), state: 'running', started_at: T0 + 1, attempts: 1 };
      expect(await store.generations.saveGenerationProgress('b', workflow.id, running)).toBe(false);
      expect(await store.generations.saveGenerationProgress('a', workflow.id, running)).toBe(true);
      expect((await store.getWorkflow(org.id, workflow.id))?.generation).toEqual(running);
    });

    it('releaseGeneration hands a generation back for the lease holder only, claimable at once, uncounted', async () => {
      const workflow = await insertGenerating();
      await store.generations.claimGenerations('a', 1, LEASE, T0);
      expect(await store.generations.releaseGeneration('b', workflow.id, pending())).toBe(false);
      expect(await store.generations.releaseGeneration('a', workflow.id, pending())).toBe(true);
      expect(await store.generations.releaseGeneration('a', workflow.id, pending())).toBe(false);
      const again = await store.generations.claimGenerations('b', 1, LEASE, T0 + 1);
      expect(again.map((c) => [c.workflow.id, c.claims])).toEqual([[workflow.id, 1]]);
    });

    it('updateWorkflow refuses a generating workflow: only its generation writes it', async () => {
      const workflow = await insertGenerating();
      expect(await store.updateWorkflow({ ...workflow, status: 'active', title: 'Edited' }, 1)).toBe(false);
      expect(await store.getWorkflow(org.id, workflow.id)).toEqual(workflow);
      expect(await store.getWorkflowVersion(workflow.id, 1)).toEqual({ steps: [] });
    });

    it('finishGeneration writes the steps as a new version for the lease holder only, then releases', async () => {
      const workflow = await insertGenerating();
      await store.generations.claimGenerations('a', 1, LEASE, T0);
      const done: WorkflowRecord = {
        ...workflow,
        status: 'active',
        version: 2,
        credit_cost: 7,
        definition: {
          steps: [{ id: 'say', tool: 'log', params: { message: 'hi' }, continue_on_error: false }],
        },
        generation: { ...pending(), state: 'succeeded', attempts: 2, finished_at: T0 + 3 },
        updated_at: T0 + 3,
      };
      expect(await store.generations.finishGeneration('b', done)).toBe(false);
      expect(await store.getWorkflowVersion(workflow.id, 2)).toBeNull();
      expect(await store.generations.finishGeneration('a', done)).toBe(true);
      expect(await store.getWorkflow(org.id, workflow.id)).toEqual(done);
      expect(await store.getWorkflowVersion(workflow.id, 2)).toEqual(done.definition);
      expect(await store.generations.finishGeneration('a', done)).toBe(false);
      expect(await store.generations.claimGenerations('c', 1, LEASE, T0 + 10 * LEASE)).toEqual([]);
      // A new request starts unleased and claimable at once, its claim count from zero.
      await store.generations.requestGeneration(org.id, workflow.id, pending(), T0 + 4);
      const claimed = await store.generations.claimGenerations('c', 1, LEASE, T0 + 4);
      expect(claimed.map((c) => c.claims)).toEqual([1]);
    });

    it('signals generationsAvailable on a workflow created generating, a request and a hand-back', async () => {
      let heard = 0;
      const unsubscribe = await store.listen({
        runsAvailable: () => undefined,
        cancelRequested: () => undefined,
        generationsAvailable: () => (heard += 1),
      });
      const heardOneMore = async (write: () => Promise<unknown>) => {
        const before = heard;
        await write();
        const deadline = Date.now() + 5000;
        while (heard === before) {
          if (Date.now() > deadline) throw new Error('no generationsAvailable signal within 5 s');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      try {
        let workflow = makeWorkflow(org.id);
        await heardOneMore(async () => (workflow = await insertGenerating()));
        await store.generations.claimGenerations('a', 1, LEASE, T0);
        await heardOneMore(() => store.generations.releaseGeneration('a', workflow.id, pending()));
        const plain = makeWorkflow(org.id);
        await store.insertWorkflow(plain);
        await heardOneMore(() => store.generations.requestGeneration(org.id, plain.id, pending(), T0 + 1));
      } finally {
        await unsubscribe();
      }
    });

    it('counts the org against maxGenerating on insert and request, writing nothing past it; other orgs are apart', async () => {
      const first = makeWorkflow(org.id, {
        status: 'generating',
        generation: pending(),
        definition: { steps: [] },
      });
      await store.insertWorkflow(first, 2);
      const idle = makeWorkflow(org.id);
      await store.insertWorkflow(idle);
      expect(await store.generations.requestGeneration(org.id, idle.id, pending(), T0 + 1, 2)).not.toBeNull();

      const third = makeWorkflow(org.id, {
        status: 'generating',
        generation: pending(),
        definition: { steps: [] },
      });
      const refused = await store.insertWorkflow(third, 2).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(GenerationCapReached);
      expect((refused as GenerationCapReached).generating).toBe(2);
      expect(await store.getWorkflow(org.id, third.id)).toBeNull();

      const other = makeWorkflow(org.id);
      await store.insertWorkflow(other);
      await expect(
        store.generations.requestGeneration(org.id, other.id, pending(), T0 + 2, 2),
      ).rejects.toBeInstanceOf(GenerationCapReached);
      expect((await store.getWorkflow(org.id, other.id))?.status).toBe(other.status);
      // Without a cap, or under a higher one, the same org may go on.
      expect(
        await store.generations.requestGeneration(org.id, other.id, pending(), T0 + 3, 3),
      ).not.toBeNull();

      const elsewhere = makeOrg();
      await store.createOrg(elsewhere);
      const theirs = makeWorkflow(elsewhere.id, {
        status: 'generating',
        generation: pending(),
        definition: { steps: [] },
      });
      await store.insertWorkflow(theirs, 1);
      expect((await store.getWorkflow(elsewhere.id, theirs.id))?.status).toBe('generating');

      // A workflow that stopped generating (deleted here) frees its place.
      await store.deleteWorkflow(org.id, first.id, T0 + 4);
      const fourth = makeWorkflow(org.id, {
        status: 'generating',
        generation: pending(),
        definition: { steps: [] },
      });
      await store.insertWorkflow(fourth, 3);
      expect((await store.getWorkflow(org.id, fourth.id))?.status).toBe('generating');
    });

    it('concurrent requests of one org cannot pass maxGenerating together', async () => {
      const idle = Array.from({ length: 4 }, () => makeWorkflow(org.id));
      for (const workflow of idle) await store.insertWorkflow(workflow);
      const fresh = Array.from({ length: 4 }, () =>
        makeWorkflow(org.id, { status: 'generating', generation: pending(), definition: { steps: [] } }),
      );
      const outcomes = await Promise.allSettled([
        ...idle.map((workflow, i) =>
          store.generations.requestGeneration(org.id, workflow.id, pending(), T0 + i, 3),
        ),
        ...fresh.map((workflow) => store.insertWorkflow(workflow, 3)),
      ]);
      const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(refused).toHaveLength(5);
      for (const outcome of refused) expect(outcome.reason).toBeInstanceOf(GenerationCapReached);
      const generating = await Promise.all(
        [...idle, ...fresh].map(async (workflow) => (await store.getWorkflow(org.id, workflow.id))?.status),
      );
      expect(generating.filter((status) => status === 'generating')).toHaveLength(3);
    });

    it('a deleted workflow is neither claimed nor finished', async () => {
      const workflow = await insertGenerating();
      await store.generations.claimGenerations('a', 1, LEASE, T0);
      await store.deleteWorkflow(org.id, workflow.id, T0 + 1);
      expect(await store.generations.finishGeneration('a', { ...workflow, status: 'failed' })).toBe(false);
      expect(await store.generations.claimGenerations('b', 1, LEASE, T0 + 2 * LEASE)).toEqual([]);
    });
  });
}
