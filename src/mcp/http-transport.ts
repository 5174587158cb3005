import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Stepwise } from '../app/stepwise.js';
import type { Principal } from '../domain/scopes.js';
import { presentedKey } from '../api/auth.js';
import { unauthenticated } from '../domain/errors.js';
import { createMcpServer } from './mcp-server.js';
import { McpSessionRegistry, type SessionRefusal, type SessionReservation } from './session-registry.js';

/** Where MCP is served: the standard path, and document 003's own. */
export const MCP_PATHS = ['/mcp', '/api/mcp-app'] as const;

/** What the Streamable HTTP transport insists on; a JSON-only caller is served JSON all the same. */
const ACCEPT_BOTH = 'application/json, text/event-stream';
const SESSION_IDLE_MS = 30 * 60_000;
/**
 * Every org's sessions together, a bound on this process's memory; each org's own cap is
 * its plan's `max_mcp_sessions`, so one org filling its cap leaves the others room.
 */
const MAX_SESSIONS_IN_PROCESS = 10_000;

/**
 * Serves MCP over Streamable HTTP at `/mcp` and `/api/mcp-app`, authenticated by API key.
 *
 * Two modes side by side, chosen per request:
 * - **Sessions** (spec-following clients): an `initialize` from a client that accepts SSE
 *   opens a session; later requests carry `mcp-session-id`, GET opens the SSE stream and
 *   DELETE ends it. A session belongs to the key that opened it and counts against its
 *   org's plan (`max_mcp_sessions`): a full org is answered 429 with Retry-After, alone.
 *   A session unused for 30 minutes is closed.
 * - **Stateless** (document 003's bare curl): any other POST without a session id (no
 *   `initialize` first, no `Accept` header) gets a fresh server and transport with
 *   `sessionIdGenerator: undefined` and `enableJsonResponse: true`: one JSON-RPC answer as
 *   `application/json`.
 *
 * Sessions live in this process's memory: behind a load balancer, route a session's
 * requests to one process (the `mcp-session-id` header), or use stateless requests.
 */
export function registerMcpRoutes(app: FastifyInstance, stepwise: Stepwise): void {
  const sessions = new McpSessionRegistry({
    idleMs: SESSION_IDLE_MS,
    processCap: MAX_SESSIONS_IN_PROCESS,
    now: Date.now,
  });
  const sweep = setInterval(() => {
    for (const id of sessions.idleIds()) void closeSession(id);
  }, 60_000);
  sweep.unref();

  const closeSession = async (id: string) => {
    const session = sessions.remove(id);
    if (!session) return;
    await session.transport.close().catch(() => undefined);
    await session.server.close().catch(() => undefined);
  };

  app.addHook('preClose', async () => {
    clearInterval(sweep);
    await Promise.all(sessions.ids().map(closeSession));
  });

  /** A slot for a new session of the caller's org, or why not; sessions of revoked keys make way first. */
  const reserveSession = async (principal: Principal) => {
    const cap = (await stepwise.plans.planOf(principal.org_id)).max_mcp_sessions;
    const outcome = sessions.reserve(principal.org_id, cap);
    if (!isRefusal(outcome) || outcome.status !== 429) return outcome;
    const revoked = await stepwise.keys.revokedKeyIds(principal.org_id);
    const stale = sessions.idsOfKeys(principal.org_id, revoked);
    if (stale.length === 0) return outcome;
    await Promise.all(stale.map(closeSession));
    return sessions.reserve(principal.org_id, cap);
  };

  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    // Failures answer 401 in REST's JSON error shape, with the Bearer challenge MCP clients look for.
    reply.header('WWW-Authenticate', 'Bearer');
    const principal = await authenticate(stepwise, request);
    reply.removeHeader('WWW-Authenticate');
    const sessionId = request.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = sessions.use(sessionId, principal.key_id);
      if (!session)
        return sendJsonRpcError(reply, 404, -32001, 'Session not found: initialize a new session');
      reply.hijack();
      return session.transport.handleRequest(request.raw, reply.raw, request.body);
    }
    if (request.method !== 'POST') {
      return sendJsonRpcError(reply, 405, -32000, 'Method not allowed without an mcp-session-id header', {
        Allow: 'POST',
      });
    }
    if (request.body === null || request.body === undefined) {
      return sendJsonRpcError(reply, 400, -32700, 'Parse error: the body must be a JSON-RPC message');
    }
    if (isInitializeRequest(request.body) && acceptsEventStream(request.raw)) {
      const reservation = await reserveSession(principal);
      if (isRefusal(reservation)) {
        return sendJsonRpcError(reply, reservation.status, -32000, reservation.message, {
          'Retry-After': String(reservation.retryAfterSeconds),
        });
      }
      try {
        const server = createMcpServer(stepwise, principal);
        const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            reservation.open(id, {
              transport,
              server,
              orgId: principal.org_id,
              keyId: principal.key_id,
              lastSeen: Date.now(),
            });
          },
          onsessionclosed: (id) => void closeSession(id),
        });
        transport.onclose = () => {
          if (transport.sessionId) sessions.remove(transport.sessionId);
        };
        await server.connect(transport);
        reply.hijack();
        return await transport.handleRequest(request.raw, reply.raw, request.body);
      } finally {
        reservation.release();
      }
    }
    return handleStateless(stepwise, principal, request, reply);
  };

  for (const path of MCP_PATHS) {
    app.route({ method: ['GET', 'POST', 'DELETE'], url: path, schema: { hide: true }, handler: handle });
  }
}

/** One request, one server: the answer is a single `application/json` JSON-RPC response. */
async function handleStateless(
  stepwise: Stepwise,
  principal: Principal,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  forceAccept(request.raw);
  const server = createMcpServer(stepwise, principal);
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  reply.raw.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  reply.hijack();
  await transport.handleRequest(request.raw, reply.raw, request.body);
}

async function authenticate(stepwise: Stepwise, request: FastifyRequest): Promise<Principal> {
  const key = presentedKey(request);
  if (!key) throw unauthenticated('send an API key as Authorization: Bearer <key> or X-API-Key: <key>');
  return stepwise.keys.authenticate(key, request.ip);
}

const isRefusal = (outcome: SessionReservation | SessionRefusal): outcome is SessionRefusal =>
  'status' in outcome;

function acceptsEventStream(raw: IncomingMessage): boolean {
  return (raw.headers.accept ?? '').includes('text/event-stream');
}

/**
 * The transport answers 406 unless Accept lists both JSON and SSE. A stateless answer is
 * always JSON, so a caller that sent no Accept (or `*\/*`, as curl and fetch do) gets it.
 * Both views of the headers are set: the parsed object and the raw list the SDK may read.
 */
function forceAccept(raw: IncomingMessage): void {
  const accept = raw.headers.accept ?? '';
  if (accept.includes('application/json') && accept.includes('text/event-stream')) return;
  raw.headers.accept = ACCEPT_BOTH;
  const rawHeaders = raw.rawHeaders;
  for (let i = rawHeaders.length - 2; i >= 0; i -= 2) {
    if (rawHeaders[i]!.toLowerCase() === 'accept') rawHeaders.splice(i, 2);
  }
  rawHeaders.push('Accept', ACCEPT_BOTH);
}

function sendJsonRpcError(
  reply: FastifyReply,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .type('application/json')
    .send({ jsonrpc: '2.0', id: null, error: { code, message } });
}
