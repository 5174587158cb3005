import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { concurrencyGroup } from '../../src/domain/flow-control.js';
import type { StepDefinitionInput } from '../../src/domain/workflow.js';
import { CONCURRENCY_RECHECK_MS } from '../../src/engine/concurrency-slot.js';
import type { WorkflowInput } from '../../src/domain/workflow-input.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { startHarness, waitFor, waitForRun, type Harness } from '../support/stepwise-harness.js';

const BACKENDS = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres', enabled: Boolean(testDatabaseUrl) },
] as const;

const DELAY_MS = 150;

for (const backend of BACKENDS) {
  describe.skipIf(!backend.enabled)(`per-workflow concurrency and throttle on ${backend.name}`, () => {
    let server: HttpRecorder;
    let database: TestDatabase | null = null;
    let h: Harness;

    beforeAll(async () => {
      server = await startHttpRecorder();
      if (backend.name === 'postgres') database = await createTestDatabase();
    });
    afterAll(async () => {
      await server.close();
      await database?.drop();
    });
    beforeEach(async () => {
      server.reset();
      await database?.reset();
      h = await startHarness({ databaseUrl: database?.url });
    });
    afterEach(async () => {
      vi.restoreAllMocks();
      await h.close();
    });

    const create = (steps: StepDefinitionInput[], extra: Partial<WorkflowInput> = {}) =>
      h.stepwise.workflows.create(h.orgId, {
        title: `wf ${Math.random()}`,
        steps,
        ...extra,
      } as WorkflowInput);

    const eventsOf = async (runId: string, type: string) =>
      (await h.stepwise.store.listRunEvents(runId)).filter((event) => event.type === type);

    it('runs at most `limit` runs per rendered key at once; other keys run in parallel', async () => {
      server.script('/slow', { json: { ok: true }, delayMs: DELAY_MS });
      const workflow = await create(
        [{ id: 'call', tool: 'http', params: { url: `${server.url}/slow?customer={{ input.customer }}` } }],
        { concurrency: { key: '{{ input.customer }}', limit: 1 } },
      );
      const starts = [];
      for (let i = 0; i < 6; i += 1) {
        const customer = i % 2 === 0 ? 'acme' : 'globex';
        starts.push(h.stepwise.runs.start(h.orgId, workflow.id, { input: { customer } }));
      }
      const runs = (await Promise.all(starts)).map(({ run }) => run);
      const finished = await Promise.all(runs.map((run) => waitForRun(h.stepwise, run.id, 15_000)));
      expect(finished.map((run) => run.status)).toEqual(Array(6).fill('completed'));

      const requests = server.requestsTo('/slow');
      expect(requests).toHaveLength(6);
      const byCustomer = new Map<string, number[]>();
      for (const request of requests) {
        const customer = String(request.query.customer);
        byCustomer.set(customer, [...(byCustomer.get(customer) ?? []), request.received_at]);
      }
      expect([...byCustomer.keys()].sort()).toEqual(['acme', 'globex']);
      for (const times of byCustomer.values()) {
        expect(times).toHaveLength(3);
        times.sort((a, b) => a - b);
        // A customer's next request only comes once the previous one was answered.
        for (let i = 1; i < times.length; i += 1)
          expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(DELAY_MS - 5);
      }
      // The two customers' requests overlap: they ran side by side.
      const acme = byCustomer.get('acme')!;
      const globex = byCustomer.get('globex')!;
      expect(acme.some((a) => globex.some((g) => Math.abs(a - g) < DELAY_MS))).toBe(true);

      // The runs that waited said why, and no slot is left behind.
      const waits = (await Promise.all(runs.map((run) => eventsOf(run.id, 'run.waiting')))).flat();
      expect(waits.length).toBeGreaterThan(0);
      expect(waits[0]!.data).toMatchObject({ reason: 'concurrency' });
      for (const customer of ['acme', 'globex']) {
        const free = await h.stepwise.store.limits.acquireConcurrencySlot(
          concurrencyGroup(workflow.id, customer),
          'run_probe',
          1,
          Date.now() + 1000,
          Date.now(),
        );
        expect(free).toBe(true);
      }
    });

    /**
     * A workflow with one concurrency slot, calling `{{ input.path }}` on the recorder, and
     * a run of it holding the slot for `holdMs` in a call to /hold.
     */
    const holdTheOnlySlot = async (holdMs: number) => {
      server.script('/hold', { json: { ok: true }, delayMs: holdMs });
      const workflow = await create(
        [{ id: 'call', tool: 'http', params: { url: `${server.url}{{ input.path }}` } }],
        { concurrency: { limit: 1 } },
      );
      const { run: holder } = await h.stepwise.runs.start(h.orgId, workflow.id, { input: { path: '/hold' } });
      await waitFor(() => server.requestsTo('/hold').length === 1, 5_000, 'the holder to take the slot');
      return { workflow, holder };
    };

    it('shows a wait for a slot once on the timeline however many re-checks it takes, then its end', async () => {
      const { workflow, holder } = await holdTheOnlySlot(6 * CONCURRENCY_RECHECK_MS);
      const acquire = vi.spyOn(h.stepwise.store.limits, 'acquireConcurrencySlot');
      const { run: waiter } = await h.stepwise.runs.start(h.orgId, workflow.id, {
        input: { path: '/quick' },
      });
      expect((await waitForRun(h.stepwise, waiter.id, 15_000)).status).toBe('completed');
      expect((await waitForRun(h.stepwise, holder.id)).status).toBe('completed');

      // It was refused again and again before it got the slot...
      const waiterAttempts = acquire.mock.calls.filter(([, runId]) => runId === waiter.id);
      expect(waiterAttempts.length).toBeGreaterThanOrEqual(4);
      // ...yet its timeline, as GET /v1/runs/:id shows it, says so once, and when the wait ended.
      const { events } = await h.stepwise.runs.detail(h.orgId, waiter.id);
      expect(events.map((event) => event.type)).toEqual([
        'run.created',
        'run.waiting',
        'run.woke',
        'run.started',
        'step.started',
        'step.completed',
        'run.completed',
      ]);
      const group = concurrencyGroup(workflow.id, '');
      const [waiting, woke] = [events[1]!, events[2]!];
      expect(waiting.data).toEqual({ reason: 'concurrency', group });
      expect(woke.data).toEqual({ reason: 'concurrency', group, waited_ms: woke.at - waiting.at });
      expect(woke.at - waiting.at).toBeGreaterThanOrEqual(3 * CONCURRENCY_RECHECK_MS);
      expect(await eventsOf(holder.id, 'run.waiting')).toEqual([]);
      expect(await eventsOf(holder.id, 'run.woke')).toEqual([]);
    });

    it('cancels a run waiting for a slot without running its step; the holder goes on', async () => {
      const { workflow, holder } = await holdTheOnlySlot(8 * CONCURRENCY_RECHECK_MS);
      const { run: waiter } = await h.stepwise.runs.start(h.orgId, workflow.id, {
        input: { path: '/never' },
      });
      await waitFor(
        async () => (await eventsOf(waiter.id, 'run.waiting')).length === 1,
        5_000,
        'the second run to wait for the slot',
      );
      await h.stepwise.runs.cancel(h.orgId, waiter.id);
      const cancelled = await waitForRun(h.stepwise, waiter.id, 5_000);
      expect(cancelled.status).toBe('cancelled');
      // It ended while the holder still held the slot: the cancel did not wait for one.
      expect((await h.stepwise.runs.get(h.orgId, holder.id)).status).toBe('running');
      expect((await waitForRun(h.stepwise, holder.id, 15_000)).status).toBe('completed');
      expect(server.requestsTo('/never')).toEqual([]);
      expect(await eventsOf(waiter.id, 'step.started')).toEqual([]);
    });

    it('delays throttled starts into later windows, never drops them', async () => {
      const workflow = await create([{ id: 'note', tool: 'log', params: { message: 'hi' } }], {
        throttle: { limit: 2, period: '1s' },
      });
      const runs = (
        await Promise.all(
          Array.from({ length: 5 }, () => h.stepwise.runs.start(h.orgId, workflow.id, { input: {} })),
        )
      ).map(({ run }) => run);
      expect(runs.filter((run) => (run.available_at ?? 0) > run.created_at).length).toBeGreaterThanOrEqual(3);
      const finished = await Promise.all(runs.map((run) => waitForRun(h.stepwise, run.id, 10_000)));
      expect(finished.map((run) => run.status)).toEqual(Array(5).fill('completed'));

      const firstStepAt = await Promise.all(
        runs.map(async (run) => (await eventsOf(run.id, 'step.started'))[0]!.at),
      );
      // Each start is counted in the window the run was given when it was accepted. A loaded
      // worker may begin a run later than its window opened, so windows are read from the
      // runs' release times, and no run may begin before its own.
      const releasedAt = runs.map((run) => Math.max(run.available_at ?? run.created_at, run.created_at));
      const perWindow = new Map<number, number>();
      for (const at of releasedAt)
        perWindow.set(Math.floor(at / 1000), (perWindow.get(Math.floor(at / 1000)) ?? 0) + 1);
      expect(perWindow.size).toBeGreaterThanOrEqual(2);
      expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(2);
      runs.forEach((_, i) => expect(firstStepAt[i]!).toBeGreaterThanOrEqual(releasedAt[i]!));
      const startedAt = [...firstStepAt].sort((a, b) => a - b);
      expect(startedAt[4]! - startedAt[0]!).toBeGreaterThan(1000 - 100);
    });

    it('throttles per rendered key', async () => {
      const workflow = await create([{ id: 'note', tool: 'log', params: { message: 'hi' } }], {
        throttle: { key: '{{ input.customer }}', limit: 1, period: 60_000 },
      });
      const a = await h.stepwise.runs.start(h.orgId, workflow.id, { input: { customer: 'a' } });
      const b = await h.stepwise.runs.start(h.orgId, workflow.id, { input: { customer: 'b' } });
      const a2 = await h.stepwise.runs.start(h.orgId, workflow.id, { input: { customer: 'a' } });
      expect(a.run.available_at).toBe(a.run.created_at);
      expect(b.run.available_at).toBe(b.run.created_at);
      expect(a2.run.available_at).toBe(Math.floor(a2.run.created_at / 60_000) * 60_000 + 60_000);
      await expect(h.stepwise.runs.start(h.orgId, workflow.id, { input: {} })).rejects.toMatchObject({
        status: 400,
      });
    });

    it('frees the slot of a crashed holder once it expires', async () => {
      const { limits } = h.stepwise.store;
      const now = Date.now();
      expect(await limits.acquireConcurrencySlot('concurrency:wf_x:k', 'run_a', 1, now + 1000, now)).toBe(
        true,
      );
      expect(await limits.acquireConcurrencySlot('concurrency:wf_x:k', 'run_a', 1, now + 1000, now)).toBe(
        true,
      );
      expect(await limits.acquireConcurrencySlot('concurrency:wf_x:k', 'run_b', 1, now + 1000, now)).toBe(
        false,
      );
      expect(
        await limits.acquireConcurrencySlot('concurrency:wf_x:k', 'run_b', 1, now + 3000, now + 1000),
      ).toBe(true);
      await limits.renewConcurrencySlots(['run_b'], now + 10_000);
      expect(
        await limits.acquireConcurrencySlot('concurrency:wf_x:k', 'run_c', 1, now + 4000, now + 5000),
      ).toBe(false);
      await limits.releaseConcurrencySlot('concurrency:wf_x:k', 'run_b');
      expect(
        await limits.acquireConcurrencySlot('concurrency:wf_x:k', 'run_c', 1, now + 4000, now + 5000),
      ).toBe(true);
    });

    it('costs a workflow without concurrency or throttle nothing new', async () => {
      const acquire = vi.spyOn(h.stepwise.store.limits, 'acquireConcurrencySlot');
      const insert = vi.spyOn(h.stepwise.store, 'insertRun');
      const workflow = await create([{ id: 'note', tool: 'log', params: { message: 'hi' } }]);
      expect(workflow.definition).not.toHaveProperty('concurrency');
      expect(workflow.definition).not.toHaveProperty('throttle');
      const { run } = await h.stepwise.runs.start(h.orgId, workflow.id, { input: {} });
      expect(run.available_at).toBe(run.created_at);
      expect((await waitForRun(h.stepwise, run.id)).status).toBe('completed');
      expect(await eventsOf(run.id, 'run.waiting')).toEqual([]);
      expect(acquire).not.toHaveBeenCalled();
      expect(insert.mock.calls.map(([newRun]) => newRun.throttle)).toEqual([undefined]);
    });
  });
}
