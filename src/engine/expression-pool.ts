import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { permanentFailure, StepFailure } from '../domain/errors.js';
import { timeoutMessage, type ExpressionEvaluator } from '../domain/expression.js';
import type { ExpressionOutcome, ExpressionReply, ExpressionTask } from './expression-process.js';

export interface ExpressionPoolConfig {
  /** Processes evaluating at once; further evaluations wait in a queue. */
  processes: number;
  /** Wall-clock budget of one evaluation, from the moment a process starts it. */
  timeoutMs: number;
  /** Heap of each process (V8's old generation); an evaluation that outgrows it ends its process. */
  memoryMb: number;
}

/**
 * The built entry of the evaluating processes, resolved from this module so that code
 * running from `src/` (the tests) and from `dist/` starts the same file: a forked Node
 * cannot load TypeScript.
 */
const PROCESS_FILE = fileURLToPath(new URL('../../dist/engine/expression-process.js', import.meta.url));

/**
 * JSONata notices its deadline between steps and fails cleanly, keeping its process; the
 * pool kills the process only this long after the deadline, when something native (a
 * catastrophic regex) is still running. A new process takes ~50 ms of CPU to start.
 */
const TERMINATE_GRACE_MS = 50;
/**
 * Evaluating processes yield the CPU to the server's own (nice 0): on a small machine two
 * runaway evaluations would otherwise slow every request while they last.
 */
const EVALUATION_NICENESS = 10;
/** Enough of a dead process's stderr to tell an out-of-memory abort from anything else. */
const STDERR_TAIL_CHARS = 4000;

interface Job {
  task: ExpressionTask;
  /** Settles the caller's promise; only the first call counts. */
  finish(outcome: ExpressionOutcome): void;
  fail(error: unknown): void;
}

interface Slot {
  child: ChildProcess;
  ready: boolean;
  job: Job | null;
  deadline: NodeJS.Timeout | null;
  stderrTail: string;
}

const unavailable = () =>
  new StepFailure(
    'EXPRESSION_UNAVAILABLE',
    'this process is shutting down and evaluates no more expressions',
  );

/**
 * Evaluates user expressions in a small pool of child processes, each with a capped heap,
 * so no tenant's expression can hold the server's event loop or grow its memory. A
 * process still evaluating past the time budget is killed (a native regex cannot be
 * interrupted otherwise) and replaced; one that runs out of heap dies and is replaced.
 *
 * Processes, not worker threads: a thread's `resourceLimits` are best-effort, and one
 * large allocation past them (`[1..10000000]` is enough) aborts the whole server
 * (nodejs/node#47224), where it only ends a child process.
 *
 * Processes start on the first evaluation, so commands that evaluate nothing start none.
 */
export class ExpressionPool implements ExpressionEvaluator {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private nextSpawn: NodeJS.Immediate | null = null;

  constructor(private readonly config: ExpressionPoolConfig) {}

  /**
   * @throws StepFailure (non-retriable) `EXPRESSION_INVALID`, `EXPRESSION_FAILED`,
   *   `EXPRESSION_TIMEOUT`, `EXPRESSION_TOO_LARGE`; retriable `EXPRESSION_FAILED` when its
   *   process died of something else, `EXPRESSION_UNAVAILABLE` once the pool is closed; the
   *   caller's `signal.reason` once it aborts.
   */
  async evaluate(expression: string, data: unknown, signal?: AbortSignal): Promise<unknown> {
    if (this.closed) throw unavailable();
    signal?.throwIfAborted();
    const task: ExpressionTask = {
      id: this.nextId++,
      expression,
      data,
      limits: { timeoutMs: this.config.timeoutMs },
    };
    const outcome = await new Promise<ExpressionOutcome>((resolve, reject) => {
      let settled = false;
      const once =
        <T>(settle: (value: T) => void) =>
        (value: T) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', abandon);
          settle(value);
          this.holdOpenWhileBusy();
        };
      const job: Job = { task, finish: once(resolve), fail: once(reject) };
      // A queued job leaves the queue; a running one is left to its deadline, its answer unread.
      const abandon = () => {
        const queued = this.queue.indexOf(job);
        if (queued >= 0) this.queue.splice(queued, 1);
        job.fail(signal!.reason);
      };
      signal?.addEventListener('abort', abandon, { once: true });
      this.queue.push(job);
      this.spawnMissing();
      this.dispatch();
      this.holdOpenWhileBusy();
    });
    if (!outcome.ok) throw permanentFailure(outcome.code, outcome.message, outcome.details);
    return outcome.json === undefined ? undefined : JSON.parse(outcome.json);
  }

  /** Starts the processes now rather than on the first evaluation: a run worker will evaluate soon. */
  start(): void {
    this.spawnMissing();
  }

  /** Ends the processes; evaluations queued or in flight fail with `EXPRESSION_UNAVAILABLE`. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.nextSpawn) clearImmediate(this.nextSpawn);
    for (const job of this.queue.splice(0)) job.fail(unavailable());
    const exits = this.slots.splice(0).map((slot) => {
      slot.job?.fail(unavailable());
      return this.stop(slot);
    });
    await Promise.all(exits);
  }

  /**
   * Spawns one process per turn of the event loop: `fork` blocks the caller while the
   * kernel copies the process (tens of milliseconds on a loaded machine), and several in
   * one turn would add up to a stall of the server.
   */
  private spawnMissing(): void {
    if (this.closed || this.nextSpawn || this.slots.length >= this.config.processes) return;
    this.slots.push(this.spawn());
    this.holdOpenWhileBusy();
    if (this.slots.length < this.config.processes) {
      this.nextSpawn = setImmediate(() => {
        this.nextSpawn = null;
        this.spawnMissing();
      });
    }
  }

  private spawn(): Slot {
    const child = fork(PROCESS_FILE, [], {
      // Nothing of the parent's environment (secrets, database URL, NODE_OPTIONS) reaches it.
      env: {},
      execArgv: [
        `--max-old-space-size=${this.config.memoryMb}`,
        `--max-semi-space-size=${Math.max(1, Math.floor(this.config.memoryMb / 16))}`,
      ],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const slot: Slot = { child, ready: false, job: null, deadline: null, stderrTail: '' };
    if (child.pid !== undefined) setPriority(child.pid, EVALUATION_NICENESS);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      slot.stderrTail = (slot.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    child.on('message', (reply: ExpressionReply) => this.replied(slot, reply));
    // `close`, not `exit`: by then stderr has been read to its end.
    child.once('close', (code, signal) => this.exited(slot, code, signal));
    child.once('error', (error) => this.exited(slot, null, null, error));
    child.unref();
    return slot;
  }

  /**
   * Evaluations waiting or running keep this process alive (a caller awaits them); an idle
   * pool does not, so a process that forgets to close it still exits.
   */
  private holdOpenWhileBusy(): void {
    const busy = this.queue.length > 0 || this.slots.some((slot) => slot.job !== null);
    for (const { child } of this.slots) {
      if (busy) child.channel?.ref();
      else child.channel?.unref();
    }
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.deadline = setTimeout(() => this.timedOut(slot), this.config.timeoutMs + TERMINATE_GRACE_MS);
      slot.child.send(job.task, (error) => {
        if (error) this.exited(slot, null, null, error);
      });
    }
  }

  private replied(slot: Slot, reply: ExpressionReply): void {
    if ('ready' in reply) slot.ready = true;
    else if (slot.job?.task.id === reply.id) {
      clearTimeout(slot.deadline!);
      const job = slot.job;
      slot.job = null;
      job.finish(reply.outcome);
    }
    this.dispatch();
  }

  /** The evaluation is still running past its budget: its process is killed, and its place given to a new one. */
  private timedOut(slot: Slot): void {
    const job = slot.job!;
    slot.job = null;
    this.retire(slot);
    void this.stop(slot);
    job.fail(permanentFailure('EXPRESSION_TIMEOUT', timeoutMessage(this.config.timeoutMs)));
  }

  private exited(slot: Slot, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    if (!this.slots.includes(slot)) return;
    slot.job?.fail(this.deathOf(slot, code, signal, error));
    slot.job = null;
    if (!slot.ready && !this.slots.some((other) => other.ready)) {
      // The entry cannot start (not built?): fail the waiting jobs rather than respawn in a loop.
      const failure = new Error(
        `the expression process did not start (${error?.message ?? `exit ${code ?? signal}`}): ${slot.stderrTail.trim()}`,
      );
      for (const queued of this.queue.splice(0)) queued.fail(failure);
    }
    this.retire(slot);
  }

  private deathOf(slot: Slot, code: number | null, signal: NodeJS.Signals | null, error?: Error): Error {
    if (/heap out of memory|Allocation failed/.test(slot.stderrTail)) {
      return permanentFailure(
        'EXPRESSION_TOO_LARGE',
        `expression needed more memory than its limit of ${this.config.memoryMb} MB`,
      );
    }
    const how = error ? error.message : code !== null ? `exit code ${code}` : `signal ${signal}`;
    return new StepFailure(
      'EXPRESSION_FAILED',
      `the process evaluating the expression ended unexpectedly (${how})`,
    );
  }

  /** Takes a slot out of the pool and, when jobs wait, starts its replacement. */
  private retire(slot: Slot): void {
    if (slot.deadline) clearTimeout(slot.deadline);
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    if (this.queue.length > 0) this.spawnMissing();
  }

  private stop(slot: Slot): Promise<void> {
    if (slot.child.exitCode !== null || slot.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      slot.child.once('exit', () => resolve());
      // Held until it is gone, so that close() resolves rather than the event loop running dry.
      slot.child.ref();
      slot.child.kill('SIGKILL');
    });
  }
}
