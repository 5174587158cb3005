import type { Clock } from '../domain/clock.js';
import {
  pendingGeneration,
  toolSetOf,
  type GenerationPlanner,
  type GenerationTodo,
} from '../domain/generation.js';
import type { WorkflowRecord } from '../domain/model.js';
import { generationLimitError } from '../domain/plan.js';
import type { WorkflowInput } from '../domain/workflow-input.js';
import { GenerationCapReached } from '../store/generation-store.js';
import type { PlanService } from './plan-service.js';
import { generationInProgress, type WorkflowService } from './workflow-service.js';

/** `regenerate-steps`: why, and whether the new steps must use other tools. */
export interface RegenerateRequest {
  reason?: string;
  force_different_tools?: boolean;
}

/**
 * Asking for AI-generated steps: a new workflow created `generating`, a regeneration, a
 * workflow for a todo item. The request is stored on the workflow and answered by a
 * generation runner (in this process or another, woken by the store's signal), so the caller
 * gets the workflow at once. Each org may have its plan's `max_generating_workflows`
 * generating at once (429 `GENERATION_LIMIT` past it), so one org cannot fill the queue.
 */
export class GenerationService {
  constructor(
    private readonly workflows: WorkflowService,
    private readonly clock: Clock,
    /** Which planner answers in this deployment: `llm` when an LLM is configured. */
    private readonly planner: GenerationPlanner,
    private readonly plans: PlanService,
  ) {}

  /** Creates the workflow `generating`, its steps to come from the planner. */
  async create(orgId: string, input: WorkflowInput, todo?: GenerationTodo): Promise<WorkflowRecord> {
    const generation = pendingGeneration(this.planner, todo ? { todo } : {}, this.clock.now());
    return this.withinCap(orgId, (maxGenerating) =>
      this.workflows.create(orgId, input, { generation, maxGenerating }),
    );
  }

  /**
   * Creates a workflow, `generating` when `generate` is asked and no steps were given: given
   * steps win, as there is nothing left to generate.
   */
  createOrGenerate(orgId: string, input: WorkflowInput, generate: boolean): Promise<WorkflowRecord> {
    const hasSteps = (input.steps ?? []).length > 0;
    return generate && !hasSteps ? this.create(orgId, input) : this.workflows.create(orgId, input);
  }

  /** Document 004's from-todo: a workflow titled after the todo, generated for it. */
  fromTodo(orgId: string, todo: GenerationTodo): Promise<WorkflowRecord> {
    return this.create(
      orgId,
      {
        title: todo.title,
        description: todo.description ?? '',
        metadata: { todo_id: todo.id },
      },
      todo,
    );
  }

  /**
   * Asks for new steps for a workflow (by id or slug); its current steps stay until they arrive.
   * @throws StepwiseError 404 when there is no such workflow, 409 when it is already generating.
   */
  async regenerate(orgId: string, ref: string, request: RegenerateRequest): Promise<WorkflowRecord> {
    const current = await this.workflows.get(orgId, ref);
    if (current.status === 'generating') throw generationInProgress(current.id);
    const generation = pendingGeneration(
      this.planner,
      {
        ...(request.reason !== undefined && { reason: request.reason }),
        ...(request.force_different_tools !== undefined && {
          force_different_tools: request.force_different_tools,
        }),
        previous_tools: toolSetOf(current.definition.steps),
      },
      this.clock.now(),
    );
    return this.withinCap(orgId, (maxGenerating) =>
      this.workflows.requestGeneration(current, generation, maxGenerating),
    );
  }

  /** Runs `request` with the org's cap for the store to check; a full cap is the caller's 429. */
  private async withinCap<T>(
    orgId: string,
    request: (maxGenerating: number | null) => Promise<T>,
  ): Promise<T> {
    const plan = await this.plans.planOf(orgId);
    try {
      return await request(plan.max_generating_workflows);
    } catch (error) {
      if (error instanceof GenerationCapReached) throw generationLimitError(plan, error.generating);
      throw error;
    }
  }
}
