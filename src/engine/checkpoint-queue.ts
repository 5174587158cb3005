import type { RunCheckpoint, Store } from '../store/store.js';

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
 * run never has checkpoints in two commits at once, so its writes land in order.
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

  /** Resolves once the checkpoint is durable: true, or false when the run's lease was lost. */
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
      } else {
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

  private async commit(batch: Pending[]): Promise<void> {
    try {
      const results = await this.store.checkpointRuns(batch.map((item) => item.checkpoint));
      batch.forEach((item, i) => item.waiters.forEach((resolve) => resolve(results[i] ?? false)));
    } catch (error) {
      for (const item of batch) item.failers.forEach((reject) => reject(error));
    }
  }
}
