import type { RunCheckpoint, Store } from '../store/store.js';

interface Pending {
  checkpoint: RunCheckpoint;
  waiters: ((ok: boolean) => void)[];
  failers: ((error: unknown) => void)[];
}

/**
 * Group commit: checkpoints submitted while a commit is in progress wait and go to
 * the store together in the next one, so a busy worker pays one transaction (and one
 * fsync) for many step results instead of one each. Two checkpoints of the same run in
 * one batch merge: the later progress wins, steps and events keep their order.
 */
export class CheckpointQueue {
  private queue = new Map<string, Pending>();
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly maxBatch = 1000,
  ) {}

  /** Resolves once the checkpoint is durable: true, or false when the run's lease was lost. */
  submit(checkpoint: RunCheckpoint): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const existing = this.queue.get(checkpoint.run_id);
      if (existing && existing.checkpoint.owner === checkpoint.owner) {
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
      this.flushing ??= this.flushLoop();
    });
  }

  /** Resolves when everything submitted so far is committed. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    // Yield once so checkpoints submitted in the same tick join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.queue.size > 0) {
        const batch = [...this.queue.values()].slice(0, this.maxBatch);
        for (const item of batch) this.queue.delete(item.checkpoint.run_id);
        try {
          const results = await this.store.checkpointRuns(batch.map((item) => item.checkpoint));
          batch.forEach((item, i) => item.waiters.forEach((resolve) => resolve(results[i] ?? false)));
        } catch (error) {
          for (const item of batch) item.failers.forEach((reject) => reject(error));
        }
      }
    } finally {
      this.flushing = null;
    }
  }
}
