import { StepwiseError } from '../domain/errors.js';
import type { RunRecord, WorkflowRecord } from '../domain/model.js';
import { isFinalStatus } from '../domain/run-state.js';
import type { Principal } from '../domain/scopes.js';
import type { InstanceService } from './instance-service.js';
import type { RunService } from './run-service.js';
import type { WorkflowService } from './workflow-service.js';

/** A wait for an action's run lasts this long by default, and never longer than the maximum. */
export const DEFAULT_WAIT_MS = 10_000;
export const MAX_WAIT_MS = 30_000;
/** At most this many action names are listed for an unknown action. */
const MAX_LISTED_ACTIONS = 1000;
const LIST_PAGE = 500;
/** Polling a waited-for run backs off between these pauses. */
const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 250;

/**
 * 404 `UNKNOWN_ACTION`: `action` names none of the org's workflows. The message lists the
 * org's actions for adapters that can only pass a message on; `actions` holds them for
 * adapters that answer with a list.
 */
export class UnknownActionError extends StepwiseError {
  constructor(
    readonly action: string,
    readonly actions: string[],
  ) {
    super(
      'UNKNOWN_ACTION',
      404,
      `action '${action}' is not a workflow of this organisation; actions: ${actions.join(', ') || '(none yet)'}`,
      { field: 'action' },
    );
    this.name = 'UnknownActionError';
  }
}

export interface ActionRequest {
  /** The caller's key: its org's workflows are the actions, its site is the default site. */
  principal: Principal;
  /** A workflow slug (or id) of the caller's org. */
  action: string;
  /** The action's own fields, the run's input; `site_id` picks one of the org's sites. */
  payload: Record<string, unknown>;
  /** The same key in the same org returns the run it first started. */
  idempotencyKey?: string;
  /** The adapter that asked, when the run's trigger should say so (`mcp`). */
  via?: string;
}

export interface StartedAction {
  workflow: WorkflowRecord;
  run: RunRecord;
  /** False when `idempotencyKey` returned the run it started before. */
  created: boolean;
  /** The site the run belongs to, also in its input as `site_id`. */
  site_id: string;
}

/**
 * Document 000's action dialect, behind both its adapters (`POST /api/workflow/{action}` and
 * the MCP `workflows` tool): an action is the slug of one of the org's workflows.
 */
export class ActionService {
  constructor(
    private readonly workflows: WorkflowService,
    private readonly runs: RunService,
    private readonly instances: InstanceService,
  ) {}

  /**
   * The org's workflow whose slug (or id) is `action`.
   * @throws UnknownActionError (404) listing the org's actions.
   */
  async resolve(orgId: string, action: string): Promise<WorkflowRecord> {
    try {
      return await this.workflows.get(orgId, action);
    } catch (error) {
      if (error instanceof StepwiseError && error.code === 'NOT_FOUND') {
        throw new UnknownActionError(action, await this.actionNames(orgId));
      }
      throw error;
    }
  }

  /**
   * Starts the action's run with the payload as input. `payload.site_id` defaults to the
   * key's site and is put into the input either way, so the workflow can read it. The site
   * is checked before the action, so a bad `site_id` is a 400 whatever the action.
   * @throws 400 naming `site_id` when it is not a site of the org; UnknownActionError (404).
   */
  async start(request: ActionRequest): Promise<StartedAction> {
    const { principal, payload } = request;
    const orgId = principal.org_id;
    // resolveSiteId refuses anything but one of the org's site ids, a non-string included.
    const requested = payload.site_id as string | undefined;
    const siteId = await this.instances.resolveSiteId(orgId, requested, principal.site_id);
    const workflow = await this.resolve(orgId, request.action);
    const { run, created } = await this.runs.start(orgId, workflow.id, {
      input: { ...payload, site_id: siteId },
      idempotency_key: request.idempotencyKey,
      site_id: siteId,
      trigger: {
        type: 'api',
        ...(request.via === undefined ? {} : { via: request.via }),
        action: workflow.slug,
        key_id: principal.key_id,
      },
    });
    return { workflow, run, created, site_id: siteId };
  }

  /**
   * The run once it reached an end state, or as it is after `timeoutMs` (at most
   * {@link MAX_WAIT_MS}), polling with a backoff from 20 ms to 250 ms. Timed on the wall
   * clock: the bound is on how long the caller waits, whatever the service's clock says.
   */
  async waitForEnd(run: RunRecord, timeoutMs = DEFAULT_WAIT_MS): Promise<RunRecord> {
    const deadline = Date.now() + Math.min(Math.max(timeoutMs, 0), MAX_WAIT_MS);
    let current = run;
    let pause = FIRST_POLL_MS;
    while (!isFinalStatus(current.status)) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
      pause = Math.min(pause * 2, MAX_POLL_MS);
      current = await this.runs.get(run.org_id, run.id);
    }
    return current;
  }

  /** The names an unknown action is told about: the slugs of the org's workflows, sorted. */
  private async actionNames(orgId: string): Promise<string[]> {
    const names: string[] = [];
    for (let offset = 0; offset < MAX_LISTED_ACTIONS; offset += LIST_PAGE) {
      const page = await this.workflows.list(orgId, { limit: LIST_PAGE, offset });
      names.push(...page.map((workflow) => workflow.slug));
      if (page.length < LIST_PAGE) break;
    }
    return [...new Set(names)].sort();
  }
}
