import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { runScheduleStoreContract } from '../schedule-store.contract.js';
import { SqliteStore } from './sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'stepwise-sqlite-schedules-'));
let files = 0;

afterAll(() => rmSync(root, { recursive: true, force: true }));

runScheduleStoreContract({
  name: 'sqlite (:memory:)',
  createStore: async () => SqliteStore.open({ path: ':memory:' }),
});
runScheduleStoreContract({
  name: 'sqlite (file)',
  createStore: async () => SqliteStore.open({ path: join(root, `t${++files}`, 'stepwise.db') }),
});
