import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineTemplate } from '../../src/templates/template-steps.js';
import type { Clock } from '../../src/domain/clock.js';
import { pendingGeneration } from '../../src/domain/generation.js';
import type { ChatRequest, ChatResult } from '../../src/ai/llm-client.js';
import { LlmStepGenerator } from '../../src/ai/workflow-generator.js';
import { GenerationRunner } from '../../src/engine/generation-runner.js';
import { WorkflowService } from '../../src/services/workflow-service.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { makeOrg } from '../../src/store/store-fixtures.js';
import { createDefaultToolRegistry } from '../../src/tools/registry.js';
import { waitFor } from '../support/stepwise-harness.js';

// The runner over a real store with a hand-moved clock: a dead runner's generation comes back
// after its lease, a generation that keeps killing its runners ends failed, and two runners
// sharing a store save each generation once.

const LEASE = 1000;
const T0 = 1_700_000_000_000;

const catalogue = [
  defineTemplate({
    slug: 'sayHello',
    title: 'Say hello',
    description: 'Logs a greeting',
    category: 'demo',
    keywords: ['hello', 'greeting'],
    inputs: {},
    credit_cost: 2,
    estimated_duration: '1 s',
    steps: [{ id: 'hello', tool: 'log', params: { message: 'hello' } }],
  }),
];

let store: SqliteStore;
let now: number;
const clock: Clock = { now: () => now };
let workflows: WorkflowService;
let orgId: string;
const runners: GenerationRunner[] = [];

async function startRunner(llm: LlmStepGenerator | null = null): Promise<GenerationRunner> {
  const runner = new GenerationRunner(
    {
      store,
      clock,
      llm,
      catalogue,
      finish: (owner, current, outcome) => workflows.finishGeneration(owner, current, outcome),
      log: () => undefined,
    },
    { concurrency: 2, leaseMs: LEASE, pollMs: 20 },
  );
  await runner.start();
  runners.push(runner);
  return runner;
}

const generating = () =>
  workflows.create(orgId, { title: 'Hello there' }, { generation: pendingGeneration('catalogue', {}, now) });

const statusOf = async (id: string) => (await workflows.get(orgId, id)).status;

beforeEach(async () => {
  now = T0;
  store = SqliteStore.open({ path: ':memory:' });
  await store.migrate();
  const org = makeOrg();
  await store.createOrg(org);
  orgId = org.id;
  workflows = new WorkflowService(store, createDefaultToolRegistry(), clock);
});
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop()));
  await store.close();
});

describe('GenerationRunner', () => {
  it("claims a dead runner's generation again once its lease expired, and finishes it", async () => {
    const workflow = await generating();
    expect(await store.generations.claimGenerations('dead-runner', 1, LEASE, now)).toHaveLength(1);
    await startRunner();
    now = T0 + LEASE - 1;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await statusOf(workflow.id)).toBe('generating');
    now = T0 + LEASE;
    await waitFor(async () => (await statusOf(workflow.id)) === 'active', 5000, 'the generation to finish');
    const done = await workflows.get(orgId, workflow.id);
    expect(done).toMatchObject({
      version: 2,
      credit_cost: 2,
      generation: { state: 'succeeded', planner: 'catalogue', template_id: 'tpl_sayHello' },
    });
  });

  it('a generation whose runners keep dying ends failed, saying so', async () => {
    const workflow = await generating();
    for (let claim = 1; claim <= 3; claim += 1) {
      expect(await store.generations.claimGenerations(`dead-${claim}`, 1, LEASE, now)).toHaveLength(1);
      now += LEASE;
    }
    await startRunner();
    await waitFor(async () => (await statusOf(workflow.id)) === 'failed', 5000, 'the generation to fail');
    const failed = await workflows.get(orgId, workflow.id);
    expect(failed.generation?.error).toMatch(/interrupted 3 times/);
    expect(failed.version).toBe(1);
  });

  it('a runner stopped mid-generation hands it back: pending again, claimable at once, the claim uncounted', async () => {
    // A model that answers only when aborted: the generation is in flight until the stop.
    const hanging = {
      chat: (request: ChatRequest) =>
        new Promise<ChatResult>((_resolve, reject) =>
          request.signal?.addEventListener('abort', () => reject(request.signal?.reason)),
        ),
    };
    const workflow = await generating();
    const runner = await startRunner(new LlmStepGenerator(hanging, createDefaultToolRegistry()));
    await waitFor(
      async () => (await workflows.get(orgId, workflow.id)).generation?.state === 'running',
      5000,
      'the generation to start',
    );
    await runner.stop();
    const handedBack = await workflows.get(orgId, workflow.id);
    expect(handedBack).toMatchObject({ status: 'generating', generation: { state: 'pending' } });
    const claimed = await store.generations.claimGenerations('next', 1, LEASE, now);
    expect(claimed.map((c) => c.claims)).toEqual([1]);
  });

  it('two runners on one store save each generation once', async () => {
    const created = await Promise.all(Array.from({ length: 6 }, () => generating()));
    await startRunner();
    await startRunner();
    for (const workflow of created) {
      await waitFor(async () => (await statusOf(workflow.id)) === 'active', 5000, 'every generation');
    }
    for (const workflow of created) {
      expect((await workflows.get(orgId, workflow.id)).version).toBe(2);
      expect(await store.getWorkflowVersion(workflow.id, 3)).toBeNull();
    }
  });
});
