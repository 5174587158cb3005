import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Stepwise } from '../app/stepwise.js';

/** The HTTP surface. Liveness and readiness now; the REST dialects mount here. */
export async function buildServer(stepwise: Stepwise): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: stepwise.logger as FastifyBaseLogger, bodyLimit: 1_048_576 });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await stepwise.store.getOrg(stepwise.defaultOrgId);
      return { status: 'ready', store: stepwise.store.backend };
    } catch {
      return reply.code(503).send({ status: 'unavailable', store: stepwise.store.backend });
    }
  });
  return app;
}
