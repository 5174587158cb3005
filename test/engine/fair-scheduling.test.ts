import { afterEach, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { eachBackend } from '../support/backends.js';
import { waitForRun } from '../support/stepwise-harness.js';

// Workers shared fairly between orgs, and a workflow's priority inside its org, seen from
// the REST API of a whole Stepwise.

const backends = eachBackend();

let h: ApiHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const post = (harness: ApiHarness, key: string, url: string, payload: unknown) =>
  harness.app.inject({
    method: 'POST',
    url,
    headers: { 'X-API-Key': key, 'content-type': 'application/json' },
    payload: JSON.stringify(payload),
  });

/** The place of the run's first step start on the store's one timeline (its event's `seq`). */
const firstStepAt = async (harness: ApiHarness, runId: string) => {
  await waitForRun(harness.stepwise, runId, 30_000);
  const events = await harness.stepwise.store.listRunEvents(runId);
  return events.find((event) => event.type === 'step.started')!.seq;
};

describe.each(backends)('fair scheduling on $name', ({ database }) => {
  it("starts another org's run among the first, however many older runs one org has queued", async () => {
    h = await startApiHarness({ worker: false, concurrency: 2, databaseUrl: await database() });
    const busyKey = await h.key(['workflows:read', 'workflows:write']);
    const otherKey = await h.key(['workflows:read', 'workflows:write'], 'other-org');
    const steps = [{ id: 'say', tool: 'log', params: {} }];
    expect((await post(h, busyKey, '/v1/workflows', { title: 'Busy', slug: 'busy', steps })).statusCode).toBe(
      201,
    );
    expect(
      (await post(h, otherKey, '/v1/workflows', { title: 'Lone', slug: 'lone', steps })).statusCode,
    ).toBe(201);
    const backlog: string[] = [];
    for (let i = 0; i < 200; i += 1) {
      backlog.push(
        json<{ jobId: string }>(await post(h, busyKey, '/v1/workflows/busy/run', { input: { i } })).jobId,
      );
    }
    const lone = json<{ jobId: string }>(
      await post(h, otherKey, '/v1/workflows/lone/run', { input: {} }),
    ).jobId;

    await h.stepwise.startWorker();
    const loneAt = await firstStepAt(h, lone);
    const before: string[] = [];
    for (const id of backlog) if ((await firstStepAt(h, id)) < loneAt) before.push(id);

    // The first claim serves both orgs, so the lone run holds one of the two slots from the
    // start; a few busy runs may pass through the other slot while it loads its workflow.
    // Served oldest-first, all 200 would go before it.
    expect(before.length).toBeLessThanOrEqual(10);
  });

  it('keeps a workflow priority through both REST dialects and claims its runs first inside the org', async () => {
    h = await startApiHarness({ worker: false, concurrency: 1, databaseUrl: await database() });
    const key = await h.key(['workflows:read', 'workflows:write']);
    const steps = [{ id: 'say', tool: 'log', params: {} }];
    const low = await post(h, key, '/v1/workflows', { title: 'Low', slug: 'low', steps });
    const high = await post(h, key, '/api/v1/workflows', { title: 'High', slug: 'high', steps, priority: 7 });
    const refused = await post(h, key, '/v1/workflows', { title: 'Loud', steps, priority: 11 });

    expect(json(low)).toMatchObject({ priority: 0 });
    expect(json(high)).toMatchObject({ priority: 7 });
    expect(refused.statusCode).toBe(400);
    expect(refused.body).toContain('priority');
    const lowRun = json<{ jobId: string }>(await post(h, key, '/v1/workflows/low/run', { input: {} })).jobId;
    const highRun = json<{ jobId: string }>(
      await post(h, key, '/v1/workflows/high/run', { input: {} }),
    ).jobId;

    await h.stepwise.startWorker();

    expect(await firstStepAt(h, highRun)).toBeLessThan(await firstStepAt(h, lowRun));
    expect((await h.stepwise.runs.get(h.orgId, highRun)).priority).toBe(7);
  });
});
