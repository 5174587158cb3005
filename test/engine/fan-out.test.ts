import { afterEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/domain/model.js';
import { isFinalStatus } from '../../src/domain/run-state.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { eachBackend } from '../support/backends.js';
import { waitFor } from '../support/stepwise-harness.js';

// Bounded fan-out, through the REST API of a whole Stepwise on the `unlimited` plan (the
// harness's default): the self-forking workflow, deactivation, cascading cancels.
const backends = eachBackend();

let h: ApiHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const call = async (
  harness: ApiHarness,
  key: string,
  method: 'POST' | 'GET',
  url: string,
  payload?: unknown,
) => {
  const response = await harness.app.inject({
    method,
    url,
    headers: { 'X-API-Key': key, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    payload: payload === undefined ? undefined : JSON.stringify(payload),
  });
  expect(response.statusCode, response.body).toBeLessThan(300);
  return json(response);
};

const createWorkflow = (harness: ApiHarness, key: string, body: Record<string, unknown>) =>
  call(harness, key, 'POST', '/api/v1/workflows', body);

const allRuns = (harness: ApiHarness): Promise<RunRecord[]> =>
  harness.stepwise.runs.list(harness.orgId, { limit: 500 });

const settled = async (harness: ApiHarness, timeoutMs = 20_000) => {
  await waitFor(
    async () => (await allRuns(harness)).every((run) => isFinalStatus(run.status)),
    timeoutMs,
    'every run to end',
  );
  return allRuns(harness);
};

/** A workflow whose steps start itself twice without waiting: the runaway. */
const forker = (slug: string, before: Record<string, unknown>[] = []) => ({
  title: slug,
  slug,
  steps: [
    ...before,
    { id: 'fork_a', tool: 'workflow', params: { workflow: slug, wait: false } },
    { id: 'fork_b', tool: 'workflow', params: { workflow: slug, wait: false } },
  ],
});

describe.each(backends)('on $name', ({ database }) => {
  const start = async (env: Record<string, string> = {}) => {
    h = await startApiHarness({ env, databaseUrl: await database() });
    return { harness: h, key: await h.key(['workflows:read', 'workflows:write']) };
  };

  describe('bounded fan-out', () => {
    it('stops a workflow that starts itself twice per run at the depth cap, naming the cap', async () => {
      const { harness, key } = await start({ STEPWISE_MAX_SUB_WORKFLOW_DEPTH: '3' });
      await createWorkflow(harness, key, forker('forker'));

      await call(harness, key, 'POST', '/v1/workflows/forker/run', { input: {} });
      const runs = await settled(harness);

      // Depths 0 to 3: 1 + 2 + 4 + 8 runs, and not one more.
      expect(runs).toHaveLength(15);
      expect(Math.max(...runs.map((run) => run.depth))).toBe(3);
      const leaves = runs.filter((run) => run.depth === 3);
      expect(leaves).toHaveLength(8);
      for (const leaf of leaves) {
        expect(leaf.status).toBe('failed');
        expect(leaf.error).toMatchObject({ code: 'SUB_WORKFLOW_DEPTH_EXCEEDED', step_id: 'fork_a' });
        expect(leaf.error!.message).toContain('at most 3 deep (STEPWISE_MAX_SUB_WORKFLOW_DEPTH)');
      }
      expect(runs.filter((run) => run.depth < 3).every((run) => run.status === 'completed')).toBe(true);
    });

    it('refuses the start past the runs one run may start, with a permanent step failure naming the cap', async () => {
      const { harness, key } = await start({ STEPWISE_MAX_CHILD_RUNS: '3' });
      await createWorkflow(harness, key, {
        title: 'leaf',
        slug: 'leaf',
        steps: [{ id: 'say', tool: 'log', params: {} }],
      });
      const spawn = (id: string) => ({ id, tool: 'workflow', params: { workflow: 'leaf', wait: false } });
      await createWorkflow(harness, key, {
        title: 'spawner',
        slug: 'spawner',
        steps: [spawn('one'), spawn('two'), spawn('three'), spawn('four')],
      });

      const { jobId } = await call(harness, key, 'POST', '/v1/workflows/spawner/run', { input: {} });
      const runs = await settled(harness);
      const job = await call(harness, key, 'GET', `/v1/workflows/jobs/${String(jobId)}`);

      expect(runs.filter((run) => run.parent_run_id === jobId)).toHaveLength(3);
      const spawner = runs.find((run) => run.id === jobId)!;
      expect(spawner.status).toBe('failed');
      expect(spawner.error).toMatchObject({ code: 'SUB_WORKFLOW_LIMIT_EXCEEDED', step_id: 'four' });
      expect(spawner.error!.message).toContain('at most 3 (STEPWISE_MAX_CHILD_RUNS)');
      const attempts = (await harness.stepwise.store.listRunSteps(String(jobId))).filter(
        (step) => step.step_id === 'four',
      );
      expect(attempts).toHaveLength(1);
      expect(JSON.stringify(job)).toContain('SUB_WORKFLOW_LIMIT_EXCEEDED');
    });

    it('starts no new child once the self-forking workflow is deactivated', async () => {
      const { harness, key } = await start();
      const created = await createWorkflow(
        harness,
        key,
        forker('spreader', [{ id: 'pause', tool: 'delay', params: { duration_ms: 300 } }]),
      );
      await call(harness, key, 'POST', '/v1/workflows/spreader/run', { input: {} });
      await waitFor(async () => (await allRuns(harness)).length >= 8, 15_000, 'the tree to grow');

      await call(harness, key, 'POST', `/api/v1/workflows/${String(created.id)}/deactivate`);
      const deactivatedAt = Date.now();
      const atDeactivation = (await allRuns(harness)).length;
      const runs = await settled(harness);

      expect(runs.filter((run) => run.created_at > deactivatedAt)).toEqual([]);
      expect(runs.length).toBe(atDeactivation);
      const refused = runs.filter((run) => run.status === 'failed');
      expect(refused.length).toBeGreaterThan(0);
      for (const run of refused) {
        expect(run.error).toMatchObject({ code: 'SUB_WORKFLOW_START_FAILED' });
        expect(run.error!.message).toContain('is not active');
      }
    });
  });

  describe('cancelling a run with sub-workflows', () => {
    const tree = async (harness: ApiHarness, key: string) => {
      await createWorkflow(harness, key, {
        title: 'sleeper',
        slug: 'sleeper',
        steps: [{ id: 'sleep', tool: 'delay', params: { duration: '5m' } }],
      });
      await createWorkflow(harness, key, {
        title: 'middle',
        slug: 'middle',
        steps: [{ id: 'sub', tool: 'workflow', params: { workflow: 'sleeper' } }],
      });
      await createWorkflow(harness, key, {
        title: 'top',
        slug: 'top',
        steps: [{ id: 'sub', tool: 'workflow', params: { workflow: 'middle' } }],
      });
      const { jobId } = await call(harness, key, 'POST', '/v1/workflows/top/run', { input: {} });
      await waitFor(
        async () => (await allRuns(harness)).some((run) => run.depth === 2 && run.status === 'running'),
        10_000,
        'the grandchild to sleep',
      );
      return String(jobId);
    };

    it('cancels the run and its descendants by default (POST /v1/runs/{id}/cancel)', async () => {
      const { harness, key } = await start();
      const root = await tree(harness, key);

      const answer = await call(harness, key, 'POST', `/v1/runs/${root}/cancel`);
      const runs = await settled(harness);

      expect(answer).toMatchObject({ jobId: root, cascade: true });
      expect(runs.map((run) => [run.depth, run.status]).sort()).toEqual([
        [0, 'cancelled'],
        [1, 'cancelled'],
        [2, 'cancelled'],
      ]);
      const timeline = await harness.stepwise.store.listRunEvents(runs.find((run) => run.depth === 2)!.id);
      expect(timeline.find((event) => event.type === 'run.cancelled')?.data).toMatchObject({
        reason: `cancelled by request (cascaded from run ${root})`,
      });
    });

    it('leaves the descendants running with cascade: false', async () => {
      const { harness, key } = await start();
      const root = await tree(harness, key);

      await call(harness, key, 'POST', `/v1/runs/${root}/cancel`, { cascade: false });
      await waitFor(
        async () => (await harness.stepwise.runs.get(harness.orgId, root)).status === 'cancelled',
        5000,
        'the root to be cancelled',
      );

      const runs = await allRuns(harness);
      expect(runs.filter((run) => run.depth > 0).map((run) => run.status)).toEqual(['running', 'running']);
    });

    it('refuses a cancel body with an unknown field, naming it, and cancels nothing', async () => {
      const { harness, key } = await start();
      const root = await tree(harness, key);

      const response = await harness.app.inject({
        method: 'POST',
        url: `/v1/runs/${root}/cancel`,
        headers: { 'X-API-Key': key, 'content-type': 'application/json' },
        payload: JSON.stringify({ cascades: true }),
      });

      expect(response.statusCode).toBe(400);
      expect(response.body).toContain('cascades');
      expect((await allRuns(harness)).every((run) => run.status === 'running')).toBe(true);
    });
  });
});
