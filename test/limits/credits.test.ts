import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import type { Stepwise } from '../../src/app/stepwise.js';
import type { Clock } from '../../src/domain/clock.js';
import { StepwiseError } from '../../src/domain/errors.js';
import type { CreditEntry } from '../../src/domain/model.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { startHarness, waitForRun, type Harness } from '../support/stepwise-harness.js';

const BACKENDS = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres', enabled: Boolean(testDatabaseUrl) },
] as const;

const failing = [{ id: 'boom', tool: 'transform', params: { expression: '$error("no")' } }];
const quick = [{ id: 'one', tool: 'log', params: { message: 'hi' } }];
const slow = [{ id: 'wait', tool: 'delay', params: { duration: '1h' } }];

async function refusal(promise: Promise<unknown>): Promise<StepwiseError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StepwiseError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

/** The system clock until a test freezes it at an instant (and moves it by setting another). */
let frozenAt: number | null = null;
const clock: Clock = { now: () => frozenAt ?? Date.now() };

async function ledgerSum(stepwise: Stepwise, orgId: string): Promise<number> {
  const entries = await stepwise.credits.ledger(orgId, { limit: 500 });
  return entries.reduce((sum, entry) => sum + entry.amount, 0);
}

for (const backend of BACKENDS) {
  describe.skipIf(!backend.enabled)(`credits and pre-flight on ${backend.name}`, () => {
    let database: TestDatabase | null = null;
    let harness: Harness;
    let stepwise: Stepwise;

    beforeAll(async () => {
      if (backend.name === 'postgres') database = await createTestDatabase();
      harness = await startHarness({
        databaseUrl: database?.url,
        worker: false,
        clock,
        env: {
          STEPWISE_PLANS: JSON.stringify({
            tiny: { max_concurrent_runs: 2, monthly_credits: 30, workflows: { max_credit_cost: 10 } },
            wide: { max_concurrent_runs: 1000, monthly_credits: 0, workflows: 'all' },
            monthly: { max_concurrent_runs: 1000, monthly_credits: 30, workflows: 'all', rate_limits: null },
          }),
        },
      });
      stepwise = harness.stepwise;
    });
    afterAll(async () => {
      await harness?.close();
      await database?.drop();
    });

    let n = 0;
    const newKey = (plan: string) => {
      n += 1;
      return stepwise.keys.create({ orgName: `org${n}`, scopes: ['admin'], plan });
    };
    const newOrg = async (plan: string) => (await newKey(plan)).org_id;
    afterEach(async () => {
      await stepwise.worker?.stop(0);
      stepwise.worker = null;
      frozenAt = null;
      vi.restoreAllMocks();
    });

    it('grants the plan credits to a new org, and refuses in document 003 order', async () => {
      const org = await newOrg('tiny');
      expect(await stepwise.credits.balance(org)).toBe(30);
      // 1. exists
      expect((await refusal(stepwise.runs.start(org, 'nope'))).code).toBe('NOT_FOUND');
      // 2. plan access
      const pricey = await stepwise.workflows.create(org, { title: 'Pricey', credit_cost: 11, steps: slow });
      const denied = await refusal(stepwise.runs.start(org, pricey.id));
      expect([denied.code, denied.status]).toEqual(['PLAN_ACCESS_DENIED', 403]);
      expect(denied.message).toContain("'tiny' plan");
      // 3. concurrency (before credits: two runs fill the cap, the balance would still allow one more)
      const wf = await stepwise.workflows.create(org, { title: 'Ten', credit_cost: 10, steps: slow });
      await stepwise.runs.start(org, wf.id);
      await stepwise.runs.start(org, wf.id);
      const busy = await refusal(stepwise.runs.start(org, wf.id));
      expect([busy.code, busy.status]).toEqual(['CONCURRENCY_LIMIT', 429]);
      expect(busy.retryAfterSeconds).toBeGreaterThan(0);
      // 4. credits: with both cancelled (released), spend the 30 on three completed runs
      for (const run of await stepwise.runs.list(org)) await stepwise.runs.cancel(org, run.id);
      expect(await stepwise.credits.balance(org)).toBe(30);
      const paid = await stepwise.workflows.create(org, { title: 'Quick', credit_cost: 10, steps: quick });
      await stepwise.startWorker();
      for (let i = 0; i < 3; i += 1) {
        const { run } = await stepwise.runs.start(org, paid.id);
        expect((await waitForRun(stepwise, run.id)).status).toBe('completed');
      }
      const broke = await refusal(stepwise.runs.start(org, paid.id));
      expect([broke.code, broke.status]).toEqual(['INSUFFICIENT_CREDITS', 402]);
      expect(broke.message).toContain("costs 10 credits and the org's balance is 0");
      expect(await ledgerSum(stepwise, org)).toBe(0);
    });

    it('accepts exactly as many of 200 concurrent starts as the balance pays for', async () => {
      const org = await newOrg('wide');
      await stepwise.credits.grant(org, 50 * 7, 'for 50 runs');
      const wf = await stepwise.workflows.create(org, { title: 'Seven', credit_cost: 7, steps: slow });
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, () => stepwise.runs.start(org, wf.id, { input: {} })),
      );
      const accepted = results.filter((r) => r.status === 'fulfilled');
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as StepwiseError] : []));
      expect(accepted).toHaveLength(50);
      expect(refused).toHaveLength(150);
      expect(new Set(refused.map((e) => `${e.code} ${e.status}`))).toEqual(
        new Set(['INSUFFICIENT_CREDITS 402']),
      );
      expect(refused[0]!.message).toMatch(/costs 7 credits and the org's balance is 0/);
      expect(await stepwise.credits.balance(org)).toBe(0);
      expect(await ledgerSum(stepwise, org)).toBe(0);
      const reserves = (await stepwise.credits.ledger(org, { limit: 500 })).filter(
        (e) => e.kind === 'reserve',
      );
      expect(reserves).toHaveLength(50);
    });

    it('consumes on completion, releases on failure and cancel; the ledger sums to the balance', async () => {
      const org = await newOrg('wide');
      await stepwise.credits.grant(org, 100, 'start');
      const ok = await stepwise.workflows.create(org, { title: 'Ok', credit_cost: 5, steps: quick });
      const bad = await stepwise.workflows.create(org, { title: 'Bad', credit_cost: 6, steps: failing });
      const hold = await stepwise.workflows.create(org, { title: 'Hold', credit_cost: 7, steps: slow });
      const done = await stepwise.runs.start(org, ok.id);
      const failed = await stepwise.runs.start(org, bad.id);
      const cancelled = await stepwise.runs.start(org, hold.id);
      expect(await stepwise.credits.balance(org)).toBe(100 - 5 - 6 - 7);
      await stepwise.startWorker();
      const doneRun = await waitForRun(stepwise, done.run.id);
      const failedRun = await waitForRun(stepwise, failed.run.id);
      expect(doneRun.status).toBe('completed');
      expect(failedRun.status).toBe('failed');
      expect([doneRun.credits_reserved, doneRun.credits_consumed]).toEqual([5, 5]);
      expect([failedRun.credits_reserved, failedRun.credits_consumed]).toEqual([6, 0]);
      await stepwise.runs.cancel(org, cancelled.run.id);
      const cancelledRun = await waitForRun(stepwise, cancelled.run.id);
      expect(cancelledRun.credits_consumed).toBe(0);
      expect(await stepwise.credits.balance(org)).toBe(95);
      expect(await ledgerSum(stepwise, org)).toBe(95);
      const byRun = (await stepwise.credits.ledger(org, { limit: 100 })).map((e) => [
        e.run_id,
        e.kind,
        e.amount,
      ]);
      expect(byRun).toEqual(
        expect.arrayContaining([
          [done.run.id, 'reserve', -5],
          [done.run.id, 'consume', 0],
          [failed.run.id, 'reserve', -6],
          [failed.run.id, 'release', 6],
          [cancelled.run.id, 'reserve', -7],
          [cancelled.run.id, 'release', 7],
        ]),
      );
      expect(byRun).toHaveLength(7);
      // A cancel of a finished run changes nothing.
      await expect(stepwise.runs.cancel(org, cancelled.run.id)).rejects.toThrow(/already finished/);
      expect(await ledgerSum(stepwise, org)).toBe(95);
    });

    it('an event-triggered start that fails pre-flight is a failed trigger, not a crash', async () => {
      const org = await newOrg('wide');
      await stepwise.workflows.create(org, {
        title: 'On lead',
        credit_cost: 3,
        steps: quick,
        trigger_config: { type: 'event', event_type: 'lead.new' },
      });
      const delivery = await stepwise.events.publish(org, 'lead.new', { id: 1 });
      expect(delivery.started_run_ids).toEqual([]);
      expect(delivery.failed_triggers.map((f) => f.code)).toEqual(['INSUFFICIENT_CREDITS']);
    });

    it('free workflows write no ledger entries; an idempotent replay reserves once', async () => {
      const org = await newOrg('wide');
      await stepwise.credits.grant(org, 10, 'start');
      const free = await stepwise.workflows.create(org, { title: 'Free', steps: slow });
      await stepwise.runs.start(org, free.id);
      const paid = await stepwise.workflows.create(org, { title: 'Paid', credit_cost: 4, steps: slow });
      const first = await stepwise.runs.start(org, paid.id, { idempotency_key: 'k1' });
      const again = await stepwise.runs.start(org, paid.id, { idempotency_key: 'k1' });
      expect(again.created).toBe(false);
      expect(again.run.id).toBe(first.run.id);
      const entries = await stepwise.credits.ledger(org);
      expect(entries.map((e) => e.kind).sort()).toEqual(['grant', 'reserve']);
      expect(await stepwise.credits.balance(org)).toBe(6);
    });

    it('renews the monthly allowance on the 1st (UTC): refused with 402 on Nov 30, admitted on Dec 1', async () => {
      frozenAt = Date.UTC(2024, 10, 30, 23, 59, 58);
      const { key, org_id: org } = await newKey('monthly');
      const app = await buildServer(stepwise);
      try {
        const headers = { 'x-api-key': key };
        const wf = await stepwise.workflows.create(org, { title: 'Ten', credit_cost: 10, steps: slow });
        const start = async () =>
          (await app.inject({ method: 'POST', url: `/v1/workflows/${wf.id}/run`, headers, payload: {} }))
            .statusCode;
        for (let i = 0; i < 3; i += 1) expect(await start()).toBe(201);
        expect(await start()).toBe(402);
        expect(await stepwise.credits.balance(org)).toBe(0);

        // Three seconds on: the org is still cached, with November as its period.
        frozenAt = Date.UTC(2024, 11, 1, 0, 0, 1);
        const renewals = vi.spyOn(stepwise.store.limits, 'renewCredits');
        for (let i = 0; i < 3; i += 1) expect(await start()).toBe(201);
        // The allowance tops up to 30; it does not add 30 per month.
        expect(await start()).toBe(402);
        const statement = await app.inject({
          method: 'GET',
          url: `/v1/admin/orgs/${org}/credits?limit=500`,
          headers,
        });
        // One renewal, then no store call per start: the cached period is the current one.
        expect(renewals).toHaveBeenCalledTimes(1);
        const body = statement.json<{
          balance: number;
          renews_at: string;
          entries: (Omit<CreditEntry, 'created_at'> & { created_at: string })[];
        }>();
        expect(body.balance).toBe(0);
        expect(body.renews_at).toBe('2025-01-01T00:00:00.000Z');
        expect(
          body.entries.filter((e) => e.kind === 'grant').map((e) => [e.amount, e.reason, e.created_at]),
        ).toEqual([
          [30, "monthly allowance of the 'monthly' plan for 2024-12", '2024-12-01T00:00:01.000Z'],
          [30, "initial grant of the 'monthly' plan", '2024-11-30T23:59:58.000Z'],
        ]);
        expect(body.entries.filter((e) => e.kind === 'reserve')).toHaveLength(6);
        expect(await ledgerSum(stepwise, org)).toBe(body.balance);
        expect((await stepwise.store.getOrg(org))?.credits_period).toBe('2024-12');
      } finally {
        await app.close();
      }
    });

    it('renews on a balance read or grant too; credits above the allowance carry over', async () => {
      const allowance = (period: string) => `monthly allowance of the 'monthly' plan for ${period}`;
      const renewalsOf = async (org: string) =>
        (await stepwise.credits.ledger(org, { limit: 500 })).filter((e) => e.reason?.startsWith('monthly'));
      frozenAt = Date.UTC(2025, 0, 20);
      const org = await newOrg('monthly');
      const unrenewed = await newOrg('wide');
      await stepwise.credits.grant(org, 45, 'extra');
      const wf = await stepwise.workflows.create(org, { title: 'Ten', credit_cost: 10, steps: slow });
      await stepwise.runs.start(org, wf.id);
      await stepwise.runs.start(org, wf.id);

      // February: 55 covers the allowance, so no entry; the surplus carries over.
      frozenAt = Date.UTC(2025, 1, 1, 8);
      expect(await stepwise.credits.balance(org)).toBe(55);
      expect(await renewalsOf(org)).toEqual([]);
      expect((await stepwise.store.getOrg(org))?.credits_period).toBe('2025-02');
      for (let i = 0; i < 5; i += 1) await stepwise.runs.start(org, wf.id);

      // March: a grant on the 1st comes on top of the renewed allowance, not toward it.
      frozenAt = Date.UTC(2025, 2, 1);
      expect(await stepwise.credits.grant(org, 50, 'march extra')).toBe(30 + 50);
      expect((await renewalsOf(org)).map((e) => [e.amount, e.reason])).toEqual([[25, allowance('2025-03')]]);

      // April: the statement is the first check, and shows the renewal it made.
      for (let i = 0; i < 8; i += 1) await stepwise.runs.start(org, wf.id);
      frozenAt = Date.UTC(2025, 3, 1);
      const april = await stepwise.credits.statement(org, { limit: 500 });
      expect(april.balance).toBe(30);
      expect(april.entries[0]).toMatchObject({ kind: 'grant', amount: 30, reason: allowance('2025-04') });
      expect(april.entries.reduce((sum, e) => sum + e.amount, 0)).toBe(30);

      // A plan without an allowance never renews.
      expect(await stepwise.credits.balance(unrenewed)).toBe(0);
      expect(await stepwise.credits.ledger(unrenewed)).toEqual([]);
      expect((await stepwise.credits.statement(unrenewed)).renews_at).toBeNull();
    });
  });
}

it.skipIf(!testDatabaseUrl)(
  'two Stepwise instances on one PostgreSQL share the balance and the concurrency cap',
  async () => {
    const database = await createTestDatabase();
    const env = {
      STEPWISE_PLANS: JSON.stringify({
        capped: { max_concurrent_runs: 30, monthly_credits: 0, workflows: 'all' },
      }),
    };
    const a = await startHarness({ databaseUrl: database.url, worker: false, env });
    const b = await startHarness({ databaseUrl: database.url, worker: false, env });
    try {
      const key = await a.stepwise.keys.create({ orgName: 'shared', scopes: ['admin'], plan: 'capped' });
      const org = key.org_id;
      await a.stepwise.credits.grant(org, 3 * 50, 'fifty runs');
      const paid = await a.stepwise.workflows.create(org, { title: 'Paid', credit_cost: 3, steps: slow });
      const starts = Array.from({ length: 200 }, (_, i) =>
        (i % 2 === 0 ? a : b).stepwise.runs.start(org, paid.id),
      );
      const results = await Promise.allSettled(starts);
      // The cap (30) binds before the credits (50).
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(30);
      const codes = new Set(
        results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as StepwiseError).code] : [])),
      );
      expect(codes).toEqual(new Set(['CONCURRENCY_LIMIT']));
      expect(await b.stepwise.credits.balance(org)).toBe(150 - 90);
    } finally {
      await a.close();
      await b.close();
      await database.drop();
    }
  },
  60_000,
);
