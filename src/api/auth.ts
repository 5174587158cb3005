import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
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

/**
 * A preHandler that authenticates the caller and requires `scope`. Missing or bad key →
 * 401; a valid key without the scope → 403 naming it.
 */
export function requireScope(keys: KeyService, scope: Scope): preHandlerAsyncHookHandler {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const key = presentedKey(request);
    if (!key) throw unauthenticated('send an API key as Authorization: Bearer <key> or X-API-Key: <key>');
    const principal = await keys.authenticate(key);
    if (!hasScope(principal.scopes, scope)) throw missingScope(scope);
    request.principal = principal;
  };
}

/** The authenticated caller; only valid behind `requireScope`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthenticated();
  return request.principal;
}
