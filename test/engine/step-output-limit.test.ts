import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { startHarness, waitForRun, type Harness } from '../support/stepwise-harness.js';

let server: HttpRecorder;
beforeAll(async () => {
  server = await startHttpRecorder();
});
afterAll(async () => {
  await server.close();
});

async function withHarness(env: Record<string, string>, test: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness({ env });
  try {
    await test(h);
  } finally {
    await h.close();
  }
}

describe('the step output limit', () => {
  it('fails a step whose output is over 1 MiB of JSON at once, with OUTPUT_TOO_LARGE naming the size and the limit', async () => {
    await withHarness({}, async (h) => {
      server.script('/big', { json: { data: 'x'.repeat(1_100_000) } });
      const workflow = await h.stepwise.workflows.create(h.orgId, {
        title: 'Big answer',
        steps: [
          {
            id: 'fetch',
            tool: 'http',
            params: { url: `${server.url}/big` },
            retry: { max_attempts: 3, backoff: 'fixed', initial_ms: 10, max_ms: 10 },
          },
          { id: 'after', tool: 'log', params: { message: 'never' } },
        ],
      });
      const { run } = await h.stepwise.runs.start(h.orgId, workflow.id, {});
      const finished = await waitForRun(h.stepwise, run.id);
      expect(finished.status).toBe('failed');
      expect(finished.error).toMatchObject({
        code: 'OUTPUT_TOO_LARGE',
        message: expect.stringMatching(
          /^step 'fetch' output is \d{7} bytes of JSON, over the limit of 1048576 bytes \(STEPWISE_MAX_STEP_OUTPUT_BYTES\)$/,
        ),
      });
      const steps = await h.stepwise.store.listRunSteps(run.id);
      expect(steps.map((step) => [step.step_id, step.status])).toEqual([['fetch', 'failed']]);
      expect(steps[0]!.output ?? null).toBeNull();
      expect(server.requestsTo('/big'), 'not retried').toHaveLength(1);
    });
  });

  it('follows STEPWISE_MAX_STEP_OUTPUT_BYTES: an output at the limit passes, one byte more fails', async () => {
    await withHarness({ STEPWISE_MAX_STEP_OUTPUT_BYTES: '2048' }, async (h) => {
      // The log tool outputs { logged: true, message }; each é is 2 bytes of UTF-8.
      const frame = JSON.stringify({ logged: true, message: '' }).length;
      const workflow = await h.stepwise.workflows.create(h.orgId, {
        title: 'Echo',
        steps: [{ id: 'say', tool: 'log', params: { message: '{{ input.text }}' } }],
      });
      const atLimit = await h.stepwise.runs.start(h.orgId, workflow.id, {
        input: { text: 'é'.repeat((2048 - frame) / 2) },
      });
      const over = await h.stepwise.runs.start(h.orgId, workflow.id, {
        input: { text: `${'é'.repeat((2048 - frame) / 2 - 1)}abc` },
      });
      expect((await waitForRun(h.stepwise, atLimit.run.id)).status).toBe('completed');
      const failed = await waitForRun(h.stepwise, over.run.id);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatchObject({
        code: 'OUTPUT_TOO_LARGE',
        message:
          "step 'say' output is 2049 bytes of JSON, over the limit of 2048 bytes (STEPWISE_MAX_STEP_OUTPUT_BYTES)",
      });
    });
  });
});
