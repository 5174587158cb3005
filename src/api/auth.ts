import type { FastifyReply, FastifyRequest } from 'fastify';
import { missingScope, unauthenticated } from '../domain/errors.js';
import { hasScope, type Principal, type Scope } from '../domain/scopes.js';
import type { KeyService } from '../services/key-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The key from `Authorization: Bearer …` or `X-API-Key: …`. */
export function presentedKey(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match) return match[1]!;
  }
  const apiKey = request.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.trim() !== '') return apiKey.trim();
  return null;
}

/** A route hook: authenticates the caller and checks a scope. */
export type AuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * A `preValidation` hook that authenticates the caller and requires `scope`, before the
 * body is validated: a caller without a key learns nothing about bodies. Missing or bad
 * key → 401; a valid key without the scope → 403 naming it; over the key's rate limit, or
 * from an address that sent too many bad keys → 429.
 */
export function requireScope(keys: KeyService, scope: Scope): AuthHook {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const key = presentedKey(request);
    if (!key) throw unauthenticated('send an API key as Authorization: Bearer <key> or X-API-Key: <key>');
    const principal = await keys.authenticate(key, request.ip);
    if (!hasScope(principal.scopes, scope)) throw missingScope(scope);
    request.principal = principal;
    // The key's rate limit (see api/rate-limit-hook.ts): 429 over it, RateLimit-* headers always.
    await request.server.limitCall?.(request, reply);
  };
}

/** The authenticated caller; only valid behind `requireScope`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthenticated();
  return request.principal;
}
