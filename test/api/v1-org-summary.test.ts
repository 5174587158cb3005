import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { waitForRun } from '../support/stepwise-harness.js';

// GET /v1/summary and /v1/summary/timeline: the per-workflow summary and timeline over every
// run of the key's org, as the dashboard's "All workflows" view reads them.
let h: ApiHarness;
let mine: string;
let theirs: string;
const myJobs: string[] = [];
const theirJobs: string[] = [];
let workflowIds: string[] = [];

interface Summary {
  total_runs: number;
  by_status: Record<string, number>;
  success_rate: number | null;
  duration_ms: { p50: number | null; p95: number | null };
  credits_used: number;
  last_run: { id: string } | null;
}
interface Timeline {
  from: string;
  to: string;
  bucket: string;
  bucket_ms: number;
  buckets: { bucket_start: string; total: number; by_status: Record<string, number> }[];
}

const get = (url: string, key: string) => h.app.inject({ method: 'GET', url, headers: { 'X-API-Key': key } });

/** Creates a workflow whose runs fail when `input.ok` is false, and runs it once per entry. */
async function runWorkflow(
  key: string,
  title: string,
  oks: boolean[],
): Promise<{ id: string; jobs: string[] }> {
  const created = json<{ id: string }>(
    await h.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { 'X-API-Key': key },
      payload: {
        title,
        steps: [
          {
            id: 'check',
            tool: 'transform',
            params: { expression: 'ok ? 1 : $error("not ok")', data: '{{ input }}' },
            retry: { max_attempts: 1 },
          },
        ],
      },
    }),
  );
  const jobs: string[] = [];
  for (const ok of oks) {
    const response = await h.app.inject({
      method: 'POST',
      url: `/v1/workflows/${created.id}/run`,
      headers: { 'X-API-Key': key },
      payload: { input: { ok } },
    });
    expect(response.statusCode, response.body).toBe(201);
    jobs.push(json<{ jobId: string }>(response).jobId);
  }
  for (const job of jobs) await waitForRun(h.stepwise, job);
  return { id: created.id, jobs };
}

beforeAll(async () => {
  h = await startApiHarness();
  mine = await h.key(['workflows:read', 'workflows:write'], 'org-summary-mine');
  theirs = await h.key(['workflows:read', 'workflows:write'], 'org-summary-theirs');
  const first = await runWorkflow(mine, 'Checked', [true, false]);
  const second = await runWorkflow(mine, 'Also checked', [true]);
  myJobs.push(...first.jobs, ...second.jobs);
  workflowIds = [first.id, second.id];
  theirJobs.push(...(await runWorkflow(theirs, 'Theirs', [false, false, false, true])).jobs);
});
afterAll(async () => {
  await h.close();
});

describe('GET /v1/summary', () => {
  it("counts the runs of every workflow of the org, and none of another org's", async () => {
    const response = await get('/v1/summary', mine);
    expect(response.statusCode).toBe(200);
    const summary = json<Summary>(response);
    expect(summary).toMatchObject({
      total_runs: 3,
      by_status: { pending: 0, running: 0, completed: 2, partial_complete: 0, failed: 1, cancelled: 0 },
      success_rate: 0.6667,
    });
    expect(summary).not.toHaveProperty('workflow_id');
    expect(myJobs).toContain(summary.last_run?.id);
    for (const job of theirJobs) expect(response.body).not.toContain(job);

    // The same figures as the workflows' own summaries, added up.
    const perWorkflow = await Promise.all(
      workflowIds.map(async (id) => json<Summary>(await get(`/v1/workflows/${id}/summary`, mine))),
    );
    expect(summary.total_runs).toBe(perWorkflow.reduce((sum, s) => sum + s.total_runs, 0));
    expect(summary.credits_used).toBe(perWorkflow.reduce((sum, s) => sum + s.credits_used, 0));

    const other = json<Summary>(await get('/v1/summary', theirs));
    expect(other).toMatchObject({
      total_runs: 4,
      by_status: { completed: 1, failed: 3 },
      success_rate: 0.25,
    });
    expect(theirJobs).toContain(other.last_run?.id);
  });

  it('counts only the runs created in [from, to)', async () => {
    const future = json<Summary>(await get('/v1/summary?from=2099-01-01', mine));
    expect(future).toMatchObject({ total_runs: 0, success_rate: null, last_run: null });
    expect(future.duration_ms).toEqual({ p50: null, p95: null });
    const past = json<Summary>(await get('/v1/summary?from=2000-01-01&to=2099-01-01T00:00:00Z', mine));
    expect(past.total_runs).toBe(3);
  });

  it('refuses a bad `from` or `to` with a 400 naming the field', async () => {
    for (const [query, field] of [
      ['from=yesterday', 'from'],
      ['from=2024-02-30', 'from'],
      ['to=soon', 'to'],
      ['from=2024-02-01&to=2024-01-01', 'from'],
    ] as const) {
      const response = await get(`/v1/summary?${query}`, mine);
      expect(response.statusCode, query).toBe(400);
      expect(json(response), query).toMatchObject({ error: { code: 'VALIDATION_FAILED', field } });
      expect(json<{ error: { message: string } }>(response).error.message, query).toContain(`${field}:`);
    }
  });
});

describe('GET /v1/summary/timeline', () => {
  it("buckets the runs of every workflow of the org, and none of another org's", async () => {
    const response = await get('/v1/summary/timeline?bucket=hour', mine);
    expect(response.statusCode).toBe(200);
    const timeline = json<Timeline>(response);
    expect(timeline).toMatchObject({ bucket: 'hour', bucket_ms: 3_600_000 });
    expect(timeline).not.toHaveProperty('workflow_id');
    // Seven days back from now, in hours, every one present.
    expect(timeline.buckets.length).toBeGreaterThanOrEqual(168);
    const sum = (status: string) =>
      timeline.buckets.reduce((total, bucket) => total + (bucket.by_status[status] ?? 0), 0);
    expect(timeline.buckets.reduce((total, bucket) => total + bucket.total, 0)).toBe(3);
    expect([sum('completed'), sum('failed')]).toEqual([2, 1]);

    const other = json<Timeline>(await get('/v1/summary/timeline?bucket=hour', theirs));
    expect(other.buckets.reduce((total, bucket) => total + bucket.total, 0)).toBe(4);
  });

  it('takes from, to and bucket as the per-workflow timeline does', async () => {
    const timeline = json<Timeline>(
      await get('/v1/summary/timeline?from=2024-01-01&to=2024-01-02&bucket=15m', mine),
    );
    expect(timeline).toMatchObject({
      from: '2024-01-01T00:00:00.000Z',
      to: '2024-01-02T00:00:00.000Z',
      bucket: '15m',
      bucket_ms: 900_000,
    });
    expect(timeline.buckets).toHaveLength(96);
    expect(timeline.buckets.every((bucket) => bucket.total === 0)).toBe(true);
  });

  it('refuses a bad `from`, `to` or `bucket` with a 400 naming the field', async () => {
    for (const [query, field] of [
      ['from=last-week', 'from'],
      ['to=2024-13-01', 'to'],
      ['bucket=fortnight', 'bucket'],
      ['from=2000-01-01&to=2024-01-01&bucket=hour', 'bucket'],
    ] as const) {
      const response = await get(`/v1/summary/timeline?${query}`, mine);
      expect(response.statusCode, query).toBe(400);
      expect(json(response), query).toMatchObject({ error: { code: 'VALIDATION_FAILED', field } });
    }
  });
});
