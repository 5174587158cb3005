import { describe, expect, it } from 'vitest';
import { FakeSubRunPort, createToolContext, runTool } from '../../test/support/tool-context.js';
import { workflowTool } from './workflow-tool.js';

describe('workflow tool', () => {
  it('starts the child with the step idempotency key and suspends until it ends', async () => {
    const subRuns = new FakeSubRunPort();
    const ctx = createToolContext({ subRuns });
    const first = await runTool(workflowTool, { workflow: 'enrich-lead', input: { email: 'a@b.c' } }, ctx);
    expect(first).toEqual({
      kind: 'suspend',
      state: { run_id: 'run_child_1' },
      wake_at: null,
      wait: { kind: 'run', run_id: 'run_child_1' },
    });
    expect(subRuns.runs.get('run_child_1')).toMatchObject({
      workflow: 'enrich-lead',
      input: { email: 'a@b.c' },
      idempotency_key: 'run_test:step_test',
    });

    // A retry after a crash finds the same child instead of starting another.
    await runTool(
      workflowTool,
      { workflow: 'enrich-lead', input: { email: 'a@b.c' } },
      createToolContext({ subRuns }),
    );
    expect(subRuns.runs.size).toBe(1);

    const resume = { state: { run_id: 'run_child_1' }, payload: null };
    // Woken while the child is still running: park again.
    expect(
      await runTool(workflowTool, { workflow: 'enrich-lead' }, createToolContext({ subRuns, resume })),
    ).toMatchObject({
      kind: 'suspend',
      wait: { kind: 'run', run_id: 'run_child_1' },
    });

    subRuns.finish('run_child_1', 'completed', { output: { score: 7 } });
    expect(
      await runTool(workflowTool, { workflow: 'enrich-lead' }, createToolContext({ subRuns, resume })),
    ).toEqual({
      kind: 'done',
      output: { run_id: 'run_child_1', status: 'completed', output: { score: 7 } },
    });
  });

  it('finishes at once when the child has already ended', async () => {
    const subRuns = new FakeSubRunPort();
    await subRuns.start('quick', {}, 'run_test:step_test');
    subRuns.finish('run_child_1', 'partial_complete', { output: { done: 'mostly' } });
    expect(await runTool(workflowTool, { workflow: 'quick' }, createToolContext({ subRuns }))).toEqual({
      kind: 'done',
      output: { run_id: 'run_child_1', status: 'partial_complete', output: { done: 'mostly' } },
    });
  });

  it('only starts the child with wait: false', async () => {
    const subRuns = new FakeSubRunPort();
    expect(
      await runTool(workflowTool, { workflow: 'fire', wait: false }, createToolContext({ subRuns })),
    ).toEqual({
      kind: 'done',
      output: { run_id: 'run_child_1' },
    });
    expect(subRuns.runs.get('run_child_1')?.input).toEqual({});
  });

  it('fails permanently when the child fails or is cancelled, naming the run and its error', async () => {
    const subRuns = new FakeSubRunPort();
    await subRuns.start('w', {}, 'k1');
    subRuns.finish('run_child_1', 'failed', {
      error: { code: 'HTTP_STATUS', message: 'GET https://x/ answered 404' },
    });
    const resume = { state: { run_id: 'run_child_1' }, payload: null };
    await expect(
      runTool(workflowTool, { workflow: 'w' }, createToolContext({ subRuns, resume })),
    ).rejects.toMatchObject({
      code: 'SUB_WORKFLOW_FAILED',
      retriable: false,
      message: 'sub-workflow run run_child_1 ended failed: HTTP_STATUS: GET https://x/ answered 404',
    });

    subRuns.finish('run_child_1', 'cancelled');
    await expect(
      runTool(workflowTool, { workflow: 'w' }, createToolContext({ subRuns, resume })),
    ).rejects.toMatchObject({
      code: 'SUB_WORKFLOW_FAILED',
      message: 'sub-workflow run run_child_1 ended cancelled',
    });
  });

  it('fails permanently when the workflow does not exist', async () => {
    const ctx = createToolContext({ subRuns: new FakeSubRunPort(['known']) });
    await expect(runTool(workflowTool, { workflow: 'nope' }, ctx)).rejects.toMatchObject({
      code: 'SUB_WORKFLOW_START_FAILED',
      retriable: false,
      message: "could not start workflow 'nope': workflow 'nope' was not found",
    });
  });

  it('requires a workflow', () => {
    expect(workflowTool.params.safeParse({ input: {} }).error?.issues[0]?.path).toEqual(['workflow']);
  });
});
