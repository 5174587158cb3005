import type { WorkflowGeneration } from '../domain/generation.js';
import type { Millis, WorkflowRecord } from '../domain/model.js';

/** A workflow awaiting its steps, leased to one generation runner. */
export interface ClaimedGeneration {
  workflow: WorkflowRecord;
  /** How many times a runner claimed this generation, this claim included; more than one means a runner died mid-way. */
  claims: number;
}

/** The org already has `generating` workflows generating, its cap: nothing was written. */
export class GenerationCapReached extends Error {
  constructor(readonly generating: number) {
    super(`the org already has ${generating} workflows generating`);
    this.name = 'GenerationCapReached';
  }
}

/**
 * The generation queue: workflows with status `generating` are the jobs. A runner leases one
 * (`generation_lease_owner`, `generation_lease_expires_at`), so two processes never generate
 * the same workflow at once, and a runner that dies leaves a lease that expires, after which
 * another claims it again. While `generating`, a workflow is written only through here:
 * `Store.updateWorkflow` refuses it.
 */
export interface GenerationStore {
  /**
   * Marks the org's workflow `generating` with `generation` (a pending one), unleased and
   * claimable at once, and sets `updated_at = now`. With `maxGenerating`, the org's
   * generating workflows are counted in the same transaction (one org at a time, in every
   * process), so concurrent requests cannot pass the cap together.
   * @returns the workflow after the change; null when it does not exist or already generates.
   * @throws GenerationCapReached when the org already has `maxGenerating` generating.
   */
  requestGeneration(
    orgId: string,
    workflowId: string,
    generation: WorkflowGeneration,
    now: Millis,
    maxGenerating?: number | null,
  ): Promise<WorkflowRecord | null>;
  /**
   * Leases up to `limit` generating workflows that no live lease holds (never claimed, or
   * whose lease expired), until `now + leaseMs`, taking turns between orgs: an org's k-th
   * waiting generation has turn k plus those of the org under a live lease, lowest turn
   * first, oldest request first among equals. Counts the claim.
   */
  claimGenerations(owner: string, limit: number, leaseMs: number, now: Millis): Promise<ClaimedGeneration[]>;
  /** Extends `owner`'s lease. @returns false when the lease was lost (expired and claimed, finished, deleted). */
  renewGenerationLease(owner: string, workflowId: string, leaseMs: number, now: Millis): Promise<boolean>;
  /** Rewrites the `generation` field while `owner` holds the lease. @returns false when it does not. */
  saveGenerationProgress(owner: string, workflowId: string, generation: WorkflowGeneration): Promise<boolean>;
  /**
   * Hands a generation back unfinished (a runner shutting down): `generation` is written,
   * the lease cleared and the claim uncounted, so another runner starts it at once.
   * @returns false when `owner` no longer holds the lease.
   */
  releaseGeneration(owner: string, workflowId: string, generation: WorkflowGeneration): Promise<boolean>;
  /**
   * Writes the generated workflow (status, definition, version, generation, …; its
   * definition stored as `workflow.version` when that version is new) and releases the
   * lease, when `owner` still holds it and the workflow is still generating and not deleted.
   * @returns false otherwise, and nothing is written.
   */
  finishGeneration(owner: string, workflow: WorkflowRecord): Promise<boolean>;
}
