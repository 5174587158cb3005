import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_ORG_NAME, DEFAULT_SITE_NAME } from '../services/bootstrap.js';
import type { KeyService } from '../services/key-service.js';

/**
 * On the first start of an empty database: an operator key for org `default`, printed once
 * and written to `<data dir>/admin-key.txt` (0600). STEPWISE_BOOTSTRAP_KEY chooses it.
 * @returns the key when one was created.
 */
export async function bootstrapAdminKey(
  keys: KeyService,
  options: { dataDir: string; presetKey: string | null; print: (line: string) => void },
): Promise<string | null> {
  if (!(await keys.noKeysYet())) return null;
  const created = await keys.create({
    orgName: DEFAULT_ORG_NAME,
    siteName: DEFAULT_SITE_NAME,
    scopes: ['operator'],
    name: 'bootstrap operator',
    presetKey: options.presetKey ?? undefined,
  });
  if (!options.presetKey) {
    mkdirSync(options.dataDir, { recursive: true });
    const file = path.join(options.dataDir, 'admin-key.txt');
    writeFileSync(file, `${created.key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    options.print(`Created the operator API key (shown once; also in ${file}):\n\n  ${created.key}\n`);
  }
  return created.key;
}
