import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Stepwise } from '../app/stepwise.js';
import { notFound } from '../domain/errors.js';
import { sendError } from './http-errors.js';
import { registerMetrics } from './metrics.js';
import { registerAdminRoutes } from './v1/admin-routes.js';
import { registerEventRoutes } from './v1/event-routes.js';
import { registerV1WorkflowRoutes } from './v1/workflow-routes.js';

/** Request bodies above this are refused before they are parsed. */
export const BODY_LIMIT_BYTES = 1_048_576;

const VERSION = '0.1.0';

/** The HTTP surface: every REST dialect, OpenAPI at /openapi.json, docs at /docs, health and metrics. */
export async function buildServer(stepwise: Stepwise): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: stepwise.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    disableRequestLogging: stepwise.config.logLevel !== 'debug' && stepwise.config.logLevel !== 'trace',
  });
  app.decorateRequest('principal', null);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendError(notFound('route', `${request.method} ${request.url.split('?')[0]}`), request, reply),
  );

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Stepwise',
        version: VERSION,
        description:
          'Durable AI workflow automation. Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  registerMetrics(app, stepwise);
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    try {
      await stepwise.store.getOrg(stepwise.defaultOrgId);
      return { status: 'ready', store: stepwise.store.backend };
    } catch {
      return reply.code(503).send({ status: 'unavailable', store: stepwise.store.backend });
    }
  });

  registerV1WorkflowRoutes(app, stepwise);
  registerEventRoutes(app, stepwise);
  registerAdminRoutes(app, stepwise);
  return app;
}
