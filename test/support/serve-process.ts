import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CliProcess, tempDir } from '../cli/cli-process.js';

/** A real `stepwise serve` (API, worker, scheduler and dashboard) on an ephemeral port. */
export interface ServeProcess {
  url: string;
  /** The admin key the first start created, read from `<data dir>/admin-key.txt` as a user would. */
  adminKey: string;
  dataDir: string;
  process: CliProcess;
  /**
   * Fetches `path` with a second admin key of the same org, made for the test: its calls
   * spend their own per-key rate limit, not the budget of the key a browser signed in with.
   */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Spawns the built `dist/cli/main.js serve` on a fresh SQLite data dir, waits until it listens
 * and returns its URL and admin key. Build first (`npm run build`; `npm test` does).
 */
export async function startServe(env: Record<string, string> = {}): Promise<ServeProcess> {
  const temp = tempDir('stepwise-serve-');
  const dataDir = path.join(temp.dir, 'data');
  const child = CliProcess.spawn(['serve'], {
    STEPWISE_DATA_DIR: dataDir,
    STEPWISE_SQLITE_SYNCHRONOUS: 'NORMAL',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    STEPWISE_SHUTDOWN_GRACE_MS: '2000',
    ...env,
  });
  const stop = async () => {
    const drained = child.stop('SIGTERM');
    const timer = setTimeout(() => void child.stop('SIGKILL'), 10_000);
    await drained;
    clearTimeout(timer);
    await temp.remove();
  };
  try {
    const [, url] = await child.waitForOutput(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 20_000);
    const adminKey = readFileSync(path.join(dataDir, 'admin-key.txt'), 'utf8').trim();
    let harnessKey = adminKey;
    const api = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${harnessKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${route} → ${response.status}: ${text}`);
      return (text ? JSON.parse(text) : null) as T;
    };
    harnessKey = (
      await api<{ key: string }>('POST', '/v1/admin/keys', { scopes: ['admin'], name: 'test harness' })
    ).key;
    return { url: url!, adminKey, dataDir, process: child, api, stop };
  } catch (error) {
    await child.stop('SIGKILL');
    await temp.remove();
    throw error;
  }
}
