import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { StepwiseError } from '../../domain/errors.js';
import type { RunRecord, WorkflowRecord } from '../../domain/model.js';
import { isFinalStatus } from '../../domain/run-state.js';
import { principalOf, requireScope } from '../auth.js';

/** `?wait=true` waits this long by default, and never longer than the maximum. */
export const DEFAULT_WAIT_MS = 10_000;
export const MAX_WAIT_MS = 30_000;
/** At most this many action names are listed in an unknown-action answer. */
const MAX_LISTED_ACTIONS = 1000;
const LIST_PAGE = 500;

const actionParams = z.object({ action: z.string().min(1).max(200) });

const waitQuery = z.object({
  wait: z.enum(['true', 'false', '1', '0']).optional(),
  timeout_ms: z.coerce.number().int().min(1).max(MAX_WAIT_MS).default(DEFAULT_WAIT_MS),
});

/** Document 000: `{ site_id, …the action's own fields }`; every field but site_id is the run's input. */
const actionBody = z.looseObject({ site_id: z.string().min(1).max(200).optional() }).nullish();

/** The names an unknown action is told about: the slugs of the org's workflows, sorted. */
async function actionNames(stepwise: Stepwise, orgId: string): Promise<string[]> {
  const names: string[] = [];
  for (let offset = 0; offset < MAX_LISTED_ACTIONS; offset += LIST_PAGE) {
    const page = await stepwise.workflows.list(orgId, { limit: LIST_PAGE, offset });
    names.push(...page.map((workflow) => workflow.slug));
    if (page.length < LIST_PAGE) break;
  }
  return [...new Set(names)].sort();
}

async function findAction(stepwise: Stepwise, orgId: string, action: string): Promise<WorkflowRecord | null> {
  try {
    return await stepwise.workflows.get(orgId, action);
  } catch (error) {
    if (error instanceof StepwiseError && error.code === 'NOT_FOUND') return null;
    throw error;
  }
}

/** Polls the run until it finishes or `timeoutMs` passes, backing off from 20 ms to 250 ms. */
async function waitForFinish(stepwise: Stepwise, run: RunRecord, timeoutMs: number): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  let current = run;
  let pause = 20;
  while (!isFinalStatus(current.status)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    pause = Math.min(pause * 2, 250);
    current = await stepwise.runs.get(run.org_id, run.id);
  }
  return current;
}

/**
 * Document 000, the action dialect: `POST /api/workflow/{action}` runs the org's workflow
 * whose slug is `action` (a workflow id is accepted too), with the request body as input.
 *
 * - `site_id` absent → the key's site (and it is added to the input); present but not a
 *   site of the caller's org → 400 naming `site_id`.
 * - 201 `{ success: true, result: { run_id, status, workflow_id, action } }` when the run was
 *   created; 200 when an `Idempotency-Key` header returned the run it started before.
 * - An unknown action → 404 `{ success: false, error: { code: 'UNKNOWN_ACTION', … }, actions }`.
 * - `?wait=true[&timeout_ms=…]` (default 10 s, at most 30 s) answers 200 once the run has
 *   finished, `success` false when it failed or was cancelled, with `output` and `error`; or
 *   202 with the run's current status when it has not finished by then.
 */
export function registerActionRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const write = requireScope(stepwise.keys, 'workflows:write');

  app.post(
    '/api/workflow/:action',
    {
      preHandler: write,
      schema: {
        tags: ['actions (document 000)'],
        summary: "Run the org's workflow whose slug is the action",
        params: actionParams,
        querystring: waitQuery,
        body: actionBody,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const orgId = principal.org_id;
      const { action } = request.params;
      const body = request.body ?? {};
      const siteId = await stepwise.instances.resolveSiteId(orgId, body.site_id, principal.site_id);

      const workflow = await findAction(stepwise, orgId, action);
      if (!workflow) {
        return reply.code(404).send({
          success: false,
          error: {
            code: 'UNKNOWN_ACTION',
            message: `action '${action}' is not a workflow of this org; use one of the listed actions`,
            field: 'action',
          },
          actions: await actionNames(stepwise, orgId),
        });
      }

      const header = request.headers['idempotency-key'];
      const { run, created } = await stepwise.runs.start(orgId, workflow.id, {
        input: { ...body, site_id: siteId },
        idempotency_key: typeof header === 'string' ? header : undefined,
        site_id: siteId,
        trigger: { type: 'api', key_id: principal.key_id },
      });
      const base = { run_id: run.id, workflow_id: workflow.id, action: workflow.slug };

      const wait = request.query.wait === 'true' || request.query.wait === '1';
      if (!wait) {
        return reply
          .code(created ? 201 : 200)
          .send({ success: true, result: { ...base, status: run.status } });
      }
      const final = await waitForFinish(stepwise, run, request.query.timeout_ms);
      const finished = isFinalStatus(final.status);
      return reply.code(finished ? 200 : 202).send({
        success: finished ? final.status === 'completed' || final.status === 'partial_complete' : true,
        result: { ...base, status: final.status, output: final.output, error: final.error },
      });
    },
  );
}
