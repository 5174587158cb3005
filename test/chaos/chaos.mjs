#!/usr/bin/env node
// The fault checker's long mode: `npm run chaos -- --minutes 30 [--seed N] [--backend sqlite|postgres]`.
// It runs the same vitest file as `npm test` (vitest compiles the TypeScript harness, so no other
// loader is needed), with CHAOS_* variables for the budget, the seed and the backend. PostgreSQL
// runs when STEPWISE_TEST_DATABASE_URL is set. Build first (`npm run build`): the processes run dist/.
import { spawnSync } from 'node:child_process';
import { env, exit, stderr, stdout } from 'node:process';
import { parseArgs } from 'node:util';

const say = (line) => stdout.write(`${line}\n`);

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    seed: { type: 'string' },
    backend: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  stderr.write('--minutes must be a positive number\n');
  exit(2);
}
if (values.backend && !['sqlite', 'postgres'].includes(values.backend)) {
  stderr.write('--backend must be sqlite or postgres\n');
  exit(2);
}
const seed = values.seed ?? String(Math.floor(Math.random() * 2 ** 31));
say(
  `chaos: ${minutes} min of faults per backend, seed ${seed}${values.backend ? `, ${values.backend} only` : ''}`,
);
if (!env.STEPWISE_TEST_DATABASE_URL && values.backend !== 'sqlite')
  say('chaos: STEPWISE_TEST_DATABASE_URL is unset, so PostgreSQL is skipped');
const result = spawnSync('npx', ['vitest', 'run', 'test/chaos/fault-checker.test.ts'], {
  stdio: 'inherit',
  env: {
    ...env,
    CHAOS_MINUTES: String(minutes),
    CHAOS_SEED: seed,
    ...(values.backend ? { CHAOS_BACKEND: values.backend } : {}),
    ...(values.verbose ? { CHAOS_VERBOSE: '1' } : {}),
  },
});
exit(result.status ?? 1);
