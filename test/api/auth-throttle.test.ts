import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import { clientGroup } from '../../src/services/failed-auth-throttle.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { createTestDatabase, testDatabaseUrl } from '../support/postgres.js';
import { startHarness } from '../support/stepwise-harness.js';

/** A clock tests move by hand; starts 10 s into a minute. */
const manualClock = () => {
  let now = Date.UTC(2025, 5, 2, 9, 0, 10);
  return { now: () => now, advance: (ms: number) => void (now += ms) };
};

const ATTACKER = '203.0.113.7';
const NEIGHBOUR = '198.51.100.9';
const BAD_KEY = `sk_live_${'A'.repeat(43)}`;

const get = (app: FastifyInstance, key: string, remoteAddress: string, url = '/v1/workflows') =>
  app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` }, remoteAddress });

describe('failed-authentication throttle', () => {
  const clock = manualClock();
  let h: ApiHarness;
  afterAll(() => h?.close());

  it('answers 429 with Retry-After after N bad keys from one address, refusing even a good key from it, until the minute ends', async () => {
    h = await startApiHarness({ worker: false, clock, env: { STEPWISE_AUTH_FAILURES_PER_MINUTE: '5' } });
    const key = await h.key(['workflows:read']);

    for (let i = 1; i <= 5; i++) {
      const response = await get(h.app, BAD_KEY, ATTACKER);
      expect(response.statusCode, `bad key ${i}`).toBe(401);
    }
    const refused = await get(h.app, BAD_KEY, ATTACKER);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('50');
    expect(json(refused)).toEqual({
      error: {
        code: 'AUTH_THROTTLED',
        message:
          'more than 5 requests with an invalid API key came from this address this minute; retry after 50 s',
      },
    });
    // A guess that happens to be right learns nothing either; nor does MCP answer it.
    expect((await get(h.app, key, ATTACKER)).statusCode).toBe(429);
    const mcp = await h.app.inject({
      method: 'POST',
      url: '/mcp',
      remoteAddress: ATTACKER,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    });
    expect(mcp.statusCode).toBe(429);
    expect(mcp.headers['retry-after']).toBe('50');

    // Another address: its good key works, and its own bad keys are 401s.
    expect((await get(h.app, key, NEIGHBOUR)).statusCode).toBe(200);
    expect((await get(h.app, BAD_KEY, NEIGHBOUR)).statusCode).toBe(401);
    // A request without a key is no guess: still the 401 that says to send one.
    const anonymous = await h.app.inject({ method: 'GET', url: '/v1/workflows', remoteAddress: ATTACKER });
    expect(anonymous.statusCode).toBe(401);

    clock.advance(50_000);
    expect((await get(h.app, key, ATTACKER)).statusCode).toBe(200);
    expect((await get(h.app, BAD_KEY, ATTACKER)).statusCode).toBe(401);
  });

  it('counts the addresses of one IPv6 /64 together, and an IPv4-mapped address as its IPv4 address', () => {
    expect(clientGroup('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientGroup('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(clientGroup('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientGroup('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientGroup('203.0.113.7')).toBe('203.0.113.7');
  });
});

it.skipIf(!testDatabaseUrl)(
  'two Stepwise instances on one PostgreSQL add up the failures of an address',
  async () => {
    const database = await createTestDatabase();
    const clock = manualClock();
    const env = { STEPWISE_AUTH_FAILURES_PER_MINUTE: '4' };
    const one = await startHarness({ databaseUrl: database.url, worker: false, clock, env });
    const two = await startHarness({ databaseUrl: database.url, worker: false, clock, env });
    const [appOne, appTwo] = await Promise.all([buildServer(one.stepwise), buildServer(two.stepwise)]);
    try {
      const statuses: number[] = [];
      for (const app of [appOne, appTwo, appOne, appTwo, appOne]) {
        statuses.push((await get(app, BAD_KEY, ATTACKER)).statusCode);
      }
      // The fifth is refused by a process that had counted only three of them itself.
      expect(statuses).toEqual([401, 401, 401, 401, 429]);
      expect((await get(appOne, BAD_KEY, NEIGHBOUR)).statusCode).toBe(401);
    } finally {
      await appOne.close();
      await appTwo.close();
      await one.close();
      await two.close();
      await database.drop();
    }
  },
  60_000,
);
