import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { startHarness, waitFor } from '../support/stepwise-harness.js';
import { WorkerProcess } from '../support/worker-process.js';

const PROCESSES = 3;
const RUN_FOR_MS = 4000;

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

const title = testDatabaseUrl
  ? `${PROCESSES} scheduler processes on one PostgreSQL`
  : 'scheduler processes (skipped: STEPWISE_TEST_DATABASE_URL is unset)';

describe.skipIf(!testDatabaseUrl)(title, () => {
  it('fire an every-second cron once per second between them, never twice', { timeout: 20_000 }, async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const harness = await startHarness({ databaseUrl: database.url, worker: false });
    cleanups.push(() => harness.close());
    const { stepwise, orgId } = harness;
    const workflow = await stepwise.workflows.create(orgId, {
      title: 'every second',
      steps: [{ id: 'say', tool: 'log', params: { message: 'tick' } }],
    });
    const schedule = await stepwise.schedules.createCron(orgId, workflow.id, { cron: '* * * * * *' });

    // Built by `npm test`'s pretest (npx tsc -p tsconfig.build.json): real processes, real timers.
    const env = {
      STEPWISE_DATABASE_URL: database.url,
      STEPWISE_DATA_DIR: harness.dataDir,
      LOG_LEVEL: 'warn',
    };
    const schedulers = Array.from({ length: PROCESSES }, () => WorkerProcess.spawn(env, 'scheduler'));
    cleanups.push(() => Promise.all(schedulers.map((p) => p.kill())).then(() => undefined));
    const firings = () => stepwise.schedules.firings(orgId, schedule.id, 1000);
    await waitFor(async () => (await firings()).length > 0, 10_000, 'a first firing');
    await new Promise((resolve) => setTimeout(resolve, RUN_FOR_MS));
    expect(await Promise.all(schedulers.map((p) => p.terminate()))).toEqual(schedulers.map(() => 0));

    const runs = await stepwise.runs.list(orgId, { workflow_id: workflow.id, limit: 500 });
    const runFireTimes = runs.map((run) => Date.parse(String(run.trigger.fire_at))).sort((a, b) => a - b);
    expect(runFireTimes.length).toBeGreaterThanOrEqual(RUN_FOR_MS / 1000);
    // One run per fire time, and no second left out between the first and the last.
    expect(new Set(runFireTimes).size).toBe(runFireTimes.length);
    expect(runFireTimes.slice(1).map((time, i) => time - runFireTimes[i]!)).toEqual(
      runFireTimes.slice(1).map(() => 1000),
    );
    // The firings table agrees: one row per slot, naming that slot's run.
    const recorded = (await firings()).sort((a, b) => a.fire_at - b.fire_at);
    expect(recorded.map((firing) => firing.fire_at)).toEqual(runFireTimes);
    const runBySlot = new Map(runs.map((run) => [Date.parse(String(run.trigger.fire_at)), run.id]));
    for (const firing of recorded) expect(firing.run_id).toBe(runBySlot.get(firing.fire_at));

    const errors = schedulers.flatMap((p) => p.output).filter((line) => /"level":(50|60)/.test(line));
    expect(errors).toEqual([]);
  });
});
