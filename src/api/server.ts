import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Stepwise } from '../app/stepwise.js';
import { notFound, StepwiseError } from '../domain/errors.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../domain/json-depth.js';
import { registerActionRoutes } from './action/action-routes.js';
import { registerDashboard } from './dashboard.js';
import { registerApiV1GenerationRoutes } from './api-v1/generation-routes.js';
import { registerApiV1MarketplaceRoutes } from './api-v1/marketplace-routes.js';
import { registerApiV1WorkflowRoutes } from './api-v1/workflow-routes.js';
import { sendError } from './http-errors.js';
import { registerInstanceRoutes } from './instances/instance-routes.js';
import { registerMetrics } from './metrics.js';
import { registerRateLimits } from './rate-limit-hook.js';
import { registerMcpRoutes } from '../mcp/http-transport.js';
import { registerAdminRoutes } from './v1/admin-routes.js';
import { registerCreditRoutes } from './v1/credit-routes.js';
import { registerEventRoutes } from './v1/event-routes.js';
import { registerV1RunRoutes } from './v1/run-routes.js';
import { registerV1ScheduleRoutes } from './v1/schedule-routes.js';
import { registerV1SummaryRoutes } from './v1/summary-routes.js';
import { registerV1WorkflowRoutes } from './v1/workflow-routes.js';

/** Request bodies above this are refused before they are parsed. */
export const BODY_LIMIT_BYTES = 1_048_576;

/** The 400 for a body nested past {@link MAX_JSON_DEPTH}: refused before parsing, on every route. */
const tooDeep = () =>
  new StepwiseError(
    'BODY_TOO_DEEP',
    400,
    `body: objects and arrays are nested more than ${MAX_JSON_DEPTH} levels deep; send at most ${MAX_JSON_DEPTH} levels`,
    { field: 'body' },
  );

const VERSION = '0.1.0';

/** The HTTP surface: every REST dialect, OpenAPI at /openapi.json, docs at /docs, health and metrics, the dashboard at /. */
export async function buildServer(stepwise: Stepwise): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: stepwise.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Ids may be 200 characters; longer path segments get our 400, not the router's 414.
    routerOptions: { maxParamLength: 256 },
    // Malformed paths are answered before routing; give them our error body too.
    frameworkErrors: (error, request, reply) => sendError(error, request, reply),
    // Per-request lines only when debugging: at thousands of requests a second they drown the rest.
    logController: new LogController({
      disableRequestLogging: stepwise.config.logLevel !== 'debug' && stepwise.config.logLevel !== 'trace',
    }),
  });
  app.decorateRequest('principal', null);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  // Many clients send Content-Type: application/json on bodyless POSTs (run, activate):
  // an empty body means "no body", not malformed JSON. Every route reads its body through
  // here, MCP's included, so the depth bound holds for all of them.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, null);
    if (exceedsJsonDepth(text)) return done(tooDeep(), undefined);
    return parseJson(request, text, done);
  });
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

  registerRateLimits(app, stepwise);
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
  registerV1RunRoutes(app, stepwise);
  registerV1SummaryRoutes(app, stepwise);
  registerV1ScheduleRoutes(app, stepwise);
  registerApiV1WorkflowRoutes(app, stepwise);
  registerApiV1GenerationRoutes(app, stepwise);
  registerApiV1MarketplaceRoutes(app, stepwise);
  registerEventRoutes(app, stepwise);
  registerAdminRoutes(app, stepwise);
  registerCreditRoutes(app, stepwise);
  registerActionRoutes(app, stepwise);
  registerInstanceRoutes(app, stepwise);
  registerMcpRoutes(app, stepwise);
  registerDashboard(app);
  return app;
}
