import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Stepwise } from '../app/stepwise.js';
import { rateLimitError, type CallKind } from '../services/rate-limit-service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts an authenticated call against its key's rate limit; called by `requireScope`. */
    limitCall?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The kind of budget a REST call spends: GET reads, POST/PUT/PATCH/DELETE mutate. */
export const callKind = (method: string): CallKind => (READ_METHODS.has(method) ? 'read' : 'mutating');

/**
 * Per-key rate limits on every authenticated route: each response carries
 * `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds), and a call
 * over the limit is a 429 with `Retry-After`.
 */
export function registerRateLimits(app: FastifyInstance, stepwise: Stepwise): void {
  const counted = new WeakSet<FastifyRequest>();
  app.decorate('limitCall', async (request: FastifyRequest, reply: FastifyReply) => {
    const principal = request.principal;
    if (!principal || counted.has(request)) return;
    counted.add(request);
    const plan = await stepwise.plans.planOf(principal.org_id);
    const state = await stepwise.rateLimits.hit(principal.key_id, callKind(request.method), plan);
    if (!state) return;
    reply.header('ratelimit-limit', String(state.limit));
    reply.header('ratelimit-remaining', String(state.remaining));
    reply.header('ratelimit-reset', String(state.resetSeconds));
    if (!state.allowed) throw rateLimitError(state, plan);
  });
}
