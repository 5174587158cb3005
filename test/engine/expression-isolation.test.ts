import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/domain/model.js';
import { isFinalStatus } from '../../src/domain/run-state.js';
import type { StepDefinitionInput } from '../../src/domain/workflow.js';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { waitForRun, waitForRunState } from '../support/stepwise-harness.js';

let h: ApiHarness;
let baseUrl: string;

beforeEach(async () => {
  h = await startApiHarness({
    env: { STEPWISE_EXPRESSION_TIMEOUT_MS: '2000', STEPWISE_EXPRESSION_MEMORY_MB: '32' },
  });
  baseUrl = await h.app.listen({ port: 0, host: '127.0.0.1' });
  // The worker started the processes; one evaluation waits until they answer.
  await h.stepwise.expressions.evaluate('1', null);
});
afterEach(async () => {
  await h.close();
});

async function start(steps: StepDefinitionInput[], input: unknown = {}): Promise<string> {
  const workflow = await h.stepwise.workflows.create(h.orgId, { title: `wf ${Math.random()}`, steps });
  return (await h.stepwise.runs.start(h.orgId, workflow.id, { input })).run.id;
}

const run = async (steps: StepDefinitionInput[], input: unknown = {}) =>
  waitForRun(h.stepwise, await start(steps, input), 20_000);

describe('user expressions run isolated', () => {
  it('a catastrophic regex in a transform fails its run with EXPRESSION_TIMEOUT while /healthz answers within 50 ms', async () => {
    const healthz = async () => {
      const sent = performance.now();
      const response = await fetch(`${baseUrl}/healthz`);
      expect(await response.json()).toEqual({ status: 'ok' });
      return performance.now() - sent;
    };
    // The first request loads the HTTP client and opens the connection.
    await healthz();
    const runId = await start([
      {
        id: 'match',
        tool: 'transform',
        params: { expression: '$contains(s, /(a+)+$/)', data: { s: `${'a'.repeat(40)}b` } },
      },
    ]);
    await waitForRunState(h.stepwise, runId, (run) => run.status === 'running');

    const latenciesMs: number[] = [];
    let finished: RunRecord | null = null;
    while (!finished) {
      latenciesMs.push(await healthz());
      await new Promise((resolve) => setTimeout(resolve, 10));
      const run = await h.stepwise.store.getRun(null, runId);
      if (run && isFinalStatus(run.status)) finished = run;
    }

    expect(finished.status).toBe('failed');
    expect(finished.error).toMatchObject({
      code: 'EXPRESSION_TIMEOUT',
      step_id: 'match',
      message: 'expression took too long to evaluate (infinite loop?) (limit 2000 ms)',
    });
    // Polled every ~10 ms through the 2 s the regex ran. Answers are due within 50 ms; on
    // a loaded machine even an idle server misses that now and then (a bare node:http
    // server here: 2 of 400 answers over 50 ms, the slowest 58 ms), so a few may. A loop
    // held by the regex would answer nothing for its whole 2 s.
    expect(latenciesMs.length).toBeGreaterThan(50);
    const late = latenciesMs.filter((ms) => ms >= 50);
    expect(late.length, `answers of ${latenciesMs.map(Math.round).join(', ')} ms`).toBeLessThanOrEqual(
      Math.floor(latenciesMs.length * 0.05),
    );
    expect(Math.max(...latenciesMs)).toBeLessThan(500);
  });

  it('a memory bomb in a `when` fails its step with EXPRESSION_TOO_LARGE, and the next run evaluates on', async () => {
    const bombed = await run([
      { id: 'bomb', tool: 'log', params: { message: 'never' }, when: '$count([1..10000000].($ * 2)) > 0' },
    ]);
    expect(bombed.status).toBe('failed');
    expect(bombed.error).toMatchObject({
      code: 'EXPRESSION_TOO_LARGE',
      step_id: 'bomb',
      message: 'when: expression needed more memory than its limit of 32 MB',
    });

    const next = await run(
      [
        { id: 'skipped', tool: 'log', params: { message: 'no' }, when: 'input.go = false' },
        { id: 'ran', tool: 'transform', params: { expression: '$uppercase(word)', data: { word: 'ok' } } },
      ],
      { go: true },
    );
    expect(next.status).toBe('completed');
    expect(next.output).toBe('OK');
    const steps = await h.stepwise.store.listRunSteps(next.id);
    expect(steps.map((step) => [step.step_id, step.status])).toEqual([
      ['skipped', 'skipped'],
      ['ran', 'completed'],
    ]);
  });
});
