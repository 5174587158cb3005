import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { notFound } from '../../domain/errors.js';
import { principalOf, requireScope } from '../auth.js';
import { v1CreditStatement } from './representation.js';

const orgParams = z.object({ id: z.string().min(1).max(200) });
const ledgerPage = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

/** An org by id, or by name for people typing it. */
async function findOrg(stepwise: Stepwise, idOrName: string) {
  const org = (await stepwise.store.getOrg(idOrName)) ?? (await stepwise.store.getOrgByName(idOrName));
  if (!org) throw notFound('org', idOrName);
  return org;
}

/**
 * `GET /v1/credits`: the caller's own org's plan, balance and ledger (workflows:read);
 * `GET/POST /v1/admin/orgs/{id}/credits`: any org's balance and ledger, and grants, and
 * `PUT /v1/admin/orgs/{id}/plan` (operator scope: an org admin reads its own org's plan and
 * balance through `/v1/credits` and can neither grant itself credits nor change its plan).
 */
export function registerCreditRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const operator = requireScope(stepwise.keys, 'operator');
  const tags = ['admin'];

  app.get(
    '/v1/credits',
    {
      preValidation: requireScope(stepwise.keys, 'workflows:read'),
      schema: {
        tags: ['credits'],
        summary:
          "The key's org: its plan (concurrency cap, monthly credits, workflow access, rate limits), credit balance, next top-up and recent ledger",
        querystring: ledgerPage,
      },
    },
    async (request) =>
      v1CreditStatement(await stepwise.credits.account(principalOf(request).org_id, request.query)),
  );

  app.get(
    '/v1/admin/orgs/:id/credits',
    {
      preValidation: operator,
      schema: {
        tags,
        summary: "An org's credit balance and its recent ledger (the balance is the sum of the ledger)",
        params: orgParams,
        querystring: ledgerPage,
      },
    },
    async (request) => {
      const org = await findOrg(stepwise, request.params.id);
      const statement = await stepwise.credits.statement(org.id, request.query);
      return { ...v1CreditStatement(statement), org: org.name, plan: org.plan };
    },
  );

  app.post(
    '/v1/admin/orgs/:id/credits',
    {
      preValidation: operator,
      schema: {
        tags,
        summary: 'Grant credits to an org',
        params: orgParams,
        body: z
          .object({
            amount: z.number().int().min(1).max(1_000_000_000),
            reason: z.string().max(500).optional(),
          })
          .strict(),
      },
    },
    async (request, reply) => {
      const org = await findOrg(stepwise, request.params.id);
      const balance = await stepwise.credits.grant(org.id, request.body.amount, request.body.reason ?? null);
      return reply.code(201).send({ org_id: org.id, granted: request.body.amount, balance });
    },
  );

  app.put(
    '/v1/admin/orgs/:id/plan',
    {
      preValidation: operator,
      schema: {
        tags,
        summary: 'Move an org to another plan (one of the configured plans); its limits change at once',
        params: orgParams,
        body: z.object({ plan: z.string().min(1).max(50) }).strict(),
      },
    },
    async (request) => {
      const org = await findOrg(stepwise, request.params.id);
      const plan = await stepwise.plans.changePlan(org.id, request.body.plan);
      return { org_id: org.id, org: org.name, plan };
    },
  );
}
