import Database from 'better-sqlite3';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunCheckpoint } from '../../src/store/store.js';
import type { StepDefinitionInput } from '../../src/domain/workflow.js';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { startHarness, waitForRun, type Harness } from '../support/stepwise-harness.js';

const BACKENDS = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres', enabled: Boolean(testDatabaseUrl) },
] as const;

const HEALTHY_RUNS = 12;

/**
 * A loopback server that holds requests until `expected` have arrived, then answers them
 * all in one turn (later ones at once), so the steps that sent them finish together and
 * their results meet in one group commit.
 */
async function startGate(expected: number, answer: (path: string) => unknown) {
  const held: { res: ServerResponse; path: string }[] = [];
  const idempotencyKeys: string[] = [];
  let open = false;
  const reply = (res: ServerResponse, path: string) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer(path)));
  };
  const server = createServer((req, res) => {
    idempotencyKeys.push(String(req.headers['idempotency-key']));
    const path = new URL(req.url ?? '/', 'http://gate').pathname;
    if (open) return reply(res, path);
    held.push({ res, path });
    if (held.length < expected) return;
    open = true;
    for (const request of held.splice(0)) reply(request.res, request.path);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    idempotencyKeys,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

for (const backend of BACKENDS) {
  describe.skipIf(!backend.enabled)(`hostile step results on ${backend.name}`, () => {
    let server: HttpRecorder;
    let database: TestDatabase | null = null;
    let h: Harness;

    beforeAll(async () => {
      server = await startHttpRecorder();
      if (backend.name === 'postgres') database = await createTestDatabase();
    });
    afterAll(async () => {
      await server.close();
      await database?.drop();
    });
    beforeEach(async () => {
      server.reset();
      await database?.reset();
      h = await startHarness({ databaseUrl: database?.url, concurrency: 32 });
    });
    afterEach(async () => {
      vi.restoreAllMocks();
      await h.close();
    });

    const create = (steps: StepDefinitionInput[]) =>
      h.stepwise.workflows.create(h.orgId, { title: `wf ${Math.random()}`, steps });

    /**
     * Runs `count` healthy two-step runs beside one run of `hostile` steps, whose first step
     * fetches `hostileBody` at `{{ input.gate }}/hostile`; every first step is answered at once.
     */
    async function runAlongside(hostile: StepDefinitionInput[], hostileBody: unknown, count = HEALTHY_RUNS) {
      const gate = await startGate(count + 1, (path) => (path === '/hostile' ? hostileBody : { ok: true }));
      try {
        const batches: RunCheckpoint[][] = [];
        const commit = h.stepwise.store.checkpointRuns.bind(h.stepwise.store);
        vi.spyOn(h.stepwise.store, 'checkpointRuns').mockImplementation((checkpoints) => {
          batches.push(checkpoints);
          return commit(checkpoints);
        });
        const healthy = await create([
          { id: 'fetch', tool: 'http', params: { url: `${gate.url}/ok?n={{ input.n }}` } },
          { id: 'note', tool: 'log', params: { message: 'fetched {{ steps.fetch.output.status }}' } },
        ]);
        const poisoned = await create(hostile);
        const started = await Promise.all([
          ...Array.from({ length: count }, (_, n) =>
            h.stepwise.runs.start(h.orgId, healthy.id, { input: { n } }),
          ),
          h.stepwise.runs.start(h.orgId, poisoned.id, { input: { gate: gate.url } }),
        ]);
        const runs = await Promise.all(started.map(({ run }) => waitForRun(h.stepwise, run.id, 15_000)));
        const hostileRun = runs.at(-1)!;
        // The premise: the hostile result went to the store in a batch with healthy ones. SQLite
        // commits one batch at a time, so the answers released together always share one; on
        // PostgreSQL four commits run in parallel and the hostile one may go alone, when this
        // run checks the outcome only.
        const shared = batches.filter((batch) =>
          batch.some((c) => c.run_id === hostileRun.id && c.steps.length > 0),
        );
        if (h.stepwise.store.backend === 'sqlite') {
          expect(Math.max(...shared.map((batch) => batch.length))).toBeGreaterThan(1);
        }
        const sent = gate.idempotencyKeys;
        return { healthy: runs.slice(0, -1), hostile: hostileRun, sent };
      } finally {
        await gate.close();
      }
    }

    /** Each healthy run's `fetch` was sent exactly once: none was re-run after a lease expiry. */
    function expectEachHealthyFetchOnce(runIds: string[], sent: string[]) {
      expect(runIds.map((id) => sent.filter((key) => key === `${id}:fetch`).length)).toEqual(
        runIds.map(() => 1),
      );
    }

    it('stores a response body with a lone surrogate and NUL as U+FFFD, and the runs beside it finish once', async () => {
      const body = { text: 'x\ud800y', nul: 'a\u0000b', '\udfff': ['\udc00'] };
      const stored = { text: 'x\ufffdy', nul: 'a\ufffdb', '\ufffd': ['\ufffd'] };
      const { healthy, hostile, sent } = await runAlongside(
        [
          { id: 'fetch', tool: 'http', params: { url: '{{ input.gate }}/hostile' } },
          {
            id: 'echo',
            tool: 'http',
            params: { method: 'POST', url: `${server.url}/echo`, json: '{{ steps.fetch.output.body }}' },
          },
        ],
        body,
      );

      expect(healthy.map((run) => run.status)).toEqual(healthy.map(() => 'completed'));
      expectEachHealthyFetchOnce(
        healthy.map((run) => run.id),
        sent,
      );
      expect(hostile.status).toBe('completed');
      expect(sent.filter((key) => key === `${hostile.id}:fetch`)).toHaveLength(1);
      // The next step saw what the store holds, as a resumed execution would.
      expect(server.requestsTo('/echo').map((request) => request.json)).toEqual([stored]);
      const steps = await h.stepwise.store.listRunSteps(hostile.id);
      expect(steps.map((step) => step.status)).toEqual(['completed', 'completed']);
      expect((steps[0]!.output as { body: unknown }).body).toEqual(stored);
    });

    it('fails only the step whose result the database refuses, once, and lets its batch commit', async () => {
      // A real refusal by the database, of a value normalisation cannot foresee.
      await refuseStepOutputsContaining('poison');
      const { healthy, hostile, sent } = await runAlongside(
        [
          { id: 'fetch', tool: 'http', params: { url: '{{ input.gate }}/hostile' }, continue_on_error: true },
          { id: 'after', tool: 'http', params: { url: `${server.url}/after` } },
        ],
        { payload: 'poison' },
      );

      expect(healthy.map((run) => run.status)).toEqual(healthy.map(() => 'completed'));
      expectEachHealthyFetchOnce(
        healthy.map((run) => run.id),
        sent,
      );
      expect(hostile.status).toBe('partial_complete');
      expect(sent.filter((key) => key === `${hostile.id}:fetch`)).toHaveLength(1);
      expect(server.requestsTo('/after')).toHaveLength(1);
      const steps = await h.stepwise.store.listRunSteps(hostile.id);
      expect(steps.map((step) => [step.step_id, step.status])).toEqual([
        ['fetch', 'failed'],
        ['after', 'completed'],
      ]);
      expect(steps[0]).toMatchObject({
        input: null,
        output: null,
        error: {
          code: 'STEP_RESULT_NOT_STORABLE',
          message: expect.stringMatching(/^step 'fetch': the store refused its result \(.*poisoned/),
        },
      });
      const types = (await h.stepwise.store.listRunEvents(hostile.id)).map((event) => event.type);
      expect(types.filter((type) => type === 'step.failed')).toHaveLength(1);
      expect(types).not.toContain('step.retry_scheduled');
    });

    /** Makes the database refuse (raise an error on) any step attempt whose output holds `marker`. */
    async function refuseStepOutputsContaining(marker: string): Promise<void> {
      if (database) {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        try {
          await client.query(`CREATE OR REPLACE FUNCTION refuse_marked_output() RETURNS trigger AS $$
            BEGIN
              IF NEW.output::text LIKE '%${marker}%' THEN RAISE EXCEPTION 'poisoned output refused'; END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql`);
          await client.query(`CREATE TRIGGER refuse_marked_output BEFORE INSERT ON run_steps
            FOR EACH ROW EXECUTE FUNCTION refuse_marked_output()`);
        } finally {
          await client.end();
        }
        return;
      }
      const db = new Database(path.join(h.dataDir, 'stepwise.db'));
      db.exec(`CREATE TRIGGER refuse_marked_output BEFORE INSERT ON run_steps
        WHEN NEW.output LIKE '%${marker}%' BEGIN SELECT RAISE(ABORT, 'poisoned output refused'); END`);
      db.close();
    }
  });
}
