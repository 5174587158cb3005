import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RunRecord } from '../domain/model.js';
import type { Store } from '../store/store.js';
import { CheckpointQueue } from './checkpoint-queue.js';
import { renewSlots } from './concurrency-slot.js';
import type { ExecutionDeps } from './execution-deps.js';
import { RunExecution } from './run-execution.js';
import { sleepUntilNextDue, WakeUp } from './wake-up.js';

/** Enough parallel batches for PostgreSQL to share WAL flushes, few enough to leave pool connections for claims and reads. */
const PARALLEL_POSTGRES_COMMITS = 4;

export interface WorkerConfig {
  /** Runs executed at once by this worker. */
  concurrency: number;
  /** How long a claim lasts without a heartbeat; a crashed worker's runs come back after this. */
  leaseMs: number;
  /** Longest sleep between claim attempts when no wake-up signal arrives. */
  pollMs: number;
}

export type WorkerDeps = Omit<ExecutionDeps, 'checkpoints'> & { store: Store };

/**
 * Claims runnable runs under a lease and executes them, `concurrency` at a time.
 * Wakes on store signals (NOTIFY / in-process), on a timer for the next scheduled
 * wake-up, and on a poll as the fallback. Heartbeats keep its leases alive and deliver
 * cancel requests.
 */
export class Worker {
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly active = new Map<string, RunExecution>();
  private readonly checkpoints: CheckpointQueue;
  private running = false;
  private readonly wakeUp = new WakeUp();
  private loopDone: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private readonly executions = new Set<Promise<void>>();
  /** Settles when the run's latest execution here ends: a re-claimed run's next one waits for it. */
  private readonly settled = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: WorkerDeps,
    private readonly config: WorkerConfig,
  ) {
    this.checkpoints = new CheckpointQueue(deps.store, {
      maxBatch: 1000,
      parallelCommits: deps.store.backend === 'postgres' ? PARALLEL_POSTGRES_COMMITS : 1,
    });
  }

  /** Runs currently held by this worker. */
  get activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unlisten = await this.deps.store.listen({
      runsAvailable: () => this.signal(),
      cancelRequested: (runId) => this.active.get(runId)?.stop('cancel'),
    });
    const every = Math.max(100, Math.floor(this.config.leaseMs / 3));
    this.heartbeat = setInterval(() => void this.renewLeases(), every);
    this.heartbeat.unref();
    this.loopDone = this.claimLoop();
  }

  /**
   * Graceful stop: no new claims; in-flight runs get `graceMs` to finish their step,
   * then are aborted and handed back so another worker resumes them at once.
   */
  async stop(graceMs = 0): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.signal();
    await this.loopDone;
    const settled = Promise.allSettled([...this.executions]);
    const timedOut = await Promise.race([
      settled.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
    ]);
    if (timedOut) {
      for (const execution of this.active.values()) execution.stop('shutdown');
      await settled;
    }
    await this.checkpoints.drain();
    const leftovers = [...this.active.values()].map((execution) => execution.lease);
    if (leftovers.length > 0) await this.deps.store.releaseLeases(leftovers, this.deps.clock.now());
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.unlisten?.();
  }

  private signal(): void {
    this.wakeUp.signal();
  }

  private async claimLoop(): Promise<void> {
    while (this.running) {
      this.wakeUp.beginRound();
      const free = this.config.concurrency - this.active.size;
      let claimed: RunRecord[] = [];
      const lookedAt = this.deps.clock.now();
      if (free > 0) {
        try {
          const askedAt = performance.now();
          claimed = await this.deps.store.claimRunnableRuns(this.owner, free, this.config.leaseMs, lookedAt);
          if (claimed.length > 0) await this.launch(claimed, askedAt + this.config.leaseMs);
        } catch (error) {
          this.deps.log('error', 'claiming runs failed; retrying after the poll interval', {
            error: String(error),
          });
        }
      }
      if (!this.running) break;
      // A fair claim gives an org at most its share: a short batch may leave due runs of
      // other orgs, so any run claimed is a reason to ask again before sleeping.
      if (this.wakeUp.pending || (free > 0 && claimed.length > 0)) continue;
      const sleepMs =
        free > 0
          ? await sleepUntilNextDue(
              (at) => this.deps.store.nextAvailableAt(at),
              lookedAt,
              () => this.deps.clock.now(),
              this.config.pollMs,
            )
          : this.config.pollMs;
      await this.wakeUp.sleep(sleepMs);
    }
  }

  /** @param leaseConfirmedUntil `performance.now()` before the claim was asked, plus the lease. */
  private async launch(runs: RunRecord[], leaseConfirmedUntil: number): Promise<void> {
    const resumed = runs.filter((run) => run.step_index > 0 || run.current_step > 0).map((run) => run.id);
    const outputs =
      resumed.length > 0
        ? await this.deps.store.loadStepOutputs(resumed)
        : new Map<string, Record<string, unknown>>();
    for (const run of runs) {
      const execution = new RunExecution(
        run,
        outputs.get(run.id) ?? {},
        {
          ...this.deps,
          checkpoints: this.checkpoints,
          draining: () => !this.running,
          concurrency: { store: this.deps.store, leaseMs: this.config.leaseMs },
        },
        leaseConfirmedUntil,
      );
      // A starved heartbeat can let our own lease lapse and this claim hand the run back to
      // us. The old execution is fenced off (its epoch is stale) and has stopped or is
      // stopping at its lease's end; the new one starts once it has, so the run's steps
      // never run twice at once.
      this.active.get(run.id)?.stop('lease_lost');
      const previous = this.settled.get(run.id) ?? Promise.resolve();
      this.active.set(run.id, execution);
      const done: Promise<void> = previous
        .then(() => execution.execute())
        .catch((error: unknown) => {
          this.deps.log('error', 'a run execution failed unexpectedly; it resumes after its lease expires', {
            run_id: run.id,
            error: execution.redactText(
              error instanceof Error ? (error.stack ?? error.message) : String(error),
            ),
          });
        })
        .finally(() => {
          // A run stopped for shutdown keeps its lease until stop() hands it back.
          const current = this.active.get(run.id) === execution;
          if (current && (this.running || !isHeldForRelease(execution))) this.active.delete(run.id);
          if (this.settled.get(run.id) === done) this.settled.delete(run.id);
          this.executions.delete(done);
          this.signal();
        });
      this.settled.set(run.id, done);
      this.executions.add(done);
    }
  }

  /**
   * Extends every lease this worker holds. A lease the store no longer has under the
   * execution's epoch stops that execution; one that was renewed is confirmed until the
   * moment the renewal was asked for plus the lease. A renewal that fails confirms
   * nothing, so an execution whose renewals keep failing stops at its lease's end.
   */
  private async renewLeases(): Promise<void> {
    const executions = [...this.active.values()];
    if (executions.length === 0) return;
    try {
      const now = this.deps.clock.now();
      const askedAt = performance.now();
      const renewed = await this.deps.store.renewLeases(
        this.owner,
        executions.map((execution) => execution.lease),
        this.config.leaseMs,
        now,
      );
      const held = new Map(renewed.map((renewal) => [renewal.id, renewal]));
      for (const execution of executions) {
        const renewal = held.get(execution.id);
        if (!renewal) execution.stop('lease_lost');
        else {
          execution.leaseConfirmed(askedAt + this.config.leaseMs);
          if (renewal.cancel_requested) execution.stop('cancel');
        }
      }
      const slots = renewed.flatMap(({ id }) => this.active.get(id)?.slot ?? []);
      await renewSlots(this.deps.store.limits, slots, now + this.config.leaseMs);
    } catch (error) {
      this.deps.log('warn', 'renewing leases failed; will try again', { error: String(error) });
    }
  }
}

function isHeldForRelease(execution: RunExecution): boolean {
  return execution.stoppedFor === 'shutdown';
}
