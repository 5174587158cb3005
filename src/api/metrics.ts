import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Stepwise } from '../app/stepwise.js';
import { requireScope } from './auth.js';

/**
 * Prometheus metrics at /metrics: process defaults plus request counts and latencies by route.
 * They tell a stranger which routes are used and how busy the service is, so a scrape needs a
 * key with `metrics:read` (or `admin`), unless STEPWISE_METRICS_PUBLIC=1 opens them to a
 * network the operator already trusts.
 */
export function registerMetrics(app: FastifyInstance, stepwise: Stepwise): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'stepwise_' });
  const requests = new Counter({
    name: 'stepwise_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'stepwise_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'stepwise_worker_active_runs',
    help: 'Runs this process is executing',
    registers: [registry],
    collect() {
      this.set(stepwise.worker?.activeRunIds.length ?? 0);
    },
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  const access = stepwise.config.metricsPublic
    ? { schema: { security: [] } }
    : { preValidation: requireScope(stepwise.keys, 'metrics:read'), schema: {} };
  app.get(
    '/metrics',
    {
      ...access,
      schema: { tags: ['operations'], summary: 'Prometheus metrics (text format)', ...access.schema },
    },
    async (_request, reply) =>
      reply.header('content-type', registry.contentType).send(await registry.metrics()),
  );
}
