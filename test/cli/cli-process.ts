import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built binary, as `npx stepwise` runs it. Build first: `npx tsc -p tsconfig.build.json`. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * A `stepwise …` process with its own environment: only PATH and what the test gives, so
 * nothing from the shell running the tests (PORT, STEPWISE_*) leaks in.
 */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
      for (const listener of this.listeners) listener();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      for (const listener of this.listeners) listener();
    });
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        for (const listener of this.listeners) listener();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      }),
    );
  }

  static spawn(args: string[], env: Record<string, string>, cwd?: string): CliProcess {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new CliProcess(child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first match of `pattern` in stdout + stderr; rejects on exit or timeout. */
  waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(`${this.stdout}\n${this.stderr}`);
        if (match) return done(() => resolve(match));
        if (!this.running)
          done(() =>
            reject(new Error(`process exited before printing ${pattern}:\n${this.stdout}\n${this.stderr}`)),
          );
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`)),
          ),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<CliResult> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

/** Runs `stepwise …args` to its end. */
export function runCli(args: string[], env: Record<string, string>, cwd?: string): Promise<CliResult> {
  return CliProcess.spawn(args, env, cwd).exited;
}

/** A fresh temp directory (for STEPWISE_DATA_DIR and workflow files) and its removal. */
export function tempDir(prefix = 'stepwise-cli-'): { dir: string; remove: () => Promise<void> } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: async () => rmSync(dir, { recursive: true, force: true }) };
}
