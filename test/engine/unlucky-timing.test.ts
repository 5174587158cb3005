import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { BACKENDS, databaseFor } from '../support/backends.js';
import { startHarness, waitForRun, type Harness } from '../support/stepwise-harness.js';

// Ordinary patterns whose outcome once depended on timing: a callback that arrives before
// its wait is parked, a child that ends before its parent parks, a loop through a step.
for (const backend of BACKENDS) {
  describe.skipIf(!backend.enabled)(`unlucky timing on ${backend.name}`, () => {
    const database = databaseFor(backend.name);
    let h: Harness;
    let service: HttpRecorder;

    beforeEach(async () => {
      service = await startHttpRecorder();
      h = await startHarness({ databaseUrl: database(), leaseMs: 5000, pollMs: 200 });
    });
    afterEach(async () => {
      await h.close();
      await service.close();
    });

    it('receives a callback event the service posts right after answering, before the run is parked', async () => {
      // The service answers the request, then posts the callback event a few ms later.
      service.afterAnswer('/jobs', (request) => {
        const { job } = request.json as { job: string };
        setTimeout(() => void h.stepwise.events.publish(h.orgId, 'job.done', { job, result: 'ok' }), 2);
      });
      const workflow = await h.stepwise.workflows.create(h.orgId, {
        title: 'ask then wait',
        steps: [
          {
            id: 'ask',
            tool: 'http',
            params: { method: 'POST', url: `${service.url}/jobs`, json: { job: '{{ run.id }}' } },
          },
          {
            id: 'callback',
            tool: 'wait_for_event',
            params: { event_type: 'job.done', match: { job: '{{ run.id }}' }, timeout_ms: 20_000 },
          },
        ],
      });
      const runs = await Promise.all(
        Array.from({ length: 20 }, () => h.stepwise.runs.start(h.orgId, workflow.id)),
      );
      const ended = await Promise.all(runs.map(({ run }) => waitForRun(h.stepwise, run.id, 15_000)));
      for (const run of ended) {
        expect(run.status).toBe('completed');
        expect(run.output).toMatchObject({ received: true, timed_out: false, event: { job: run.id } });
      }
    });

    it('resumes a parent at once when its sub-workflow ended before the parent was parked', async () => {
      const child = await h.stepwise.workflows.create(h.orgId, {
        title: 'quick child',
        slug: 'quick-child',
        steps: [{ id: 'note', tool: 'log', params: { message: 'hi' } }],
      });
      const parent = await h.stepwise.workflows.create(h.orgId, {
        title: 'parent',
        steps: [{ id: 'child', tool: 'workflow', params: { workflow: child.slug } }],
      });
      const started = Date.now();
      const runs = await Promise.all(
        Array.from({ length: 20 }, () => h.stepwise.runs.start(h.orgId, parent.id)),
      );
      // The fallback re-check is 30 s: every parent ending well before it was woken, not re-checked.
      const ended = await Promise.all(runs.map(({ run }) => waitForRun(h.stepwise, run.id, 15_000)));
      expect(ended.map((run) => run.status)).toEqual(ended.map(() => 'completed'));
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it('gives each pass of a loop its own idempotency key, and ends a loop past max_iterations', async () => {
      const endless = await h.stepwise.workflows.create(h.orgId, {
        title: 'endless loop',
        steps: [
          { id: 'tick', tool: 'http', params: { method: 'POST', url: `${service.url}/tick` } },
          { id: 'again', tool: 'condition', params: { expression: 'true', then: 'tick' } },
        ],
        max_iterations: 9,
      });
      const { run } = await h.stepwise.runs.start(h.orgId, endless.id);
      const ended = await waitForRun(h.stepwise, run.id, 10_000);

      expect(ended.status).toBe('failed');
      expect(ended.error).toMatchObject({ code: 'MAX_ITERATIONS_EXCEEDED', step_id: 'again' });
      // Nine executions: tick, again, tick, again, … , tick; the tenth (again) is refused.
      const keys = service.requestsTo('/tick').map((request) => request.headers['idempotency-key']);
      expect(keys).toEqual([
        `${run.id}:tick`,
        `${run.id}:tick:2`,
        `${run.id}:tick:3`,
        `${run.id}:tick:4`,
        `${run.id}:tick:5`,
      ]);
      const attempts = await h.stepwise.store.listRunSteps(run.id);
      expect(attempts.filter((step) => step.step_id === 'tick').map((step) => step.iteration)).toEqual([
        1, 2, 3, 4, 5,
      ]);
    });
  });
}
