import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

/** Debian's libfaketime (package `faketime`), when installed: it shifts what Date.now() returns. */
export const FAKETIME_LIB = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find((candidate) => existsSync(candidate));

export type Backend = 'sqlite' | 'postgres';

/** An unexpected exit: a process the harness did not kill died on its own. */
export interface Death {
  name: string;
  code: number | null;
  signal: string | null;
  tail: string;
}

/** One real `stepwise serve` or `stepwise worker` process. */
export class StepwiseProcess {
  private output = '';
  private expectingExit = false;
  readonly exited: Promise<void>;
  paused = false;
  readonly startedAt = Date.now();

  constructor(
    readonly name: string,
    readonly command: 'serve' | 'worker',
    readonly env: Record<string, string>,
    readonly skewMs: number,
    onDeath: (death: Death) => void,
  ) {
    const preload =
      skewMs !== 0 && FAKETIME_LIB
        ? {
            LD_PRELOAD: FAKETIME_LIB,
            FAKETIME: `${skewMs >= 0 ? '+' : '-'}${Math.abs(skewMs) / 1000}s`,
            FAKETIME_DONT_FAKE_MONOTONIC: '1',
            FAKETIME_DONT_RESET: '1',
          }
        : {};
    const child: ChildProcess = spawn(process.execPath, [CLI, command], {
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env, ...preload },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.expectingExit) onDeath({ name, code, signal, tail: this.output.slice(-2000) });
        resolve();
      }),
    );
  }

  private readonly child: ChildProcess;

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return this.output;
  }

  /** Resolves when `pattern` appears in the output; rejects if the process exits or time runs out. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output);
      if (match) return match;
      if (!this.alive) throw new Error(`${this.name} exited before printing ${pattern}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not print ${pattern}:\n${this.output}`);
      await sleep(25);
    }
  }

  /** SIGKILL: no cleanup, no lease release. */
  async kill(): Promise<void> {
    this.expectingExit = true;
    if (this.paused) this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await this.exited;
  }

  pause(): void {
    this.paused = true;
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.paused = false;
    this.child.kill('SIGCONT');
  }

  async terminate(graceMs = 5000): Promise<void> {
    this.expectingExit = true;
    if (this.paused) this.resume();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A free loopback port, so a restarted `serve` comes back at the same URL. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ClusterOptions {
  backend: Backend;
  databaseUrl?: string;
  workers: number;
  leaseMs: number;
  onDeath: (death: Death) => void;
}

/**
 * The processes under test: one `serve` (API; on SQLite it owns the file and runs the worker
 * too) and, on PostgreSQL, `workers` more `stepwise worker` processes on the same database.
 */
export class Cluster {
  readonly dataDir = mkdtempSync(path.join(tmpdir(), 'stepwise-chaos-'));
  readonly bootstrapKey = `chaos_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  serve!: StepwiseProcess;
  workers: StepwiseProcess[] = [];
  url = '';
  private port = 0;
  private serial = 0;

  constructor(readonly options: ClusterOptions) {}

  env(leaseMs: number): Record<string, string> {
    return {
      STEPWISE_DATA_DIR: this.dataDir,
      ...(this.options.databaseUrl ? { STEPWISE_DATABASE_URL: this.options.databaseUrl } : {}),
      STEPWISE_ALLOW_PRIVATE_NETWORK: '1',
      STEPWISE_SQLITE_SYNCHRONOUS: 'NORMAL',
      STEPWISE_LEASE_MS: String(leaseMs),
      STEPWISE_POLL_MS: '100',
      STEPWISE_WORKER_CONCURRENCY: '8',
      STEPWISE_SHUTDOWN_GRACE_MS: '1000',
      STEPWISE_DEFAULT_PLAN: 'unlimited',
      STEPWISE_BOOTSTRAP_KEY: this.bootstrapKey,
      PORT: String(this.port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    };
  }

  async start(): Promise<void> {
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    await this.startServe(this.options.leaseMs);
    for (let i = 0; i < this.options.workers; i += 1)
      this.workers.push(this.spawnWorker(this.options.leaseMs, 0));
  }

  async startServe(leaseMs: number): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      this.serve = new StepwiseProcess(
        `serve#${(this.serial += 1)}`,
        'serve',
        this.env(leaseMs),
        0,
        (death) => this.options.onDeath(death),
      );
      try {
        await this.serve.waitFor(/Server listening at/, 30_000);
        return;
      } catch (error) {
        // The old process's port may linger a moment after a SIGKILL.
        if (attempt >= 5) throw error;
        await this.serve.kill();
        await sleep(300);
      }
    }
  }

  spawnWorker(leaseMs: number, skewMs: number): StepwiseProcess {
    return new StepwiseProcess(`worker#${(this.serial += 1)}`, 'worker', this.env(leaseMs), skewMs, (death) =>
      this.options.onDeath(death),
    );
  }

  /** Processes that run workers: the ones faults are aimed at. */
  get executors(): StepwiseProcess[] {
    return this.options.backend === 'sqlite' ? [this.serve] : this.workers;
  }

  async replace(victim: StepwiseProcess, leaseMs: number, skewMs = 0): Promise<StepwiseProcess> {
    if (victim === this.serve) {
      await this.startServe(leaseMs);
      return this.serve;
    }
    const fresh = this.spawnWorker(leaseMs, skewMs);
    this.workers = this.workers.map((worker) => (worker === victim ? fresh : worker));
    return fresh;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.workers, this.serve].filter(Boolean).map((p) => p.terminate()));
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
