import { newId } from '../domain/ids.js';
import { isFinalStatus } from '../domain/run-state.js';
import type { Stepwise } from '../app/stepwise.js';
import {
  createNoopWorkflow,
  enqueueRuns,
  measureStartLatency,
  openBenchStepwise,
  type EngineBenchOptions,
} from './engine-bench.js';

export interface FairnessBenchResult {
  backlog: number;
  /** p50 of start → first step on an idle worker. */
  idleMs: number;
  /** Start → first step of another org's one run, started while the backlog is being worked. */
  otherOrgMs: number;
  /**
   * Start → first step of a run started at the same moment behind the backlog in the
   * backlog's own org: inside an org runs go oldest-first, so this is what the other org's
   * run waited when the claim served every org oldest-first.
   */
  oldestFirstMs: number;
}

/**
 * One org's run while another org has `backlog` runs queued: how long it waits for its
 * first step, fairly served and as oldest-first served it, each against the idle latency.
 */
export async function measureFairness(
  options: Omit<EngineBenchOptions, 'runs'>,
  backlog: number,
): Promise<FairnessBenchResult> {
  const idle = await openBenchStepwise({ ...options, runs: backlog });
  let idleMs: number;
  try {
    idleMs = (await measureStartLatency(idle.stepwise, await createNoopWorkflow(idle.stepwise), 20)).p50Ms;
  } finally {
    await idle.dispose();
  }
  const { stepwise, dispose } = await openBenchStepwise({ ...options, runs: backlog });
  try {
    const busyWorkflow = await createNoopWorkflow(stepwise);
    const otherOrg = await createOtherOrg(stepwise);
    const otherWorkflow = (
      await stepwise.workflows.create(otherOrg, {
        title: 'bench other org',
        steps: [{ id: 's1', tool: 'log', params: { message: 'noop' } }],
      })
    ).id;
    await enqueueRuns(stepwise, busyWorkflow, backlog);
    await stepwise.startWorker();
    // Let the worker get into the backlog before the other org asks.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const at = Date.now();
    const [other, behind] = await Promise.all([
      stepwise.runs.start(otherOrg, otherWorkflow),
      stepwise.runs.start(stepwise.defaultOrgId, busyWorkflow),
    ]);
    return {
      backlog,
      idleMs,
      otherOrgMs: (await firstStepAt(stepwise, other.run.id)) - at,
      oldestFirstMs: (await firstStepAt(stepwise, behind.run.id)) - at,
    };
  } finally {
    await dispose();
  }
}

async function createOtherOrg(stepwise: Stepwise): Promise<string> {
  const id = newId('org');
  await stepwise.store.createOrg({
    id,
    name: `bench-other-${id}`,
    plan: 'unlimited',
    credits_period: null,
    created_at: Date.now(),
  });
  return id;
}

async function firstStepAt(stepwise: Stepwise, runId: string): Promise<number> {
  for (;;) {
    const run = await stepwise.store.getRun(null, runId);
    if (run && isFinalStatus(run.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const started = (await stepwise.store.listRunEvents(runId)).find((event) => event.type === 'step.started');
  if (!started) throw new Error(`bench run ${runId} never started a step`);
  return started.at;
}
