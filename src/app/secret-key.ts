import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeSecretKey, generateSecretKey } from '../services/secret-box.js';

/**
 * The key that encrypts org secrets: STEPWISE_SECRET_KEY, or else one generated on
 * first start and kept in the data directory (mode 0600). Several machines sharing a
 * PostgreSQL database must all be given the same STEPWISE_SECRET_KEY.
 */
export function resolveSecretKey(configured: string | null, dataDir: string): Buffer {
  if (configured) return decodeSecretKey(configured);
  const file = path.join(dataDir, 'secret.key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${generateSecretKey()}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  }
  return decodeSecretKey(readFileSync(file, 'utf8'));
}
