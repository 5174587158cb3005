import type { Clock } from '../domain/clock.js';
import { notFound, StepwiseError, validationError } from '../domain/errors.js';
import { checkEventFilters } from '../domain/event-filter.js';
import type { WorkflowGeneration } from '../domain/generation.js';
import { newId } from '../domain/ids.js';
import type { TriggerConfig, WorkflowRecord } from '../domain/model.js';
import {
  slugFromTitle,
  workflowInputSchema,
  workflowPatchSchema,
  type ParsedWorkflowInput,
  type WorkflowInput,
  type WorkflowPatch,
} from '../domain/workflow-input.js';
import {
  parseWorkflowDefinition,
  zodToValidationError,
  type WorkflowDefinition,
} from '../domain/workflow.js';
import { parseCron, parseTimezone } from '../domain/schedule.js';
import type { Store } from '../store/store.js';

export interface ToolCatalog {
  has(name: string): boolean;
}

/** Told after every saved change, e.g. to keep a scheduled workflow's schedule in step. */
export interface WorkflowHooks {
  saved(workflow: WorkflowRecord): Promise<void>;
  deleted(orgId: string, workflowId: string): Promise<void>;
}

const MAX_SLUG_ATTEMPTS = 50;

/** Creating, editing and reading workflows. Every edit of steps, timeout, concurrency, throttle, max_iterations or priority makes a new version. */
export class WorkflowService {
  constructor(
    private readonly store: Store,
    private readonly tools: ToolCatalog,
    private readonly clock: Clock,
    private readonly hooks?: WorkflowHooks,
  ) {}

  /**
   * Creates a workflow. With `options.generation` (a pending one) it is created `generating`,
   * and a generation runner will write its steps. Without a `slug` in `raw`, it takes
   * `options.freeSlugFrom` (else one made from the title), or a numbered variant when taken.
   */
  async create(
    orgId: string,
    raw: WorkflowInput,
    options: {
      generation?: WorkflowGeneration;
      freeSlugFrom?: string;
      /** The org's cap on generating workflows, checked with the insert (GenerationCapReached). */
      maxGenerating?: number | null;
    } = {},
  ): Promise<WorkflowRecord> {
    const parsed = workflowInputSchema.safeParse(raw);
    if (!parsed.success) throw zodToValidationError(parsed.error);
    const input = parsed.data;
    const definition = this.checkDefinition({
      steps: input.steps,
      timeout_ms: input.timeout_ms,
      concurrency: input.concurrency,
      throttle: input.throttle,
      max_iterations: input.max_iterations,
      priority: input.priority,
    });
    checkTrigger(input.trigger_config);
    const now = this.clock.now();
    const base: Omit<WorkflowRecord, 'slug'> = {
      id: newId('wf'),
      org_id: orgId,
      title: input.title,
      description: input.description,
      status: options.generation ? 'generating' : input.status,
      trigger_config: input.trigger_config as TriggerConfig,
      is_public: input.is_public,
      credit_cost: input.credit_cost,
      callback_url: input.callback_url,
      metadata: input.metadata,
      version: 1,
      definition,
      generation: options.generation ?? null,
      created_at: now,
      updated_at: now,
    };
    if (input.slug) {
      const workflow = { ...base, slug: input.slug };
      await this.store.insertWorkflow(workflow, options.maxGenerating);
      return this.saved(workflow);
    }
    return this.saved(
      await this.insertWithFreeSlug(
        base,
        options.freeSlugFrom ?? slugFromTitle(input.title),
        options.maxGenerating,
      ),
    );
  }

  async update(orgId: string, id: string, raw: WorkflowPatch): Promise<WorkflowRecord> {
    const parsed = workflowPatchSchema.safeParse(raw);
    if (!parsed.success) throw zodToValidationError(parsed.error);
    // zod fills defaults even in a partial schema: keep only what the caller sent.
    const sent = raw as Record<string, unknown>;
    const patch = Object.fromEntries(
      Object.entries(parsed.data).filter(([field]) => sent[field] !== undefined),
    ) as typeof parsed.data;
    const current = await this.get(orgId, id);
    if (current.status === 'generating') throw generationInProgress(current.id);
    const definitionChanged =
      patch.steps !== undefined ||
      patch.timeout_ms !== undefined ||
      patch.concurrency !== undefined ||
      patch.throttle !== undefined ||
      patch.max_iterations !== undefined ||
      patch.priority !== undefined;
    const definition = definitionChanged
      ? this.checkDefinition({
          steps: patch.steps ?? current.definition.steps,
          timeout_ms: patch.timeout_ms ?? current.definition.timeout_ms,
          concurrency: patch.concurrency ?? current.definition.concurrency,
          throttle: patch.throttle ?? current.definition.throttle,
          max_iterations: patch.max_iterations ?? current.definition.max_iterations,
          priority: patch.priority ?? current.definition.priority,
        })
      : current.definition;
    if (patch.trigger_config) checkTrigger(patch.trigger_config);
    const next: WorkflowRecord = {
      ...current,
      title: patch.title ?? current.title,
      description: patch.description ?? current.description,
      slug: patch.slug ?? current.slug,
      status: patch.status ?? current.status,
      trigger_config: (patch.trigger_config as TriggerConfig | undefined) ?? current.trigger_config,
      is_public: patch.is_public ?? current.is_public,
      credit_cost: patch.credit_cost ?? current.credit_cost,
      callback_url: patch.callback_url === undefined ? current.callback_url : patch.callback_url,
      metadata: patch.metadata ? { ...current.metadata, ...patch.metadata } : current.metadata,
      definition,
      version: definitionChanged ? current.version + 1 : current.version,
      updated_at: this.clock.now(),
    };
    if (!(await this.store.updateWorkflow(next, current.version))) {
      throw new StepwiseError(
        'CONCURRENT_EDIT',
        409,
        `workflow '${id}' was changed by another request; read it and try again`,
      );
    }
    return this.saved(next);
  }

  /**
   * Marks the workflow `generating` with a pending `generation`; its schedule pauses until
   * the generation ends.
   * @throws StepwiseError 409 when it is already generating (or was deleted meanwhile);
   *   GenerationCapReached when the org already generates `maxGenerating` workflows.
   */
  async requestGeneration(
    current: WorkflowRecord,
    generation: WorkflowGeneration,
    maxGenerating: number | null = null,
  ): Promise<WorkflowRecord> {
    const marked = await this.store.generations.requestGeneration(
      current.org_id,
      current.id,
      generation,
      this.clock.now(),
      maxGenerating,
    );
    if (!marked) throw generationInProgress(current.id);
    return this.saved(marked);
  }

  /**
   * Saves the end of a generation that `owner` holds the lease of: with `steps`, the steps
   * (checked like any edit) as a new version and status `active`; without, status `failed`.
   * @returns the saved workflow, or null when the lease was lost (nothing is written).
   */
  async finishGeneration(
    owner: string,
    current: WorkflowRecord,
    outcome: {
      generation: WorkflowGeneration;
      steps?: unknown[];
      timeout_ms?: number;
      credit_cost?: number;
      metadata?: Record<string, unknown>;
    },
  ): Promise<WorkflowRecord | null> {
    const next: WorkflowRecord = {
      ...current,
      status: outcome.steps ? 'active' : 'failed',
      generation: outcome.generation,
      credit_cost: outcome.credit_cost ?? current.credit_cost,
      metadata: outcome.metadata ? { ...current.metadata, ...outcome.metadata } : current.metadata,
      updated_at: this.clock.now(),
    };
    if (outcome.steps) {
      next.definition = this.checkDefinition({
        ...current.definition,
        steps: outcome.steps,
        timeout_ms: outcome.timeout_ms ?? current.definition.timeout_ms,
      });
      next.version = current.version + 1;
    }
    if (!(await this.store.generations.finishGeneration(owner, next))) return null;
    return this.saved(next);
  }

  /** Finds a workflow by id, or by slug when no id matches. */
  async get(orgId: string, idOrSlug: string): Promise<WorkflowRecord> {
    const workflow =
      (await this.store.getWorkflow(orgId, idOrSlug)) ??
      (await this.store.getWorkflowBySlug(orgId, idOrSlug));
    if (!workflow) throw notFound('workflow', idOrSlug);
    return workflow;
  }

  list(orgId: string, page: { limit: number; offset: number }): Promise<WorkflowRecord[]> {
    return this.store.listWorkflows(orgId, page);
  }

  async delete(orgId: string, id: string): Promise<void> {
    if (!(await this.store.deleteWorkflow(orgId, id, this.clock.now()))) throw notFound('workflow', id);
    await this.hooks?.deleted(orgId, id);
  }

  /** The definition a run pinned, whatever edits came after. */
  async definitionAt(workflowId: string, version: number): Promise<WorkflowDefinition> {
    const definition = await this.store.getWorkflowVersion(workflowId, version);
    if (!definition) throw notFound('workflow version', `${workflowId}@${version}`);
    return definition;
  }

  private async saved(workflow: WorkflowRecord): Promise<WorkflowRecord> {
    await this.hooks?.saved(workflow);
    return workflow;
  }

  private checkDefinition(fields: Record<string, unknown>): WorkflowDefinition {
    // Absent fields stay absent in the stored definition.
    const raw = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
    return parseWorkflowDefinition(raw, (tool) => this.tools.has(tool));
  }

  private async insertWithFreeSlug(
    base: Omit<WorkflowRecord, 'slug'>,
    wanted: string,
    maxGenerating?: number | null,
  ): Promise<WorkflowRecord> {
    for (let n = 1; n <= MAX_SLUG_ATTEMPTS; n += 1) {
      const workflow = { ...base, slug: n === 1 ? wanted : `${wanted.slice(0, 60)}${n}` };
      try {
        await this.store.insertWorkflow(workflow, maxGenerating);
        return workflow;
      } catch (error) {
        if (!(error instanceof StepwiseError) || error.code !== 'SLUG_TAKEN') throw error;
      }
    }
    throw validationError('slug', `slug: '${wanted}' and its numbered variants are taken; give a slug`);
  }
}

export const generationInProgress = (id: string): StepwiseError =>
  new StepwiseError(
    'GENERATION_IN_PROGRESS',
    409,
    `workflow '${id}' is generating its steps; wait until its status is 'active' or 'failed', then edit it`,
  );

function checkTrigger(trigger: ParsedWorkflowInput['trigger_config']): void {
  if (trigger.type === 'event') checkEventFilters(trigger.filters);
  const zone = parseTimezone(trigger.timezone ?? 'UTC', 'trigger_config.timezone');
  if (trigger.type === 'scheduled' && trigger.schedule)
    parseCron(trigger.schedule, zone, 'trigger_config.schedule');
}
