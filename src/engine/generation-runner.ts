import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LlmStepGenerator } from '../ai/workflow-generator.js';
import { planFromCatalogue } from '../domain/catalogue-planner.js';
import type { Clock } from '../domain/clock.js';
import { pendingGeneration, type WorkflowGeneration } from '../domain/generation.js';
import type { WorkflowRecord } from '../domain/model.js';
import type { WorkflowTemplate } from '../domain/template.js';
import type { ClaimedGeneration } from '../store/generation-store.js';
import type { Store } from '../store/store.js';
import { WakeUp } from './wake-up.js';

/** How a generation ended, for `WorkflowService.finishGeneration`: steps make it active, none failed. */
export interface GenerationOutcome {
  generation: WorkflowGeneration;
  steps?: unknown[];
  timeout_ms?: number;
  credit_cost?: number;
  metadata?: Record<string, unknown>;
}

export interface GenerationRunnerDeps {
  store: Store;
  clock: Clock;
  /** The LLM planner; null when no LLM is configured, and the catalogue planner answers. */
  llm: LlmStepGenerator | null;
  catalogue: readonly WorkflowTemplate[];
  /** Saves the outcome while `owner` holds the lease; null when it no longer does. */
  finish(owner: string, current: WorkflowRecord, outcome: GenerationOutcome): Promise<WorkflowRecord | null>;
  log(level: 'info' | 'warn' | 'error', message: string, data: Record<string, unknown>): void;
}

export interface GenerationRunnerConfig {
  /** Generations planned at once by this process. */
  concurrency: number;
  /** How long a claim lasts without renewal; a dead runner's generation is claimed again after it. */
  leaseMs: number;
  /** Longest sleep between claims without a wake-up. */
  pollMs: number;
  /** A generation claimed this many times without finishing (its runners kept dying) fails. Default 3. */
  maxClaims?: number;
}

/**
 * Plans the steps of workflows awaiting generation: claims them under a lease, renews it
 * while the planner works, and saves the steps (status `active`) or the reason (status
 * `failed`). A runner that dies mid-way leaves its lease to expire and another claims the
 * generation again; one that loses its lease abandons its work, so two runners never both
 * save one. Wakes at once on the store's `generationsAvailable` signal (NOTIFY on PostgreSQL,
 * so a generation requested in any process), and polls otherwise.
 */
export class GenerationRunner {
  readonly owner = `${hostname()}:${process.pid}:gen-${randomUUID().slice(0, 8)}`;
  private readonly inflight = new Map<string, { done: Promise<void>; abort: AbortController }>();
  private readonly wakeUp = new WakeUp();
  private running = false;
  private loopDone: Promise<void> | null = null;
  private unlisten: (() => Promise<void>) | null = null;

  constructor(
    private readonly deps: GenerationRunnerDeps,
    private readonly config: GenerationRunnerConfig,
  ) {}

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unlisten = await this.deps.store.listen({
      runsAvailable: () => undefined,
      cancelRequested: () => undefined,
      generationsAvailable: () => this.signal(),
    });
    this.loopDone = this.loop();
  }

  /** Stops claiming, aborts the generations in flight and hands them back, so another runner starts them at once. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.signal();
    await this.loopDone;
    for (const { abort } of this.inflight.values())
      abort.abort(new Error('the generation runner is stopping'));
    await Promise.allSettled([...this.inflight.values()].map((job) => job.done));
    await this.unlisten?.();
  }

  /** Claim now instead of at the next poll. */
  private signal(): void {
    this.wakeUp.signal();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.wakeUp.beginRound();
      const free = this.config.concurrency - this.inflight.size;
      if (free > 0) {
        try {
          const claimed = await this.deps.store.generations.claimGenerations(
            this.owner,
            free,
            this.config.leaseMs,
            this.deps.clock.now(),
          );
          for (const generation of claimed) this.launch(generation);
        } catch (error) {
          this.deps.log('error', 'claiming workflow generations failed; retrying after the poll interval', {
            error: String(error),
          });
        }
      }
      if (!this.running) break;
      await this.wakeUp.sleep(this.config.pollMs);
    }
  }

  private launch(claimed: ClaimedGeneration): void {
    const abort = new AbortController();
    const id = claimed.workflow.id;
    const done = this.generate(claimed, abort.signal)
      .catch((error: unknown) => {
        if (abort.signal.aborted) return;
        this.deps.log('error', 'a workflow generation failed unexpectedly; it is retried after its lease', {
          workflow_id: id,
          error: String(error),
        });
      })
      .finally(() => {
        this.inflight.delete(id);
        // A slot freed up: there may be more waiting.
        this.signal();
      });
    this.inflight.set(id, { done, abort });
  }

  private async generate({ workflow, claims }: ClaimedGeneration, signal: AbortSignal): Promise<void> {
    const now = this.deps.clock.now();
    const planner = this.deps.llm ? 'llm' : 'catalogue';
    const requested = workflow.generation ?? pendingGeneration(planner, {}, now);
    const running: WorkflowGeneration = { ...requested, state: 'running', planner, started_at: now };
    const maxClaims = this.config.maxClaims ?? 3;
    if (claims > maxClaims) {
      const error = `the generation was interrupted ${claims - 1} times (the process working on it stopped before it finished); ask again with regenerate-steps`;
      await this.save(workflow, { generation: this.ended(running, 'failed', { error }) });
      return;
    }
    if (!(await this.deps.store.generations.saveGenerationProgress(this.owner, workflow.id, running))) return;
    const heartbeat = setInterval(
      () => void this.renew(workflow.id, signal),
      Math.max(100, Math.floor(this.config.leaseMs / 3)),
    );
    try {
      const outcome = this.deps.llm
        ? await this.planWithLlm(this.deps.llm, workflow, running, signal)
        : this.planFromCatalogue(workflow, running);
      if (!signal.aborted) await this.save(workflow, outcome);
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      clearInterval(heartbeat);
    }
    // Stopped mid-way (not a lost lease, where the new holder owns it): hand it back as it was asked.
    if (signal.aborted && !this.running) {
      await this.deps.store.generations.releaseGeneration(this.owner, workflow.id, requested);
    }
  }

  private async renew(workflowId: string, signal: AbortSignal): Promise<void> {
    const job = this.inflight.get(workflowId);
    if (!job || signal.aborted) return;
    try {
      const { store, clock } = this.deps;
      if (
        !(await store.generations.renewGenerationLease(
          this.owner,
          workflowId,
          this.config.leaseMs,
          clock.now(),
        ))
      ) {
        job.abort.abort(new Error('the generation lease was lost'));
      }
    } catch (error) {
      this.deps.log('warn', 'renewing a generation lease failed; trying again', { error: String(error) });
    }
  }

  private async save(workflow: WorkflowRecord, outcome: GenerationOutcome): Promise<void> {
    let saved: WorkflowRecord | null;
    try {
      saved = await this.deps.finish(this.owner, workflow, outcome);
    } catch (error) {
      // The steps passed the planner's checks but not the save's (a bug or a bad template): say so.
      const failed = this.ended(outcome.generation, 'failed', {
        error: `the generated steps could not be saved: ${(error as Error).message}`,
      });
      saved = await this.deps.finish(this.owner, workflow, { generation: failed });
    }
    if (!saved)
      this.deps.log('warn', 'a generation lost its lease before it was saved', { workflow_id: workflow.id });
  }

  private ended(
    generation: WorkflowGeneration,
    state: 'succeeded' | 'failed',
    fields: Partial<WorkflowGeneration>,
  ): WorkflowGeneration {
    return { ...generation, ...fields, state, finished_at: this.deps.clock.now() };
  }

  private async planWithLlm(
    llm: LlmStepGenerator,
    workflow: WorkflowRecord,
    running: WorkflowGeneration,
    signal: AbortSignal,
  ): Promise<GenerationOutcome> {
    const result = await llm.generate(
      {
        title: workflow.title,
        description: workflow.description,
        trigger: workflow.trigger_config,
        request: running.request,
        previousSteps: workflow.definition.steps,
      },
      signal,
    );
    if (!result.ok) {
      return {
        generation: this.ended(running, 'failed', { attempts: result.attempts, error: result.error }),
      };
    }
    return {
      generation: this.ended(running, 'succeeded', { attempts: result.attempts, model: result.model }),
      steps: result.steps,
    };
  }

  private planFromCatalogue(workflow: WorkflowRecord, running: WorkflowGeneration): GenerationOutcome {
    const { request } = running;
    const plan = planFromCatalogue(
      {
        title: request.todo?.title ?? workflow.title,
        description: request.todo?.description ?? workflow.description,
        avoidToolSet: request.force_different_tools ? request.previous_tools : undefined,
      },
      this.deps.catalogue,
    );
    const generation = this.ended(running, 'succeeded', {
      attempts: 1,
      note: plan.note,
      ...(plan.template && { template_id: plan.template.id }),
    });
    if (!plan.template) return { generation, steps: plan.steps };
    return {
      generation,
      steps: plan.steps,
      timeout_ms: plan.timeout_ms,
      credit_cost: plan.credit_cost,
      ...(Object.keys(plan.inputs).length > 0 && { metadata: { inputs: plan.inputs } }),
    };
  }
}
