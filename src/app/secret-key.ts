import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
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
    // Written whole under a private name, then linked into place: two processes starting
    // together on a fresh data dir never read a half-written file, and the first link wins.
    const draft = `${file}.${process.pid}.${Date.now()}`;
    writeFileSync(draft, `${generateSecretKey()}\n`, { mode: 0o600 });
    try {
      linkSync(draft, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
  }
  return decodeSecretKey(readFileSync(file, 'utf8'));
}
