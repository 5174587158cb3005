import { isConnectionLost } from '../store/open-store.js';
import type { RunCheckpoint, Store } from '../store/store.js';

/** How much of the database's message a refusal repeats: enough to say what was wrong. */
const REASON_CHARS = 200;

/**
 * The store refused a run's checkpoint even in a commit of its own: something in it cannot
 * be stored. The message gives the database's reason, first line only.
 */
export class CheckpointRefused extends Error {
  /** The database's reason, first line, at most `REASON_CHARS` characters. */
  readonly reason: string;

  constructor(
    readonly runId: string,
    cause: unknown,
  ) {
    const reason = (cause instanceof Error ? cause.message : String(cause))
      .split('\n')[0]!
      .slice(0, REASON_CHARS);
    super(`the store refused the checkpoint of run '${runId}': ${reason}`, { cause });
    this.name = 'CheckpointRefused';
    this.reason = reason;
  }
}

interface Pending {
  checkpoint: RunCheckpoint;
  waiters: ((ok: boolean) => void)[];
  failers: ((error: unknown) => void)[];
}

export interface CheckpointQueueConfig {
  /** Most checkpoints in one commit. */
  maxBatch: number;
  /**
   * Commits in flight at once. PostgreSQL flushes the WAL of concurrent commits together,
   * so a few parallel batches multiply throughput; SQLite has one writer, so 1.
   */
  parallelCommits: number;
}

/**
 * Group commit: checkpoints submitted while commits are in progress wait and go to
 * the store together in the next one, so a busy worker pays one transaction (and one
 * fsync) for many step results instead of one each. Two checkpoints of the same run in
 * one batch merge (the later progress wins; steps and events keep their order), and a
 * run never has checkpoints in two commits at once, so its writes land in order. When a
 * batch fails, its checkpoints are committed one by one, so one run's bad value fails that
 * run's submit only; a batch that lost its connection is tried again whole, never refused.
 */
export class CheckpointQueue {
  private readonly queue = new Map<string, Pending>();
  private readonly committing = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private scheduled = false;

  constructor(
    private readonly store: Store,
    private readonly config: CheckpointQueueConfig = { maxBatch: 1000, parallelCommits: 1 },
  ) {}

  /**
   * Resolves once the checkpoint is durable: true, or false when the run's lease was lost.
   * Rejects with `CheckpointRefused` when the store refuses it even in a commit of its own.
   */
  submit(checkpoint: RunCheckpoint): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const existing = this.queue.get(checkpoint.run_id);
      if (existing && existing.checkpoint.lease_epoch === checkpoint.lease_epoch) {
        existing.checkpoint = {
          ...checkpoint,
          steps: [...existing.checkpoint.steps, ...checkpoint.steps],
          events: [...existing.checkpoint.events, ...checkpoint.events],
          wake_parent_run_id: checkpoint.wake_parent_run_id ?? existing.checkpoint.wake_parent_run_id,
        };
        existing.waiters.push(resolve);
        existing.failers.push(reject);
      } else if (existing && existing.checkpoint.lease_epoch > checkpoint.lease_epoch) {
        // A later claim of the run is already writing: this one's lease is gone.
        resolve(false);
      } else {
        // An earlier claim's checkpoint still queued is fenced off by this one's claim.
        existing?.waiters.forEach((settle) => settle(false));
        this.queue.set(checkpoint.run_id, { checkpoint, waiters: [resolve], failers: [reject] });
      }
      this.schedule();
    });
  }

  /** Resolves when everything submitted so far is committed. */
  async drain(): Promise<void> {
    while (this.queue.size > 0 || this.inFlight.size > 0) {
      if (this.inFlight.size > 0) await Promise.race(this.inFlight);
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Yield once so checkpoints submitted in the same tick join the same batch.
    setImmediate(() => {
      this.scheduled = false;
      this.startCommits();
    });
  }

  private startCommits(): void {
    while (this.inFlight.size < this.config.parallelCommits) {
      const batch = this.takeBatch();
      if (batch.length === 0) return;
      const commit = this.commit(batch).finally(() => {
        this.inFlight.delete(commit);
        for (const item of batch) this.committing.delete(item.checkpoint.run_id);
        if (this.queue.size > 0) this.startCommits();
      });
      this.inFlight.add(commit);
    }
  }

  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    for (const [runId, item] of this.queue) {
      if (batch.length >= this.config.maxBatch) break;
      if (this.committing.has(runId)) continue;
      this.queue.delete(runId);
      this.committing.add(runId);
      batch.push(item);
    }
    return batch;
  }

  private async commit(batch: Pending[], retryingLostConnection = false): Promise<void> {
    try {
      const results = await this.store.checkpointRuns(batch.map((item) => item.checkpoint));
      batch.forEach((item, i) => item.waiters.forEach((resolve) => resolve(results[i] ?? false)));
    } catch (error) {
      if (isConnectionLost(error)) {
        // Nothing was refused: the connection went away (a restart, a terminated backend).
        // One more try on a new connection; after that the error is the submitters', and
        // their runs resume from what was stored once their leases expire.
        if (!retryingLostConnection) return this.commit(batch, true);
        for (const item of batch) item.failers.forEach((reject) => reject(error));
        return;
      }
      if (batch.length === 1) {
        const refused = new CheckpointRefused(batch[0]!.checkpoint.run_id, error);
        batch[0]!.failers.forEach((reject) => reject(refused));
        return;
      }
      // A group commit is not a shared fate: one checkpoint the database refuses must not
      // fail the runs it was batched with, so each is tried alone and only its own submit fails.
      for (const item of batch) await this.commit([item]);
    }
  }
}
