import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { formatReport, runFaultChecker, type ChaosOptions } from './fault-checker.js';

/**
 * The randomized fault checker on both backends. `npm test` runs a short fixed budget;
 * `npm run chaos -- --minutes 30 [--seed N] [--backend sqlite|postgres]` runs the long mode
 * through the same test with CHAOS_* variables. A failure lists each violated invariant and
 * the seed that replays it.
 */
const minutes = Number(process.env.CHAOS_MINUTES ?? '0');
const activeMs = minutes > 0 ? minutes * 60_000 : 30_000;
const settleMs = minutes > 0 ? 90_000 : 40_000;
const seedFor = (backend: string) =>
  process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : backend === 'sqlite' ? 20_240_611 : 20_240_612;
const only = process.env.CHAOS_BACKEND;
const budget = activeMs + settleMs + 90_000;

let database: TestDatabase | null = null;
afterEach(async () => {
  await database?.drop().catch(() => undefined);
  database = null;
});

async function check(options: ChaosOptions): Promise<void> {
  const report = await runFaultChecker({
    ...options,
    log: process.env.CHAOS_VERBOSE ? console.log : undefined,
  });
  console.log(formatReport(report));
  expect(report.runsStarted, 'the harness started no run').toBeGreaterThan(0);
  const listed = report.violations.map((v) => `${v.invariant}${v.run ? ` ${v.run}` : ''}: ${v.detail}`);
  expect(
    listed,
    `invariants violated with seed ${report.seed} on ${report.backend} (replay: npm run chaos -- --seed ${report.seed} --backend ${report.backend})`,
  ).toEqual([]);
}

describe('randomized fault checker', () => {
  it.skipIf(only !== undefined && only !== 'sqlite')(
    'SQLite: one serve process, SIGKILLed and SIGSTOPped at random, keeps every invariant',
    async () => {
      await check({ backend: 'sqlite', seed: seedFor('sqlite'), activeMs, settleMs });
    },
    budget,
  );

  it.skipIf(!testDatabaseUrl || (only !== undefined && only !== 'postgres'))(
    'PostgreSQL: serve + 3 workers under kills, pauses, clock skew and terminated connections keep every invariant',
    async () => {
      database = await createTestDatabase();
      await check({
        backend: 'postgres',
        seed: seedFor('postgres'),
        activeMs,
        settleMs,
        databaseUrl: database.url,
      });
    },
    budget,
  );
});
