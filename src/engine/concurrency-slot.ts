import { concurrencyGroup, renderGroupKey } from '../domain/flow-control.js';
import type { Millis, RunEventInput, RunEventRecord, RunEventType, RunRecord } from '../domain/model.js';
import type { WorkflowDefinition } from '../domain/workflow.js';
import type { LimitStore } from '../store/limit-store.js';
import type { Store } from '../store/store.js';
import type { ExecutionDeps } from './execution-deps.js';

/** A run refused a concurrency slot tries again after this long. */
export const CONCURRENCY_RECHECK_MS = 250;

/** What a run of a workflow declaring `concurrency` takes and gives back its slot with. */
export interface ConcurrencySlots {
  /** Its `lastRunEvent` tells whether the run is already waiting for its group. */
  store: Pick<Store, 'limits' | 'lastRunEvent'>;
  /** A slot lasts this long unless renewed with the run's lease (so a crashed worker's slot frees itself). */
  leaseMs: number;
}

/**
 * How an attempt to take the slot went, with the timeline events it calls for: `run.woke`
 * when a run that was waiting got it, `run.waiting` when a run not yet waiting was refused.
 */
export type SlotAttempt =
  { held: true; events: RunEventInput[] } | { held: false; events: RunEventInput[]; retryAt: Millis };

/** The run's slot when its workflow declares `concurrency` and slots are enforced; else null. */
export function slotFor(
  run: RunRecord,
  definition: WorkflowDefinition,
  deps: Pick<ExecutionDeps, 'concurrency' | 'log'>,
): RunSlot | null {
  if (!definition.concurrency || !deps.concurrency) return null;
  return new RunSlot(run, definition.concurrency, deps.concurrency, deps.log);
}

/** One run's slot of its workflow's concurrency group. */
export class RunSlot {
  private readonly group: string;
  private holding = false;

  constructor(
    private readonly run: RunRecord,
    private readonly concurrency: NonNullable<WorkflowDefinition['concurrency']>,
    private readonly slots: ConcurrencySlots,
    private readonly log: ExecutionDeps['log'],
  ) {
    let rendered = '';
    try {
      rendered = renderGroupKey(concurrency.key, run, 'concurrency.key');
    } catch {
      // Checked when the run started; a key that no longer renders shares one group.
    }
    this.group = concurrencyGroup(run.workflow_id, rendered);
  }

  get runId(): string {
    return this.run.id;
  }

  /** True from a granted `acquire` until `release`; the worker renews it with the run's lease. */
  get held(): boolean {
    return this.holding;
  }

  /**
   * Takes the slot if the group has room. Whether the run was already waiting is read from
   * its newest event rather than kept in memory, so a wait re-checked by another worker or
   * process still shows once on the timeline; a waiting run writes nothing else.
   */
  async acquire(now: Millis): Promise<SlotAttempt> {
    const { store, leaseMs } = this.slots;
    // Independent of each other, so they share one round trip.
    const [held, last] = await Promise.all([
      store.limits.acquireConcurrencySlot(
        this.group,
        this.run.id,
        this.concurrency.limit,
        now + leaseMs,
        now,
      ),
      store.lastRunEvent(this.run.id),
    ]);
    this.holding = held;
    const waitingSince = this.isWaitForThisGroup(last) ? last.at : null;
    if (!held) {
      const events = waitingSince === null ? [this.event('run.waiting', {}, now)] : [];
      return { held, events, retryAt: now + CONCURRENCY_RECHECK_MS };
    }
    if (waitingSince === null) return { held, events: [] };
    return { held, events: [this.event('run.woke', { waited_ms: now - waitingSince }, now)] };
  }

  async release(): Promise<void> {
    if (!this.holding) return;
    this.holding = false;
    try {
      await this.slots.store.limits.releaseConcurrencySlot(this.group, this.run.id);
    } catch (error) {
      // The slot expires with the lease it was renewed with.
      this.log('warn', 'releasing a concurrency slot failed; it frees itself on expiry', {
        run_id: this.run.id,
        group: this.group,
        error: String(error),
      });
    }
  }

  private isWaitForThisGroup(event: RunEventRecord | null): event is RunEventRecord {
    return (
      event?.type === 'run.waiting' && event.data.reason === 'concurrency' && event.data.group === this.group
    );
  }

  private event(type: RunEventType, data: Record<string, unknown>, at: Millis): RunEventInput {
    return { run_id: this.run.id, type, data: { reason: 'concurrency', group: this.group, ...data }, at };
  }
}

/** Extends the held slots to `expiresAt`, the expiry their runs' leases were just renewed to. */
export async function renewSlots(
  limits: Pick<LimitStore, 'renewConcurrencySlots'>,
  slots: RunSlot[],
  expiresAt: Millis,
): Promise<void> {
  const runIds = slots.filter((slot) => slot.held).map((slot) => slot.runId);
  if (runIds.length > 0) await limits.renewConcurrencySlots(runIds, expiresAt);
}
