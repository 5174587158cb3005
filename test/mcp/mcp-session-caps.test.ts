import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';

// MCP sessions are counted per org against its plan's `max_mcp_sessions`: one org filling its
// cap is refused alone (429 with Retry-After), while every other org keeps opening sessions.

const CAP = 3;

let h: ApiHarness;
let baseUrl: string;

beforeAll(async () => {
  h = await startApiHarness({
    worker: false,
    env: { STEPWISE_PLANS: JSON.stringify({ small: { max_mcp_sessions: CAP } }) },
  });
  baseUrl = await h.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await h?.close();
});

interface Opened {
  status: number;
  sessionId: string | null;
  retryAfter: string | null;
  message: string | null;
}

/** An `initialize` from a client that accepts SSE: what opens a session. */
async function openSession(key: string): Promise<Opened> {
  const response = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${key}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'caps', version: '1' } },
    }),
  });
  const body = await response.text();
  const message =
    response.headers.get('content-type')?.startsWith('application/json') === true
      ? ((JSON.parse(body) as { error?: { message: string } }).error?.message ?? null)
      : null;
  return {
    status: response.status,
    sessionId: response.headers.get('mcp-session-id'),
    retryAfter: response.headers.get('retry-after'),
    message,
  };
}

function sessionRequest(key: string, sessionId: string, method: 'POST' | 'DELETE'): Promise<Response> {
  return fetch(`${baseUrl}/mcp`, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-03-26',
    },
    ...(method === 'POST' ? { body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) } : {}),
  });
}

async function fill(key: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < CAP; i += 1) {
    const opened = await openSession(key);
    expect(opened.status, opened.message ?? '').toBe(200);
    expect(opened.sessionId).toEqual(expect.any(String));
    ids.push(opened.sessionId!);
  }
  return ids;
}

describe('MCP sessions per org', () => {
  it("an org at its plan's cap gets 429 with Retry-After naming the cap; another org still opens sessions", async () => {
    const crowded = await h.key(['workflows:read'], 'crowded', 'small');
    const calm = await h.key(['workflows:read'], 'calm', 'small');
    const ids = await fill(crowded);

    const refused = await openSession(crowded);
    expect(refused.status).toBe(429);
    expect(refused.sessionId).toBeNull();
    expect(refused.message).toContain(`the most its plan allows (${CAP})`);
    expect(refused.message).toContain('MCP sessions');
    // The org's least recently used session, opened a moment ago, expires after 30 idle
    // minutes: the wait is that, not a guess.
    const retryAfter = Number(refused.retryAfter);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(29 * 60);
    expect(retryAfter).toBeLessThanOrEqual(30 * 60);

    const other = await openSession(calm);
    expect(other.status).toBe(200);
    expect(other.sessionId).toEqual(expect.any(String));

    // The full org's own sessions keep working.
    const listed = await sessionRequest(crowded, ids[0]!, 'POST');
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain('run_workflow');
  });

  it('closing a session (DELETE) makes room for the next at once', async () => {
    const key = await h.key(['workflows:read'], 'closing', 'small');
    const ids = await fill(key);
    expect((await openSession(key)).status).toBe(429);
    const closed = await sessionRequest(key, ids[1]!, 'DELETE');
    expect(closed.status).toBe(200);
    expect((await openSession(key)).status).toBe(200);
    expect((await openSession(key)).status).toBe(429);
  });

  it('initializes arriving together cannot pass the cap: exactly the cap of them open', async () => {
    const key = await h.key(['workflows:read'], 'rushing', 'small');
    const opened = await Promise.all(Array.from({ length: CAP * 2 }, () => openSession(key)));
    expect(opened.filter((o) => o.status === 200)).toHaveLength(CAP);
    expect(opened.filter((o) => o.status === 429)).toHaveLength(CAP);
  });

  it("a revoked key's sessions make way for the org's other keys", async () => {
    const leaked = await h.stepwise.keys.create({
      orgName: 'revoking',
      scopes: ['workflows:read'],
      plan: 'small',
    });
    await fill(leaked.key);
    const replacement = await h.key(['workflows:read'], 'revoking');
    expect((await openSession(replacement)).status).toBe(429);
    await h.stepwise.keys.revoke(leaked.id);
    const opened = await openSession(replacement);
    expect(opened.status, opened.message ?? '').toBe(200);
  });
});
