import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { isFinalStatus } from '../../domain/run-state.js';
import { DEFAULT_WAIT_MS, MAX_WAIT_MS, UnknownActionError } from '../../services/action-service.js';
import { principalOf, requireScope } from '../auth.js';

const actionParams = z.object({ action: z.string().min(1).max(200) });

const waitQuery = z.object({
  wait: z.enum(['true', 'false', '1', '0']).optional(),
  timeout_ms: z.coerce.number().int().min(1).max(MAX_WAIT_MS).default(DEFAULT_WAIT_MS),
});

/** Document 000: `{ site_id, …the action's own fields }`; every field but site_id is the run's input. */
const actionBody = z.looseObject({ site_id: z.string().min(1).max(200).optional() }).nullish();

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
      const { action } = request.params;
      const header = request.headers['idempotency-key'];
      const started = await stepwise.actions
        .start({
          principal,
          action,
          payload: request.body ?? {},
          idempotencyKey: typeof header === 'string' ? header : undefined,
        })
        // Answered here, not by the error handler: document 000's 404 lists the actions beside the error.
        .catch((error: unknown) => {
          if (error instanceof UnknownActionError) return error;
          throw error;
        });
      if (started instanceof UnknownActionError) {
        return reply.code(404).send({
          success: false,
          error: {
            code: started.code,
            message: `action '${action}' is not a workflow of this org; use one of the listed actions`,
            field: 'action',
          },
          actions: started.actions,
        });
      }
      const { workflow, run, created } = started;
      const base = { run_id: run.id, workflow_id: workflow.id, action: workflow.slug };

      const wait = request.query.wait === 'true' || request.query.wait === '1';
      if (!wait) {
        return reply
          .code(created ? 201 : 200)
          .send({ success: true, result: { ...base, status: run.status } });
      }
      const final = await stepwise.actions.waitForEnd(run, request.query.timeout_ms);
      const finished = isFinalStatus(final.status);
      return reply.code(finished ? 200 : 202).send({
        success: finished ? final.status === 'completed' || final.status === 'partial_complete' : true,
        result: { ...base, status: final.status, output: final.output, error: final.error },
      });
    },
  );
}
